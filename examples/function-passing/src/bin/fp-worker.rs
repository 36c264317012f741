//! A worker: holds silos and runs the spores sent to them. `--connect master=..`, and
//! `--listen` so that other workers reach it for nested spores.

fn main() -> loci::Result<()> {
    loci::run::<function_passing::fp::Worker>()
}
