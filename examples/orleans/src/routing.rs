//! Sending messages to grains: finding the silo a grain is on (through the master, remembered
//! afterwards), and trying again elsewhere when that silo is lost.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use loci::{Here, Local, Remote, RemoteError};

use crate::grain::{Grain, GrainAddress, GrainError, GrainRef};
use crate::program::orleans::{self, Client, Slave};

/// How long a message keeps looking for its grain while silos are lost (the master notices a
/// lost silo within the idle timeout, 4 s by default, and places its grains elsewhere then).
const ROUTE_FOR: Duration = Duration::from_secs(20);

/// Where grains are, as a peer last found out.
#[derive(Default)]
pub struct Routes {
    silos: Mutex<HashMap<GrainAddress, Remote<Slave>>>,
}

impl Routes {
    fn silos(&self) -> std::sync::MutexGuard<'_, HashMap<GrainAddress, Remote<Slave>>> {
        self.silos.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why sending to a silo failed.
pub enum SendError {
    /// The silo is lost (or not reachable): look the grain up again.
    Lost(String),
    /// The silo answered with an error.
    Grain(GrainError),
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A peer that sends messages to grains: clients, and grains on slave silos (through
/// [`GrainContext::silo`](crate::GrainContext::silo)).
pub trait Caller: Send + Sync {
    /// This peer as a slave silo, if it is one: messages to its own grains do not go through
    /// the network.
    fn as_silo(&self) -> Option<&Here<Slave>>;
    /// Where this peer remembers grains to be.
    fn routes(&self) -> Local<Routes>;
    /// The silo the master says grain `to` is on.
    fn locate(&self, to: GrainAddress) -> Boxed<'_, Result<Remote<Slave>, GrainError>>;
    /// Delivers `message` to `to` through `silo`, waiting for the answer if `answer`.
    fn send(
        &self,
        silo: Remote<Slave>,
        to: GrainAddress,
        message: Vec<u8>,
        answer: bool,
    ) -> Boxed<'_, Result<Vec<u8>, SendError>>;
}

/// A failed call: a lost connection, or another failure.
fn call_failed(error: RemoteError) -> SendError {
    match error {
        RemoteError::Disconnected { .. } | RemoteError::NotConnected { .. } | RemoteError::Unreachable { .. } => {
            SendError::Lost(error.to_string())
        }
        other => SendError::Grain(GrainError::Remote(other.to_string())),
    }
}

macro_rules! caller_for {
    ($peer:ty, $routes:path, $as_silo:expr) => {
        impl Caller for Here<$peer> {
            fn as_silo(&self) -> Option<&Here<Slave>> {
                $as_silo(self)
            }

            fn routes(&self) -> Local<Routes> {
                self.local($routes)
            }

            fn locate(&self, to: GrainAddress) -> Boxed<'_, Result<Remote<Slave>, GrainError>> {
                Box::pin(async move {
                    let located = self.remote(orleans::locate).call(to).await;
                    located.map_err(|error| GrainError::Remote(error.to_string()))?
                })
            }

            fn send(
                &self,
                silo: Remote<Slave>,
                to: GrainAddress,
                message: Vec<u8>,
                answer: bool,
            ) -> Boxed<'_, Result<Vec<u8>, SendError>> {
                Box::pin(async move {
                    let silo = self.remotes::<Slave>().reach(&silo).await.map_err(call_failed)?;
                    let sender = self.name().to_owned();
                    let access = self.remote(orleans::deliver).from(&silo).no_timeout();
                    if answer {
                        access
                            .call((to, message, sender, true, false))
                            .await
                            .map_err(call_failed)?
                            .map_err(SendError::Grain)
                    } else {
                        access.tell((to, message, sender, false, false)).await.map_err(call_failed).map(|()| Vec::new())
                    }
                })
            }
        }
    };
}

caller_for!(Client, orleans::client_routes, |_: &Here<Client>| None);
caller_for!(Slave, orleans::slave_routes, Some);

/// Sends `message` to grain `to`, looking it up again while the silos it was on are lost.
async fn route<C: Caller>(ctx: &C, to: &GrainAddress, message: Vec<u8>, answer: bool) -> Result<Vec<u8>, GrainError> {
    let routes = ctx.routes();
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let known = routes.silos().get(to).cloned();
        let silo = match known {
            Some(silo) => silo,
            None => {
                let silo = ctx.locate(to.clone()).await?;
                routes.silos().insert(to.clone(), silo.clone());
                silo
            }
        };
        let lost = silo.instance();
        let sent = match ctx.as_silo().filter(|here| here.instance() == silo.instance()) {
            Some(here) => {
                let sender = here.name().to_owned();
                orleans::deliver_here(here, to.clone(), message.clone(), sender, answer, false)
                    .await
                    .map_err(SendError::Grain)
            }
            None => ctx.send(silo, to.clone(), message.clone(), answer).await,
        };
        match sent {
            Ok(reply) => return Ok(reply),
            Err(SendError::Grain(error)) => return Err(error),
            Err(SendError::Lost(reason)) => {
                // Every grain remembered on that silo is elsewhere now, not only this one: none
                // of them waits for a dial to a dead address.
                routes.silos().retain(|_, known| known.instance() != lost);
                if started.elapsed() > ROUTE_FOR {
                    return Err(GrainError::Unreachable { grain: to.to_string(), attempts, last: reason });
                }
                // The master may not have noticed yet: give it time to.
                tokio::time::sleep(Duration::from_millis(100 * attempts.min(10) as u64)).await;
            }
        }
    }
}

impl<G: Grain> GrainRef<G> {
    /// Sends `message` and waits for the grain's answer. The grain's state change for it is
    /// saved before the answer comes.
    pub async fn ask<C: Caller>(&self, ctx: &C, message: G::Message) -> Result<G::Reply, GrainError> {
        let to = self.address();
        let codec = |detail: postcard::Error| GrainError::Codec { grain: to.to_string(), detail: detail.to_string() };
        let bytes = postcard::to_allocvec(&message).map_err(codec)?;
        let reply = route(ctx, &to, bytes, true).await?;
        postcard::from_bytes(&reply).map_err(codec)
    }

    /// Sends `message` one way (at most once: a tell in flight to a silo that dies is lost;
    /// an `ask` afterwards tells whether it arrived).
    pub async fn tell<C: Caller>(&self, ctx: &C, message: G::Message) -> Result<(), GrainError> {
        let to = self.address();
        let bytes = postcard::to_allocvec(&message)
            .map_err(|detail| GrainError::Codec { grain: to.to_string(), detail: detail.to_string() })?;
        route(ctx, &to, bytes, false).await.map(drop)
    }

    /// The silo the grain is on now, as the master says.
    pub async fn silo<C: Caller>(&self, ctx: &C) -> Result<Remote<Slave>, GrainError> {
        ctx.locate(self.address()).await
    }
}

/// Creates a grain of kind `G` on the least-loaded slave silo.
pub async fn create<G: Grain>(ctx: &Here<Client>) -> Result<GrainRef<G>, GrainError> {
    let created = ctx.remote(orleans::create).call(G::KIND.to_owned()).await;
    let id = created.map_err(|error| GrainError::Remote(error.to_string()))??;
    Ok(GrainRef::named(id))
}
