#[loci::multitier]
mod numbers {
    use loci::{Anywhere, Here, Spore};

    #[peer(ties(Worker = Multiple))]
    pub struct Driver;

    #[peer(ties(Driver = Single))]
    pub struct Worker;

    pub fn tagger(ctx: &Here<Driver>) -> Spore<Anywhere, u64, String> {
        spore!(|x: u64| -> String {
            let _ = x;
            ctx.name().to_owned()
        })
    }
}

fn main() {}
