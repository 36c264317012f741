fn main() -> loci::Result<()> {
    loci::run::<chat::Node>()
}
