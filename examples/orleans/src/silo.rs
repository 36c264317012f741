//! A slave silo's grains: which are active, their mailboxes, one task per grain handling one
//! message at a time, saving state after every message that changes it, and deactivating
//! grains that were idle for a while.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Notify};

use loci::Here;

use crate::grain::{Activation, GrainAddress, GrainContext, GrainError, Kinds};
use crate::program::orleans::Slave;
use crate::storage::Storage;

/// Messages waiting for one grain at most; a sender waits for room beyond that.
const MAILBOX: usize = 256;

/// One message on its way to a grain.
struct Envelope {
    message: Vec<u8>,
    sender: String,
    /// Where the answer goes, for an `ask`.
    answer: Option<oneshot::Sender<Result<Vec<u8>, GrainError>>>,
}

/// An active grain, as the silo's table holds it.
struct Slot {
    mailbox: mpsc::Sender<Envelope>,
    /// When it last got a message, in milliseconds since the silo started.
    last: Arc<AtomicU64>,
    /// Asks it to deactivate.
    stop: Arc<Notify>,
    /// Its activation, as the master numbered it (a deactivation reported for an older one is
    /// ignored).
    epoch: u64,
}

/// What a silo reports with every heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// Grains active now.
    pub active: usize,
    /// Messages handled per second, over the last report.
    pub rate: f64,
}

/// How delivering to an active grain went.
pub enum Delivery {
    /// Handled (with the answer, for an `ask`), or queued (for a `tell`).
    Done(Vec<u8>),
    /// The grain is not active here.
    NotActive,
}

/// The grains of one slave silo.
pub struct Silo {
    kinds: Kinds,
    storage: Arc<dyn Storage>,
    idle: Duration,
    started: Instant,
    table: Arc<Mutex<HashMap<GrainAddress, Slot>>>,
    /// Messages handled since the silo started.
    handled: Arc<AtomicU64>,
    /// Turns to activate grains, by grain.
    activating: Mutex<HashMap<GrainAddress, Arc<tokio::sync::Mutex<()>>>>,
    /// Grains deactivated since the last report: (grain, epoch).
    passive: Arc<Mutex<Vec<(GrainAddress, u64)>>>,
}

impl Silo {
    /// A silo running grains of `kinds`, keeping their state in `storage`, deactivating those
    /// idle for `idle`.
    pub fn new(kinds: Kinds, storage: Arc<dyn Storage>, idle: Duration) -> Self {
        Silo {
            kinds,
            storage,
            idle,
            started: Instant::now(),
            table: Arc::default(),
            handled: Arc::default(),
            activating: Mutex::default(),
            passive: Arc::default(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<GrainAddress, Slot>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Waits for the turn to activate grain `to` (first come, first served); the turn lasts
    /// as long as the guard.
    pub async fn activating(&self, to: &GrainAddress) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = {
            let mut activating = self.activating.lock().unwrap_or_else(PoisonError::into_inner);
            // Turns nobody holds or waits for any more go, so the map stays as small as the
            // number of grains being activated.
            activating.retain(|_, turn| Arc::strong_count(turn) > 1);
            Arc::clone(activating.entry(to.clone()).or_default())
        };
        turn.lock_owned().await
    }

    /// Whether it runs grains of `kind`.
    pub fn knows(&self, kind: &str) -> bool {
        self.kinds.knows(kind)
    }

    /// Delivers `message` to grain `to` if it is active here, and waits for its answer if
    /// `answer`.
    pub async fn deliver(
        &self,
        to: &GrainAddress,
        message: Vec<u8>,
        sender: &str,
        answer: bool,
    ) -> Result<Delivery, GrainError> {
        let Some(mailbox) = self.table().get(to).map(|slot| {
            slot.last.store(self.now_ms(), Ordering::Relaxed);
            slot.mailbox.clone()
        }) else {
            return Ok(Delivery::NotActive);
        };
        let (reply, answered) = if answer {
            let (reply, answered) = oneshot::channel();
            (Some(reply), Some(answered))
        } else {
            (None, None)
        };
        let envelope = Envelope { message, sender: sender.to_owned(), answer: reply };
        // A grain that is deactivating has closed its mailbox: it is not active any more.
        if mailbox.send(envelope).await.is_err() {
            return Ok(Delivery::NotActive);
        }
        match answered {
            None => Ok(Delivery::Done(Vec::new())),
            Some(answered) => match answered.await {
                Ok(answer) => answer.map(Delivery::Done),
                Err(_) => Err(GrainError::Remote(format!("grain {to} stopped before answering"))),
            },
        }
    }

    /// Activates grain `to` here (from its saved state, or fresh), numbered `epoch` by the
    /// master. Waits for an earlier activation of it on this silo to finish deactivating first.
    pub async fn activate(&self, silo: &Here<Slave>, to: &GrainAddress, epoch: u64) -> Result<(), GrainError> {
        if !self.kinds.knows(&to.kind) {
            return Err(GrainError::UnknownKind(to.kind.clone()));
        }
        loop {
            let mailbox = self.table().get(to).map(|slot| slot.mailbox.clone());
            match mailbox {
                None => break,
                Some(mailbox) if !mailbox.is_closed() => return Ok(()), // Active already.
                // Deactivating: its last messages and state save come first.
                Some(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        let storage = Arc::clone(&self.storage);
        let (kind, id) = (to.kind.clone(), to.id.clone());
        let saved = tokio::task::spawn_blocking(move || storage.load(&kind, &id))
            .await
            .map_err(|error| GrainError::Storage { grain: to.to_string(), detail: error.to_string() })?
            .map_err(|error| GrainError::Storage { grain: to.to_string(), detail: error.to_string() })?;
        let activation = self.kinds.activate(to, saved.as_deref())?;
        println!("activated {to} {}", if saved.is_some() { "from storage" } else { "fresh" });
        let (mailbox, inbox) = mpsc::channel(MAILBOX);
        let slot =
            Slot { mailbox, last: Arc::new(AtomicU64::new(self.now_ms())), stop: Arc::new(Notify::new()), epoch };
        let run = GrainRun {
            address: to.clone(),
            activation,
            saved,
            storage: Arc::clone(&self.storage),
            silo: silo.clone(),
            handled: Arc::clone(&self.handled),
            passive: Arc::clone(&self.passive),
            stop: Arc::clone(&slot.stop),
            epoch,
        };
        let mut table = self.table();
        if table.contains_key(to) {
            return Ok(()); // Activated meanwhile by another message.
        }
        table.insert(to.clone(), slot);
        drop(table);
        let table = Arc::clone(&self.table);
        tokio::spawn(async move {
            let address = run.address.clone();
            run.serve(inbox).await;
            let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
            if table.get(&address).is_some_and(|slot| slot.epoch == epoch) {
                table.remove(&address);
            }
        });
        Ok(())
    }

    /// Asks every grain to deactivate: the master, which lost this silo, may place them
    /// elsewhere meanwhile.
    pub fn deactivate_all(&self) {
        for slot in self.table().values() {
            slot.stop.notify_one();
        }
    }

    /// Asks every grain idle for longer than the silo's idle time to deactivate.
    pub fn sweep(&self) {
        let now = self.now_ms();
        let idle = self.idle.as_millis() as u64;
        for slot in self.table().values() {
            if now.saturating_sub(slot.last.load(Ordering::Relaxed)) > idle {
                slot.stop.notify_one();
            }
        }
    }

    /// The load to report, and the grains deactivated since the last report.
    pub fn report(&self, since: &mut (Instant, u64)) -> (Load, Vec<(GrainAddress, u64)>) {
        let handled = self.handled.load(Ordering::Relaxed);
        let seconds = since.0.elapsed().as_secs_f64().max(0.001);
        let rate = handled.saturating_sub(since.1) as f64 / seconds;
        *since = (Instant::now(), handled);
        let active = self.table().len();
        let passive = std::mem::take(&mut *self.passive.lock().unwrap_or_else(PoisonError::into_inner));
        (Load { active, rate }, passive)
    }
}

/// One active grain's task.
struct GrainRun {
    address: GrainAddress,
    activation: Box<dyn Activation>,
    /// The state last saved (or loaded): saved again only when it changed.
    saved: Option<Vec<u8>>,
    storage: Arc<dyn Storage>,
    silo: Here<Slave>,
    handled: Arc<AtomicU64>,
    passive: Arc<Mutex<Vec<(GrainAddress, u64)>>>,
    stop: Arc<Notify>,
    epoch: u64,
}

impl GrainRun {
    /// Handles the grain's messages one at a time until it is asked to deactivate; then handles
    /// what is already in its mailbox, and reports it passive.
    async fn serve(mut self, mut inbox: mpsc::Receiver<Envelope>) {
        loop {
            tokio::select! {
                envelope = inbox.recv() => match envelope {
                    Some(envelope) => {
                        if !self.handle(envelope).await {
                            break;
                        }
                    }
                    None => return,
                },
                () = self.stop.notified() => break,
            }
        }
        inbox.close();
        while let Some(envelope) = inbox.recv().await {
            if !self.handle(envelope).await {
                // What is left is answered by the next activation, from the last saved state.
                break;
            }
        }
        println!("deactivated {}", self.address);
        self.passive.lock().unwrap_or_else(PoisonError::into_inner).push((self.address.clone(), self.epoch));
    }

    /// Handles one message; `false` if the handler panicked (the grain must stop: its state
    /// may be half changed, and is not saved).
    async fn handle(&mut self, envelope: Envelope) -> bool {
        use futures_util::FutureExt;
        let ctx = GrainContext { id: self.address.id.clone(), sender: envelope.sender, silo: self.silo.clone() };
        let handled =
            std::panic::AssertUnwindSafe(self.activation.handle(&envelope.message, &ctx)).catch_unwind().await;
        let (result, healthy) = match handled {
            Ok(Ok(reply)) => (self.save().await.map(|()| reply), true),
            Ok(Err(error)) => (Err(error), true),
            Err(_) => (Err(GrainError::Remote(format!("grain {} panicked; it is deactivated", self.address))), false),
        };
        self.handled.fetch_add(1, Ordering::Relaxed);
        if let Some(answer) = envelope.answer {
            // The asker may have stopped waiting (a timeout): nothing to tell it then.
            let _ = answer.send(result);
        }
        healthy
    }

    /// Saves the grain's state if the message changed it, before the answer goes out: what was
    /// answered is durable.
    async fn save(&mut self) -> Result<(), GrainError> {
        let state = self.activation.state(&self.address.id)?;
        if self.saved.as_ref() == Some(&state) {
            return Ok(());
        }
        let storage = Arc::clone(&self.storage);
        let (kind, id, bytes) = (self.address.kind.clone(), self.address.id.clone(), state.clone());
        let saved = tokio::task::spawn_blocking(move || storage.save(&kind, &id, &bytes)).await;
        let failed = |detail: String| GrainError::Storage { grain: self.address.to_string(), detail };
        saved.map_err(|error| failed(error.to_string()))?.map_err(|error| failed(error.to_string()))?;
        self.saved = Some(state);
        Ok(())
    }
}
