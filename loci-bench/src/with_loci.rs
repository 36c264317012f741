//! The same work through loci: one multitier module, instances on their own threads.

#[loci::multitier]
pub mod bench {
    use loci::Event;

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

    /// A value the hub changes, which spokes follow.
    #[on(Hub)]
    pub fn level() -> loci::Var<u64> {
        loci::Var::new(0)
    }

    /// Echoes a 16-byte payload, on every spoke.
    #[on(Spoke)]
    pub fn spoke_echo(payload: Payload) -> Payload {
        payload
    }
}
