//! The same work through loci: one multitier module, instances on their own threads.

#[loci::multitier]
pub mod bench {
    use loci::{Event, Here, RemoteError};

    use crate::{Payload, Tick};

    /// Serves calls, fires ticks, and aggregates over spokes.
    #[peer(ties(Spoke = Multiple))]
    pub struct Hub;

    /// Calls the hub, receives its ticks, answers its aggregations.
    #[peer(ties(Hub = Single))]
    pub struct Spoke;

    /// Echoes a 16-byte payload.
    #[on(Hub)]
    pub fn hub_echo(payload: Payload) -> Payload {
        payload
    }

    /// Ticks fired on the hub.
    #[on(Hub)]
    pub fn ticks() -> Event<Tick> {
        Event::new()
    }

    /// Ticks fired on the hub, lossy: a spoke that is behind misses some.
    #[lossy]
    #[on(Hub)]
    pub fn lossy_ticks() -> Event<Tick> {
        Event::new()
    }

    /// A value the hub changes, which spokes follow.
    #[on(Hub)]
    pub fn level() -> loci::Var<u64> {
        loci::Var::new(0)
    }

    /// A call with two small arguments, to compare with a remote block capturing the same two.
    #[on(Hub)]
    pub fn hub_pair(a: u64, b: u32) -> u64 {
        a + u64::from(b)
    }

    /// The same work as `hub_pair`, as a remote block with two captures on the hub.
    pub async fn block_pair(ctx: &Here<Spoke>, a: u64, b: u32) -> Result<u64, RemoteError> {
        remote!(ctx, capture(a, b), |hub: &Here<Hub>| -> u64 {
            let _ = hub;
            a + u64::from(b)
        })
        .as_local()
        .await
    }

    /// Echoes a 16-byte payload, on every spoke.
    #[on(Spoke)]
    pub fn spoke_echo(payload: Payload) -> Payload {
        payload
    }
}
