//! Over an `Optional` tie, `as_local` yields an `Option`; over `Single`, the value itself.
#[loci::multitier]
mod gearpump {
    use loci::Here;

    #[peer(ties(Master = Optional, MasterProxy = Single))]
    pub struct Worker;

    #[peer(ties(Worker = Multiple, MasterProxy = Multiple))]
    pub struct Master;

    #[peer(ties(Worker = Multiple, Master = Multiple))]
    pub struct MasterProxy;

    #[on(Master)]
    pub fn cluster_size() -> usize {
        3
    }

    #[on(MasterProxy)]
    pub fn proxy_name(ctx: &Here<MasterProxy>) -> String {
        ctx.name().to_owned()
    }

    #[on(Worker)]
    pub async fn main(ctx: Here<Worker>) -> loci::Result<()> {
        let size: Option<usize> = ctx.remote(cluster_size).as_local().await?;
        let proxy: String = ctx.remote(proxy_name).as_local().await?;
        let _ = (size, proxy);
        Ok(())
    }

    #[on(MasterProxy)]
    pub async fn main(ctx: Here<MasterProxy>) -> loci::Result<()> {
        for (master, size) in ctx.remote(cluster_size).from_all().await {
            let _: (loci::Remote<Master>, usize) = (master, size?);
        }
        Ok(())
    }
}

fn main() {}
