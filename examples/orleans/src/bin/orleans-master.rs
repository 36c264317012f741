//! The master silo: `--listen` for slave silos and clients.

fn main() -> loci::Result<()> {
    loci::run::<orleans::orleans::Master>()
}
