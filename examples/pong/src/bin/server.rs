fn main() -> loci::Result<()> {
    loci::run::<pong::pong::Server>()
}
