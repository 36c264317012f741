//! The JobManager of the job system: `--listen` for TaskManagers and clients.

fn main() -> loci::Result<()> {
    loci::run::<flink::jobs::jobs::JobManager>()
}
