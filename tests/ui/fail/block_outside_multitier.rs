fn main() {
    let _ = loci::remote!(ctx, |tm: &Here<TaskManager>| -> u8 { 1 });
}
