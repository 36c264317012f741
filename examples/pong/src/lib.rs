//! ScalaLoci's Pong as a loci multitier program.
//!
//! The server owns the game: a ball that a clock moves, two rackets that the first two
//! clients steer, bounces, and a score, all written as signals and events the way the
//! ScalaLoci slides write them. Every client reads the game as one remote signal and draws it;
//! clients after the first two watch.

/// How a client plays; supplied to each client instance when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A terminal UI: arrow keys move the racket.
    Terminal,
    /// Follows the ball by itself; with `miss`, it always stands aside.
    Bot {
        /// Stand where the ball is not.
        miss: bool,
    },
}

#[loci::multitier]
pub mod pong {
    use std::time::Duration;

    use loci::{Event, Here, Local, Signal, Var};
    use serde::{Deserialize, Serialize};

    /// Runs the game for every client.
    #[peer(ties(Client = Multiple))]
    pub struct Server;

    /// Plays (the first two) or watches (the others).
    #[peer(ties(Server = Single))]
    pub struct Client;

    /// The court, in game units.
    pub const MAX_X: i32 = 800;
    /// The court's height.
    pub const MAX_Y: i32 = 400;
    /// The x of the left and the right racket.
    pub const RACKETS_X: [i32; 2] = [30, 770];
    /// A racket's height.
    pub const RACKET_HEIGHT: i32 = 80;
    const INITIAL_BALL: Point = Point { x: 400, y: 200 };
    const INITIAL_SPEED: Point = Point { x: 10, y: 8 };

    /// A position on the court.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
    }

    /// Everything a client draws.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Game {
        pub ball: Point,
        /// The top of the left and the right racket.
        pub rackets: [i32; 2],
        pub score: String,
        /// The names of the two players, if connected.
        pub players: Vec<String>,
    }

    /// Where this client wants its racket (top edge), when it plays.
    #[on(Client)]
    pub fn racket() -> Var<i32> {
        Var::new(MAX_Y / 2 - RACKET_HEIGHT / 2)
    }

    /// The server's clock. Lossy: a tick that arrives late is worth nothing, so a remote that
    /// follows the clock and falls behind skips ticks (and sees how many) rather than slowing
    /// the server down.
    #[lossy]
    #[on(Server)]
    pub fn tick() -> Event<()> {
        Event::new()
    }

    /// The game, as every client sees it.
    #[on(Server)]
    pub fn game(ctx: &Here<Server>) -> Signal<Game> {
        let clients = ctx.remotes::<Client>().connected_signal();
        let wanted = ctx.remote(racket).from_all();
        let players = clients.map(|clients| clients.iter().take(2).cloned().collect::<Vec<_>>());
        let (p, w) = (players.clone(), wanted.clone());
        let rackets = Signal::computed(move || {
            let (players, wanted) = (p.get(), w.get());
            let at =
                |i: usize| players.get(i).and_then(|player| wanted.iter().find(|(c, _)| c == player)).map(|(_, y)| *y);
            [at(0).unwrap_or(MAX_Y / 2 - RACKET_HEIGHT / 2), at(1).unwrap_or(MAX_Y / 2 - RACKET_HEIGHT / 2)]
        });

        // The ball moves by `speed` on every tick while two players are in.
        let speed_x = Var::new(INITIAL_SPEED.x);
        let speed_y = Var::new(INITIAL_SPEED.y);
        let (sx, sy, playing) = (speed_x.signal(), speed_y.signal(), players.map(|p| p.len() == 2));
        let ball = ctx.local(tick).fold(INITIAL_BALL, move |ball, _| {
            if playing.get() {
                Point { x: ball.x + sx.get(), y: ball.y + sy.get() }
            } else {
                *ball
            }
        });

        let left_wall = ball.changed() & |ball: &Point| ball.x < 0;
        let right_wall = ball.changed() & |ball: &Point| ball.x > MAX_X;
        let (b, r) = (ball.clone(), rackets.clone());
        let ball_in_racket = Signal::computed(move || {
            let (ball, rackets) = (b.get(), r.get());
            RACKETS_X
                .iter()
                .zip(rackets)
                .any(|(x, top)| (ball.x - x).abs() <= 10 && ball.y >= top && ball.y <= top + RACKET_HEIGHT)
        });
        let x_bounce = left_wall.map(|_| ()) | right_wall.map(|_| ()) | ball_in_racket.changed_to(true);
        let y_bounce = ball.changed() & |ball: &Point| ball.y < 0 || ball.y > MAX_Y;
        let _ = x_bounce.toggle(INITIAL_SPEED.x, -INITIAL_SPEED.x).observe(move |x| speed_x.set(*x));
        let _ = y_bounce.toggle(INITIAL_SPEED.y, -INITIAL_SPEED.y).observe(move |y| speed_y.set(*y));

        let left_points = right_wall.iterate(0, |n| n + 1);
        let right_points = left_wall.iterate(0, |n| n + 1);
        let score = Signal::computed(move || format!("{} : {}", left_points.get(), right_points.get()));

        Signal::computed(move || Game {
            ball: ball.get(),
            rackets: rackets.get(),
            score: score.get(),
            players: players.get().iter().map(|p| p.name().to_owned()).collect(),
        })
    }

    #[on(Server)]
    pub async fn main(ctx: Here<Server>) -> loci::Result<()> {
        let mut clock = tokio::time::interval(Duration::from_millis(40));
        loop {
            clock.tick().await;
            ctx.local(tick).fire(());
        }
    }

    /// How this client plays, supplied by its executable from its command line.
    #[on(Client)]
    pub fn mode() -> Local<crate::Mode>;

    #[on(Client)]
    pub async fn main(ctx: Here<Client>) -> loci::Result<()> {
        let game = ctx.remote(game).as_local().await?;
        match *ctx.local(mode) {
            crate::Mode::Bot { miss } => crate::bot::play(ctx.name(), game, ctx.local(racket), miss).await,
            crate::Mode::Terminal => crate::terminal::play(ctx.name(), game, ctx.local(racket)).await,
        }
    }
}

mod bot {
    use super::pong::{Game, MAX_Y, RACKET_HEIGHT};
    use loci::{Signal, Var};

    /// Follows the ball (or stands aside with `miss`) and reports what it sees on stdout.
    pub async fn play(name: &str, game: Signal<Game>, racket: Var<i32>, miss: bool) -> loci::Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _ = game.observe(move |game| {
            let _ = tx.send(game.clone());
        });
        println!("{name} ready");
        let mut last_score = String::new();
        let mut updates = 0u64;
        while let Some(game) = rx.recv().await {
            let target = if miss {
                if game.ball.y < MAX_Y / 2 {
                    MAX_Y - RACKET_HEIGHT
                } else {
                    0
                }
            } else {
                game.ball.y - RACKET_HEIGHT / 2
            };
            racket.set(target);
            if game.score != last_score {
                println!("score {}", game.score);
                last_score = game.score.clone();
            }
            updates += 1;
            if updates.is_multiple_of(10) {
                println!("ball {} {} players {}", game.ball.x, game.ball.y, game.players.join(","));
            }
        }
        Ok(())
    }
}

mod terminal;
