//! What an AppMaster asks of others: registering with the Master, getting slots and Executors.

use loci::Here;

use crate::app::AppId;
use crate::program::gearpump::{
    launch_executor, plan, register_app_master, request_resources, AppMaster, Master, Worker,
};

/// Registers with the Master (through the proxy) if not registered with the one connected.
pub(crate) async fn register_with_master(
    ctx: &Here<AppMaster>,
    app: AppId,
    registered_with: Option<u64>,
) -> Option<u64> {
    match ctx.remotes::<Master>().connected().into_iter().next() {
        Some(master) if registered_with == Some(master.id()) => registered_with,
        Some(master) => {
            let registered = matches!(ctx.remote(register_app_master).call(app).await, Ok(Some(())));
            registered.then(|| master.id())
        }
        None => {
            if let Ok(Some(master)) = ctx.remote(crate::program::gearpump::master).call(()).await {
                let _ = ctx.remotes::<Master>().reach(&master).await;
            }
            None
        }
    }
}

/// Asks the Master for `count` slots and launches an Executor in each.
pub(crate) async fn launch_executors(ctx: &Here<AppMaster>, app: AppId, count: u32) {
    let allocation = match ctx.remote(request_resources).call((app, count)).await {
        Ok(Some(allocation)) => allocation,
        Ok(None) => return, // No Master now: asked again once one is there.
        Err(error) => {
            eprintln!("no resources: {error}");
            return;
        }
    };
    let plan = ctx.local(plan);
    for (worker, slots) in allocation {
        let Ok(worker) = ctx.remotes::<Worker>().reach(&worker).await else { continue };
        for _ in 0..slots {
            let id = plan.launching();
            let launched = ctx.remote(launch_executor).from(&worker).call((app, id)).await;
            if !matches!(launched, Ok(Ok(()))) {
                plan.launch_failed(id);
            }
        }
    }
}
