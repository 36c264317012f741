//! The multitier module: a master silo, slave silos and clients.

#[loci::multitier]
pub mod orleans {
    use std::time::{Duration, Instant};

    use loci::{Here, Local, Remote, Signal, Var};

    use crate::directory::{Claim, Directory, SiloView};
    use crate::grain::{GrainAddress, GrainError};
    use crate::routing::Routes;
    use crate::silo::{Delivery, Load, Silo};

    /// Keeps the index of which grain is on which slave silo and places grains.
    #[peer(ties(Slave = Multiple, Client = Multiple))]
    pub struct Master;

    /// Holds grains and delivers their messages. Silos forward to each other, and grains on one
    /// silo send messages to grains on others.
    #[peer(ties(Master = Single, Slave = Multiple, Client = Multiple))]
    pub struct Slave;

    /// Creates grains and sends them messages.
    #[peer(ties(Master = Single, Slave = Multiple))]
    pub struct Client;

    // --- Slave silos -----------------------------------------------------------------------

    /// This silo's grains, supplied by its executable (the kinds it runs, the storage, the idle
    /// time after which grains are deactivated).
    #[on(Slave)]
    pub fn silo() -> Local<Silo>;

    /// The load this silo reports with every heartbeat.
    #[on(Slave)]
    pub fn load() -> Var<Load> {
        Var::new(Load::default())
    }

    /// Where grains this silo's grains send messages to are.
    #[on(Slave)]
    pub fn slave_routes() -> Local<Routes> {
        Local::default()
    }

    /// Delivers `message` from `sender` to grain `to`, activating it here if the master says so
    /// or forwarding it to the silo it is on; answers with the grain's answer if `answer`.
    #[on(Slave)]
    pub async fn deliver(
        ctx: &Here<Slave>,
        to: GrainAddress,
        message: Vec<u8>,
        sender: String,
        answer: bool,
        forwarded: bool,
    ) -> Result<Vec<u8>, GrainError> {
        deliver_here(ctx, to, message, sender, answer, forwarded).await
    }

    /// What `deliver` does, for messages from this silo's own grains as well.
    pub async fn deliver_here(
        ctx: &Here<Slave>,
        to: GrainAddress,
        message: Vec<u8>,
        sender: String,
        answer: bool,
        forwarded: bool,
    ) -> Result<Vec<u8>, GrainError> {
        let silo = ctx.local(silo);
        if !silo.knows(&to.kind) {
            return Err(GrainError::UnknownKind(to.kind));
        }
        // At most a few rounds: a grain may deactivate between the claim and the delivery.
        for _ in 0..4 {
            if let Delivery::Done(reply) = silo.deliver(&to, message.clone(), &sender, answer).await? {
                return Ok(reply);
            }
            // One claim at a time per grain: messages that arrive while it is being activated
            // wait here in order, and go to the one activation.
            let _activating = silo.activating(&to).await;
            if let Delivery::Done(reply) = silo.deliver(&to, message.clone(), &sender, answer).await? {
                return Ok(reply);
            }
            let claimed =
                ctx.remote(claim).call(to.clone()).await.map_err(|error| GrainError::Remote(error.to_string()))??;
            match claimed {
                Claim::Here(epoch) => silo.activate(ctx, &to, epoch).await?,
                Claim::Elsewhere(other) if !forwarded => {
                    let other =
                        ctx.remotes::<Slave>().reach(&other).await.map_err(|e| GrainError::Remote(e.to_string()))?;
                    let args = (to.clone(), message.clone(), sender.clone(), answer, true);
                    return ctx
                        .remote(deliver)
                        .from(&other)
                        .call(args)
                        .await
                        .map_err(|e| GrainError::Remote(e.to_string()))?;
                }
                Claim::Elsewhere(other) => {
                    return Err(GrainError::Remote(format!(
                        "{to} was forwarded here, but the master places it on {}",
                        other.name()
                    )));
                }
            }
        }
        Err(GrainError::Remote(format!("{to} kept deactivating while a message was delivered")))
    }

    #[on(Slave)]
    pub async fn main(ctx: Here<Slave>) -> loci::Result<()> {
        println!("slave silo {} up", ctx.name());
        // Losing the master, the master loses this silo and activates its grains elsewhere:
        // they must not stay active here as well.
        let grains = ctx.local(silo);
        let _ = ctx.remotes::<Master>().left().observe(move |_| grains.deactivate_all());
        let silo = ctx.local(silo);
        let load = ctx.local(load);
        let mut since = (Instant::now(), 0);
        // Heartbeats: the load as a signal the master follows, and the grains deactivated since.
        let mut beat = tokio::time::interval(Duration::from_millis(250));
        loop {
            beat.tick().await;
            silo.sweep();
            let (now, passive) = silo.report(&mut since);
            load.set(now);
            if !passive.is_empty() {
                let _ = ctx.remote(deactivated).tell(passive).await;
            }
        }
    }

    // --- The master silo -------------------------------------------------------------------

    /// The index of active grains.
    #[on(Master)]
    pub fn directory() -> Local<Directory> {
        Local::default()
    }

    /// The slave silos and their loads, as their heartbeats report them: silos join and leave
    /// at run time.
    #[on(Master)]
    pub fn silos(ctx: &Here<Master>) -> Signal<Vec<(Remote<Slave>, Load)>> {
        ctx.remote(load).from_all()
    }

    /// The slave silos connected now, with the load each last reported (none yet: idle). A
    /// silo that left is not among them, even before the `silos` signal drops it.
    fn live_silos(ctx: &Here<Master>) -> Vec<(Remote<Slave>, Load)> {
        let reported = ctx.local(silos).get();
        ctx.remotes::<Slave>()
            .connected()
            .into_iter()
            .map(|silo| {
                let load = reported.iter().find(|(other, _)| *other == silo).map(|(_, load)| *load);
                (silo, load.unwrap_or_default())
            })
            .collect()
    }

    /// Creates a grain of kind `kind`: its id, placed on the least-loaded silo.
    #[on(Master)]
    pub fn create(ctx: &Here<Master>, kind: String) -> Result<String, GrainError> {
        let directory = ctx.local(directory);
        let id = directory.new_id(ctx.instance());
        let silo = directory.place(&GrainAddress { kind, id: id.clone() }, &live_silos(ctx))?;
        println!("created grain {id} on {}", silo.name());
        Ok(id)
    }

    /// The silo grain `to` is on, or is placed on now.
    #[on(Master)]
    pub fn locate(ctx: &Here<Master>, to: GrainAddress) -> Result<Remote<Slave>, GrainError> {
        ctx.local(directory).place(&to, &live_silos(ctx))
    }

    /// Asked by a silo that got a message for a grain it does not have active.
    #[on(Master)]
    pub fn claim(ctx: &Here<Master>, caller: &Remote<Slave>, to: GrainAddress) -> Result<Claim, GrainError> {
        ctx.local(directory).claim(caller, &to, &live_silos(ctx))
    }

    /// A silo's heartbeat: grains it deactivated.
    #[on(Master)]
    pub fn deactivated(ctx: &Here<Master>, caller: &Remote<Slave>, grains: Vec<(GrainAddress, u64)>) {
        ctx.local(directory).passive(caller.instance(), &grains);
    }

    /// Each slave silo as the master sees it.
    #[on(Master)]
    pub fn view(ctx: &Here<Master>) -> Vec<SiloView> {
        ctx.local(directory).view(&live_silos(ctx))
    }

    #[on(Master)]
    pub async fn main(ctx: Here<Master>) -> loci::Result<()> {
        println!("master silo up");
        let joined = ctx.remotes::<Slave>().joined();
        let _ = joined.observe(|silo| println!("slave silo {} joined", silo.name()));
        let lost = ctx.local(directory);
        let _ = ctx.remotes::<Slave>().left().observe(move |silo| {
            let grains = lost.silo_lost(silo.instance());
            println!("slave silo {} left; its {grains} grains are passive", silo.name());
        });
        std::future::pending::<()>().await;
        Ok(())
    }

    // --- Clients -----------------------------------------------------------------------------

    /// Where the grains this client sends messages to are.
    #[on(Client)]
    pub fn client_routes() -> Local<Routes> {
        Local::default()
    }

    /// What the client runs, supplied by its executable.
    #[on(Client)]
    pub fn scenario() -> Local<crate::scenarios::Scenario>;

    #[on(Client)]
    pub async fn main(ctx: Here<Client>) -> loci::Result<()> {
        crate::scenarios::run(&ctx).await.map_err(|error| loci::Error::Main(error.to_string()))
    }
}
