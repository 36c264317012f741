//! What a Worker does besides answering calls: reporting its slots, starting children.

use loci::Here;

use crate::app::AppId;
use crate::program::gearpump::{children, slots, spawner, worker_usage, MasterProxy, Worker};
use crate::spawner::sibling;

/// Tells the Master how many slots are in use.
pub(crate) async fn report_usage(ctx: &Here<Worker>) {
    let used = ctx.local(children).lock().unwrap_or_else(std::sync::PoisonError::into_inner).len() as u32;
    let _ = ctx.remote(worker_usage).tell(used).await;
}

/// The address of the MasterProxy, for children to connect to.
pub(crate) fn proxy_address(ctx: &Here<Worker>) -> Result<String, String> {
    let proxy = ctx.remotes::<MasterProxy>().connected().into_iter().next().ok_or("no MasterProxy is connected")?;
    Ok(proxy.addr().to_string())
}

/// Starts child `name` running executable `exe` with `args`, in a free slot. The child is
/// named under the Worker (`w1/app1`) and uses the Worker's credentials, whose certificate
/// grants the kinds of its children too.
pub(crate) async fn spawn_child(
    ctx: &Here<Worker>,
    name: String,
    app: AppId,
    exe: &str,
    args: Vec<String>,
) -> Result<(), String> {
    let name = format!("{}/{name}", ctx.name());
    let used = ctx.local(children).lock().unwrap_or_else(std::sync::PoisonError::into_inner).len() as u32;
    if used >= *ctx.local(slots) {
        return Err(format!("worker {} has no free slot for {name}", ctx.name()));
    }
    let exe = sibling(exe).map_err(|error| error.to_string())?;
    ctx.local(spawner).start(&name, exe, args).await.map_err(|error| format!("{name}: {error}"))?;
    ctx.local(children).lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.clone(), app);
    println!("worker {} started {name}", ctx.name());
    report_usage(ctx).await;
    Ok(())
}
