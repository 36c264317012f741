//! The MasterProxy: `--listen` for the Master, Workers, AppMasters and clients.

fn main() -> loci::Result<()> {
    loci::run::<gearpump::gearpump::MasterProxy>()
}
