//! Names bound inside a block, in all the ways Rust binds them, are the block's own; captures
//! of destructured parameters take the type written in the capture list.

#[loci::multitier]
mod scopes {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(Worker = Multiple))]
    pub struct Master;

    #[peer(ties(Master = Single))]
    pub struct Worker;

    pub async fn work(
        ctx: &Here<Master>,
        (first, second): (u32, u32),
        words: Vec<String>,
        worker: &Remote<Worker>,
    ) -> Result<u32, RemoteError> {
        let offset: u32 = 7;
        remote!(ctx, capture(first: u32, second: u32, words, offset), |w: &Here<Worker>| -> u32 {
            let _ = w;
            let mut total = first + second + offset;
            if let Some(word) = words.first() {
                total += word.len() as u32;
            }
            while let Some(extra) = words.get(total as usize) {
                total += extra.len() as u32;
            }
            for (index, word) in words.iter().enumerate() {
                total += match word.as_str() {
                    "skip" => 0,
                    other if other.len() > 3 => index as u32,
                    _ => 1,
                };
            }
            let lengths: Vec<u32> = words.iter().map(|word| word.len() as u32).collect();
            let Some(longest) = lengths.iter().max() else { return total };
            let point = Point { x: *longest, y: total };
            let Point { x, y } = point;
            println!("{x} {y} {total}");
            x + y
        })
        .from(worker)
        .await
    }

    struct Point {
        x: u32,
        y: u32,
    }
}

fn main() {}
