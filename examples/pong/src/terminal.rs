//! The terminal client: draws the court, arrow keys move the racket, `q` quits.

use std::io::{stdout, Write};
use std::time::Duration;

use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute, queue, style};

use super::pong::{Game, MAX_X, MAX_Y, RACKETS_X, RACKET_HEIGHT};
use loci::{Signal, Var};

/// Restores the terminal however the game ends.
struct Screen;

impl Screen {
    fn enter() -> std::io::Result<Screen> {
        terminal::enable_raw_mode()?;
        execute!(stdout(), EnterAlternateScreen, cursor::Hide)?;
        Ok(Screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = execute!(stdout(), cursor::Show, LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}

enum Input {
    Up,
    Down,
    Quit,
}

/// Draws `game` into a `columns` × `rows` text frame.
pub fn render(game: &Game, me: &str, columns: u16, rows: u16) -> Vec<String> {
    let (width, height) = (usize::from(columns.max(20)), usize::from(rows.max(8)));
    let court = height - 3;
    let column = |x: i32| (x.clamp(0, MAX_X) as usize * (width - 1)) / MAX_X as usize;
    let row = |y: i32| 1 + (y.clamp(0, MAX_Y) as usize * (court - 1)) / MAX_Y as usize;
    let mut frame: Vec<Vec<char>> = vec![vec![' '; width]; height];
    frame[0] = vec!['─'; width];
    frame[court + 1] = vec!['─'; width];
    for (x, top) in RACKETS_X.iter().zip(game.rackets) {
        for r in row(top)..=row(top + RACKET_HEIGHT) {
            frame[r.min(court)][column(*x)] = '█';
        }
    }
    frame[row(game.ball.y).min(court)][column(game.ball.x)] = '●';
    let role = match game.players.iter().position(|p| p == me) {
        Some(0) => "you play left",
        Some(_) => "you play right",
        None => "you watch",
    };
    let status = format!(" {}   {}   {}   ↑/↓ move, q quits", game.score, game.players.join(" vs "), role);
    for (i, c) in status.chars().take(width).enumerate() {
        frame[height - 1][i] = c;
    }
    frame.into_iter().map(|line| line.into_iter().collect()).collect()
}

pub async fn play(name: &str, game: Signal<Game>, racket: Var<i32>) -> loci::Result<()> {
    let _screen = Screen::enter()?;
    let (games_tx, mut games) = tokio::sync::mpsc::unbounded_channel();
    let _ = game.observe(move |game| {
        let _ = games_tx.send(game.clone());
    });
    let (keys_tx, mut keys) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || loop {
        if !event::poll(Duration::from_millis(100)).unwrap_or(false) {
            if keys_tx.is_closed() {
                return;
            }
            continue;
        }
        let Ok(TermEvent::Key(key)) = event::read() else { continue };
        if key.kind == KeyEventKind::Release {
            continue;
        }
        let input = match key.code {
            KeyCode::Up => Input::Up,
            KeyCode::Down => Input::Down,
            KeyCode::Char('q') | KeyCode::Esc => Input::Quit,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Input::Quit,
            _ => continue,
        };
        if keys_tx.send(input).is_err() {
            return;
        }
    });
    let mut current = game.get();
    loop {
        let (columns, rows) = terminal::size().unwrap_or((80, 24));
        let mut out = stdout();
        queue!(out, cursor::MoveTo(0, 0))?;
        for (i, line) in render(&current, name, columns, rows).iter().enumerate() {
            queue!(out, cursor::MoveTo(0, i as u16), style::Print(line))?;
        }
        out.flush()?;
        tokio::select! {
            next = games.recv() => match next {
                Some(next) => current = next,
                None => return Ok(()),
            },
            input = keys.recv() => match input {
                Some(Input::Up) => racket.update(|y| (y - 20).max(0)),
                Some(Input::Down) => racket.update(|y| (y + 20).min(MAX_Y - RACKET_HEIGHT)),
                Some(Input::Quit) | None => return Ok(()),
            },
        }
    }
}
