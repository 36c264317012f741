//! The Master: `--listen` for Workers and AppMasters, `--connect masterproxy=..`.

fn main() -> loci::Result<()> {
    loci::run::<gearpump::gearpump::Master>()
}
