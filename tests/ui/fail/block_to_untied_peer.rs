#[loci::multitier]
mod cluster {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(Worker = Multiple))]
    pub struct Master;

    #[peer(ties(Master = Single))]
    pub struct Worker;

    #[peer]
    pub struct Console;

    pub async fn ask(ctx: &Here<Master>, console: &Remote<Console>) -> Result<u8, RemoteError> {
        remote!(ctx, |c: &Here<Console>| -> u8 {
            let _ = c;
            1
        })
        .from(console)
        .await
    }
}

fn main() {}
