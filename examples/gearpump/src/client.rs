//! The client: submits the word count, follows its status, prints its counts, or kills it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use loci::Here;

use crate::app::{Application, Status};
use crate::program::gearpump::{self, AppMaster, Client};

/// What the client does.
#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// The text to count.
    pub text: PathBuf,
    /// Splitters.
    pub split: u32,
    /// Counters.
    pub count: u32,
    /// How long the source waits between batches.
    pub pace_ms: u64,
    /// Kill the application this long after submitting it (instead of waiting for its end).
    pub kill_after_ms: Option<u64>,
}

/// Submits, follows, prints.
pub async fn run(ctx: &Here<Client>) -> Result<(), String> {
    let plan = ctx.local(gearpump::plan_of_client).clone();
    let app = Application::word_count(plan.text.clone(), plan.split, plan.count, plan.pace_ms);
    let started = Instant::now();
    let (id, app_master) = loop {
        match ctx.remote(gearpump::submit).call(app.clone()).await {
            Ok(Ok(submitted)) => break submitted,
            Ok(Err(error)) if started.elapsed() > Duration::from_secs(30) => return Err(error),
            Err(error) if started.elapsed() > Duration::from_secs(30) => return Err(error.to_string()),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    println!("submitted application {id}; its AppMaster is {}", app_master.name());
    let app_master = ctx.remotes::<AppMaster>().reach(&app_master).await.map_err(|error| error.to_string())?;
    let mut last = None;
    loop {
        if plan.kill_after_ms.is_some_and(|ms| started.elapsed() >= Duration::from_millis(ms)) {
            match ctx.remote(gearpump::kill).from(&app_master).call(()).await {
                Ok(refused @ Err(_)) => return refused,
                // Its answer may not outrun its end: the slots tell.
                Ok(Ok(())) | Err(_) => println!("killed application {id}"),
            }
            return wait_for_free_slots(ctx).await;
        }
        match ctx.remote(gearpump::status).from(&app_master).call(()).await {
            Ok(Status::Finished { total }) => {
                println!("application {id} finished: {total} lines counted");
                let counts = ctx.remote(gearpump::counts).from(&app_master).call(()).await;
                let counts = counts.map_err(|error| error.to_string())??;
                println!("result counts {}", serde_json::to_string(&counts).map_err(|error| error.to_string())?);
                return Ok(());
            }
            Ok(status) => {
                if last.as_ref() != Some(&status) {
                    println!("status: {status:?}");
                    last = Some(status);
                }
            }
            Err(error) => println!("status unknown: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until no Worker has a slot in use, and prints the Workers.
async fn wait_for_free_slots(ctx: &Here<Client>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let cluster = ctx.remote(gearpump::cluster).call(()).await.map_err(|error| error.to_string())??;
        if cluster.iter().all(|worker| worker.used == 0) {
            println!("result workers {}", serde_json::to_string(&cluster).map_err(|error| error.to_string())?);
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("slots still in use 20 s after the kill: {cluster:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
