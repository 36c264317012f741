//! Percentiles and rates of one measurement.

use std::time::Duration;

/// All samples of one measurement of one implementation, across rounds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// Latency of each operation.
    pub latencies: Vec<Duration>,
    /// Operations per second, one value per round.
    pub rates: Vec<f64>,
}

impl Samples {
    /// Adds one round: its latencies and how many operations took how long in total.
    pub fn add_round(&mut self, latencies: Vec<Duration>, operations: usize, wall: Duration) {
        self.latencies.extend(latencies);
        self.rates.push(operations as f64 / wall.as_secs_f64());
    }

    /// The `q`-quantile (0..=1) of the latencies.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let index = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[index]
    }

    /// The median of the per-round rates.
    pub fn rate(&self) -> f64 {
        let mut rates = self.rates.clone();
        rates.sort_by(f64::total_cmp);
        rates.get(rates.len() / 2).copied().unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_median_rate() {
        let mut samples = Samples::default();
        samples.add_round((1..=100).map(Duration::from_micros).collect(), 100, Duration::from_secs(1));
        samples.add_round(vec![], 300, Duration::from_secs(1));
        samples.add_round(vec![], 200, Duration::from_secs(1));
        assert_eq!(samples.quantile(0.5), Duration::from_micros(51));
        assert_eq!(samples.quantile(0.99), Duration::from_micros(99));
        assert_eq!(samples.rate(), 200.0);
    }
}
