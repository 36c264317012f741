//! Applications: a DAG of processors, each with a parallelism, and the streaming word count.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The most tasks of one processor.
pub const MAX_PARALLELISM: u32 = 64;
/// The largest text the source reads.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// An application's number at its master.
pub type AppId = u64;
/// A task's number within its application.
pub type TaskId = u32;
/// An executor's number within its application.
pub type ExecutorId = u32;
/// Words counted.
pub type WordCount = BTreeMap<String, u64>;

/// What a processor does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// Reads the text, a line at a time, numbered (the application clock).
    Source,
    /// Splits lines into words and sends each word to the counter its hash picks.
    Split,
    /// Counts words (the sink: its counts are the application's result).
    Count,
}

/// A processor of the DAG: source ~> split ~> count, each with its parallelism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processor {
    /// What it does.
    pub kind: Kind,
    /// How many tasks run it.
    pub parallelism: u32,
}

/// A streaming word count of a text file, as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Its name.
    pub name: String,
    /// The text the source reads (every machine that may run the source must read it).
    pub text: PathBuf,
    /// Its processors, in DAG order.
    pub processors: Vec<Processor>,
    /// Lines the source sends per batch.
    pub batch: usize,
    /// How long the source waits between batches (to watch a demo).
    pub pace_ms: u64,
}

impl Application {
    /// The word count: one source, `split` splitters, `count` counters.
    pub fn word_count(text: PathBuf, split: u32, count: u32, pace_ms: u64) -> Self {
        Application {
            name: "wordCount".to_owned(),
            text,
            processors: vec![
                Processor { kind: Kind::Source, parallelism: 1 },
                Processor { kind: Kind::Split, parallelism: split },
                Processor { kind: Kind::Count, parallelism: count },
            ],
            batch: 20,
            pace_ms,
        }
    }

    /// Why the application cannot run, if it cannot: the word count needs one source, at least
    /// one splitter and one counter, and bounded sizes.
    pub fn check(&self) -> Result<(), String> {
        let count = |kind: Kind| self.processors.iter().filter(|p| p.kind == kind).map(|p| p.parallelism).sum::<u32>();
        if count(Kind::Source) != 1 || count(Kind::Split) == 0 || count(Kind::Count) == 0 {
            return Err("a word count has one source, and at least one splitter and one counter".to_owned());
        }
        if self.processors.iter().any(|p| p.parallelism > MAX_PARALLELISM) {
            return Err(format!("a processor's parallelism is at most {MAX_PARALLELISM}"));
        }
        if self.batch == 0 || self.batch > 10_000 {
            return Err("a batch has 1 to 10 000 lines".to_owned());
        }
        Ok(())
    }

    /// Every task of the DAG, numbered from 0 in processor order.
    pub fn tasks(&self) -> Vec<TaskSpec> {
        let mut tasks = Vec::new();
        for processor in &self.processors {
            for index in 0..processor.parallelism.max(1) {
                tasks.push(TaskSpec { id: tasks.len() as TaskId, kind: processor.kind, index });
            }
        }
        tasks
    }

    /// The tasks of kind `kind`, by index.
    pub fn tasks_of(&self, kind: Kind) -> Vec<TaskId> {
        self.tasks().into_iter().filter(|task| task.kind == kind).map(|task| task.id).collect()
    }
}

/// One task: which processor, which of its parallel instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Its number.
    pub id: TaskId,
    /// Its processor.
    pub kind: Kind,
    /// Its index among the processor's tasks.
    pub index: u32,
}

/// The counter (of `counters`) a word goes to: the same in every process of one build.
pub fn counter_of(word: &str, counters: usize) -> usize {
    let mut hasher = std::hash::DefaultHasher::new();
    word.hash(&mut hasher);
    (hasher.finish() % counters.max(1) as u64) as usize
}

/// The words of a line: maximal runs of alphanumeric characters, lowercased.
pub fn words(line: &str) -> impl Iterator<Item = String> + '_ {
    line.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_lowercase)
}

/// What flows between tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Source → split: numbered lines.
    Lines(Vec<(u64, String)>),
    /// Split → count: for each line, its words that go to this counter (maybe none: the line
    /// still moves the counter's clock).
    Words(Vec<(u64, Vec<String>)>),
}

/// A counter's state: idempotent, so a line replayed from the source is counted once.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Words counted.
    pub counts: WordCount,
    /// Lines seen.
    seen: BTreeSet<u64>,
    /// Lines seen without a gap from line 0: the counter's clock.
    pub clock: u64,
}

impl Counts {
    /// Adds the words of lines not seen yet.
    pub fn add(&mut self, lines: Vec<(u64, Vec<String>)>) {
        for (line, words) in lines {
            // Lines below the clock are seen (and no longer in the set).
            if line < self.clock || !self.seen.insert(line) {
                continue;
            }
            for word in words {
                *self.counts.entry(word).or_default() += 1;
            }
        }
        while self.seen.remove(&self.clock) {
            self.clock += 1;
        }
    }
}

/// Where an application is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Starting its executors.
    Starting,
    /// Running: the application clock (lines every counter has seen) of the total.
    Running {
        /// The minimum clock of its counters.
        clock: u64,
        /// Lines in the text.
        total: u64,
    },
    /// Every line counted.
    Finished {
        /// Lines in the text.
        total: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_counts_a_replayed_line_once_and_its_clock_waits_for_gaps() {
        let mut counts = Counts::default();
        counts.add(vec![(0, vec!["a".into(), "b".into()]), (2, vec!["a".into()])]);
        assert_eq!(counts.clock, 1);
        counts.add(vec![(0, vec!["a".into(), "b".into()]), (1, vec![])]);
        assert_eq!(counts.clock, 3);
        assert_eq!(counts.counts, WordCount::from([("a".into(), 2), ("b".into(), 1)]));
    }

    #[test]
    fn the_word_count_has_one_source_and_the_parallelism_asked_for() {
        let app = Application::word_count("t".into(), 2, 3, 0);
        let tasks = app.tasks();
        assert_eq!(tasks.len(), 6);
        assert_eq!(app.tasks_of(Kind::Count), [3, 4, 5]);
    }
}
