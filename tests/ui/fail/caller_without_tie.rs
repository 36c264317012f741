#[loci::multitier]
mod cluster {
    use loci::Remote;

    #[peer(ties(Worker = Multiple))]
    pub struct Master;

    #[peer(ties(Master = Single))]
    pub struct Worker;

    #[peer]
    pub struct Console;

    /// Registers the calling console: but no console is tied to the master.
    #[on(Master)]
    pub fn register(console: &Remote<Console>, slots: u32) -> bool {
        let _ = (console, slots);
        true
    }
}

fn main() {}
