fn main() -> loci::Result<()> {
    loci::run::<p2p_chat::p2p::Registry>()
}
