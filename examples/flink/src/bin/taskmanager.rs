fn main() -> loci::Result<()> {
    loci::run::<flink::gateway::TaskManager>()
}
