//! The multitier module: a master that builds DAGs of silos and sends them to the data, and
//! workers that hold silos and run the spores sent to them. The slides' example and the
//! operations of BabySpark are spores of this module.

#[loci::multitier]
pub mod fp {
    use loci::{Anywhere, Here, Local, Spore, UntypedSpore};

    use crate::error::FpError;
    use crate::eval::SiloStore;
    use crate::lineage::{Materialized, Plan, SiloId, SiloRef};
    use crate::master::Recovery;
    use crate::people::{Owner, Person, Vehicle};
    use crate::spark::{self, Folded, Keyed, Part};

    /// Builds DAGs of silos and sends them to the data.
    #[peer(ties(Worker = Multiple))]
    pub struct Master;

    /// Holds silos and runs the spores sent to them. Workers reach each other for nested spores.
    #[peer(ties(Master = Single, Worker = Multiple))]
    pub struct Worker;

    // --- Worker ----------------------------------------------------------------------------

    /// The silos this worker holds, supplied by its executable with the bytes it may hold.
    #[on(Worker)]
    pub fn silos() -> Local<SiloStore>;

    /// Holds `data` as populated silo `id`.
    #[on(Worker)]
    pub fn store(ctx: &Here<Worker>, id: SiloId, data: Vec<u8>) -> Result<(), FpError> {
        ctx.local(silos).insert(ctx.name(), id, std::sync::Arc::new(data))
    }

    /// Materializes the silo of `plan` here, where its data is, and answers with the data.
    #[on(Worker)]
    pub async fn materialize(ctx: &Here<Worker>, plan: Plan) -> Result<Materialized, FpError> {
        crate::eval::materialize(ctx, plan).await
    }

    /// How many silos this worker holds, and their bytes.
    #[on(Worker)]
    pub fn held(ctx: &Here<Worker>) -> (usize, usize) {
        ctx.local(silos).held()
    }

    #[on(Worker)]
    pub async fn main(ctx: Here<Worker>) -> loci::Result<()> {
        println!("worker {} holds silos", ctx.name());
        std::future::pending::<()>().await;
        Ok(())
    }

    // --- Master ----------------------------------------------------------------------------

    /// Populated values and lost workers, to rebuild silos.
    #[on(Master)]
    pub fn recovery() -> Local<Recovery> {
        Local::default()
    }

    /// What the master runs, supplied by its executable.
    #[on(Master)]
    pub fn scenario() -> Local<crate::scenarios::Scenario>;

    #[on(Master)]
    pub async fn main(ctx: Here<Master>) -> loci::Result<()> {
        crate::scenarios::run(&ctx).await.map_err(|error| loci::Error::Main(error.to_string()))
    }

    // --- The slides' example ---------------------------------------------------------------

    /// `adults`: the persons aged 18 or more.
    pub fn adults() -> Spore<Anywhere, Vec<Person>, SiloRef<Vec<Person>>> {
        spore!(capture(), |ps: Vec<Person>| -> SiloRef<Vec<Person>> {
            let res: Vec<Person> = ps.into_iter().filter(|p| p.age >= 18).collect();
            SiloRef::here(&res)
        })
    }

    /// `owners`: the adults that own a vehicle, each with their vehicle. The spore runs where
    /// the adults are and applies a second spore, carrying them, where the vehicles are.
    pub fn owners(vehicles: SiloRef<Vec<Vehicle>>) -> Spore<Anywhere, Vec<Person>, SiloRef<Vec<Owner>>> {
        spore!(capture(vehicles), |ps: Vec<Person>| -> SiloRef<Vec<Owner>> {
            vehicles.apply(owned_by(ps)).named("owned by")
        })
    }

    /// The inner spore of `owners`: pairs the persons it carries with the vehicles it is
    /// applied to.
    pub fn owned_by(ps: Vec<Person>) -> Spore<Anywhere, Vec<Vehicle>, SiloRef<Vec<Owner>>> {
        spore!(capture(ps), |vs: Vec<Vehicle>| -> SiloRef<Vec<Owner>> {
            let pairs: Vec<Owner> = ps
                .iter()
                .flat_map(|p| vs.iter().filter(|v| v.owner == p.name).map(|v| (p.clone(), v.clone())))
                .collect();
            SiloRef::here(&pairs)
        })
    }

    /// `sorted`: the persons by age (a stable sort, as `sortWith`).
    pub fn sorted() -> Spore<Anywhere, Vec<Person>, SiloRef<Vec<Person>>> {
        spore!(capture(), |ps: Vec<Person>| -> SiloRef<Vec<Person>> {
            let mut ps = ps;
            ps.sort_by_key(|p| p.age);
            SiloRef::here(&ps)
        })
    }

    /// `labels`: a greeting for each person.
    pub fn labels() -> Spore<Anywhere, Vec<Person>, SiloRef<Vec<String>>> {
        spore!(capture(), |ps: Vec<Person>| -> SiloRef<Vec<String>> {
            let labels: Vec<String> = ps.iter().map(|p| format!("Hi, {}", p.name)).collect();
            SiloRef::here(&labels)
        })
    }

    /// How many of the persons are adults.
    pub fn count_adults() -> Spore<Anywhere, Vec<Person>, SiloRef<u64>> {
        spore!(capture(), |ps: Vec<Person>| -> SiloRef<u64> {
            SiloRef::here(&(ps.iter().filter(|p| p.age >= 18).count() as u64))
        })
    }

    // --- BabySpark: its operations, on partitions of encoded elements -----------------------

    /// A partition of lines as a partition of elements.
    pub fn lines_to_part() -> Spore<Anywhere, Vec<String>, SiloRef<Part>> {
        spore!(capture(), |lines: Vec<String>| -> SiloRef<Part> { spark::encode_each(&lines) })
    }

    /// `map`: `f` applied to each element of a partition.
    pub fn map_part(f: UntypedSpore<Anywhere>) -> Spore<Worker, Part, SiloRef<Part>> {
        spore!(capture(f), |w: &Here<Worker>, part: Part| -> SiloRef<Part> { spark::map(w, &f, &part) })
    }

    /// The elements of a partition whose key falls in bucket `bucket` of `buckets`, with their
    /// keys.
    pub fn bucket(key: UntypedSpore<Anywhere>, bucket: u32, buckets: u32) -> Spore<Worker, Part, SiloRef<Keyed>> {
        spore!(capture(key, bucket, buckets), |w: &Here<Worker>, part: Part| -> SiloRef<Keyed> {
            spark::bucket(w, &key, &part, bucket, buckets)
        })
    }

    /// Gathers one bucket from every partition: adds this one's to what it carries, and goes on
    /// to the next partition's (a spore applied where that bucket is).
    pub fn gather(rest: Vec<SiloRef<Keyed>>, carried: Keyed) -> Spore<Anywhere, Keyed, SiloRef<Keyed>> {
        spore!(capture(rest, carried), |mine: Keyed| -> SiloRef<Keyed> {
            let mut carried = carried;
            carried.extend(mine);
            match rest.split_first() {
                None => SiloRef::here(&carried),
                Some((next, rest)) => next.apply(gather(rest.to_vec(), carried)),
            }
        })
    }

    /// `group_by`'s last step: the gathered elements grouped by key, as `(K, Vec<T>)` elements.
    pub fn group() -> Spore<Anywhere, Keyed, SiloRef<Part>> {
        spore!(capture(), |keyed: Keyed| -> SiloRef<Part> { spark::group(keyed) })
    }

    /// `join`: this side's gathered bucket meets the other side's, where that one is.
    pub fn join_with(right: SiloRef<Keyed>) -> Spore<Anywhere, Keyed, SiloRef<Part>> {
        spore!(capture(right), |left: Keyed| -> SiloRef<Part> { right.apply(join_pairs(left)) })
    }

    /// The inner spore of `join`: pairs the left elements it carries with the right ones of the
    /// same key, as `(T, U)` elements.
    pub fn join_pairs(left: Keyed) -> Spore<Anywhere, Keyed, SiloRef<Part>> {
        spore!(capture(left), |right: Keyed| -> SiloRef<Part> { spark::join(&left, &right) })
    }

    /// `reduce` within a partition: its elements folded with `f`.
    pub fn fold_part(f: UntypedSpore<Anywhere>) -> Spore<Worker, Part, SiloRef<Folded>> {
        spore!(capture(f), |w: &Here<Worker>, part: Part| -> SiloRef<Folded> { spark::fold(w, &f, None, part) })
    }

    /// `reduce` across partitions: this partition's result folded into what it carries, then on
    /// to the next partition's.
    pub fn fold_on(
        f: UntypedSpore<Anywhere>,
        rest: Vec<SiloRef<Folded>>,
        carried: Folded,
    ) -> Spore<Worker, Folded, SiloRef<Folded>> {
        spore!(capture(f, rest, carried), |w: &Here<Worker>, mine: Folded| -> SiloRef<Folded> {
            let folded = spark::fold(w, &f, carried, mine.into_iter().collect());
            match rest.split_first() {
                None => folded,
                Some((next, rest)) => match spark::made_value(&folded) {
                    Ok(carried) => next.apply(fold_on(f, rest.to_vec(), carried)),
                    Err(failed) => failed,
                },
            }
        })
    }

    // --- Element functions of the word count and the demos of BabySpark ---------------------

    /// The words of a line, counted.
    pub fn count_line() -> Spore<Anywhere, String, spark::WordCount> {
        spore!(capture(), |line: String| -> spark::WordCount { spark::count_words(&line) })
    }

    /// Two counts added.
    pub fn add_counts() -> Spore<Anywhere, (spark::WordCount, spark::WordCount), spark::WordCount> {
        spore!(capture(), |pair: (spark::WordCount, spark::WordCount)| -> spark::WordCount {
            spark::add_counts(pair.0, pair.1)
        })
    }

    /// A line's length in characters, the key lines are grouped by.
    pub fn line_length() -> Spore<Anywhere, String, u64> {
        spore!(capture(), |line: String| -> u64 { line.chars().count() as u64 })
    }

    /// A person's name, the key persons are joined with vehicles on.
    pub fn person_name() -> Spore<Anywhere, Person, String> {
        spore!(capture(), |p: Person| -> String { p.name })
    }

    /// A vehicle's owner, the key vehicles are joined with persons on.
    pub fn vehicle_owner() -> Spore<Anywhere, Vehicle, String> {
        spore!(capture(), |v: Vehicle| -> String { v.owner })
    }
}
