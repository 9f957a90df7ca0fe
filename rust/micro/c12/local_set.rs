//! C12 probe, run by the harness during a run (`--features c12-probe`): the
//! same `Rc`-holding future on a LocalSet with spawn_local; prints 42.
fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let out = local.block_on(&rt, async {
        tokio::task::spawn_local(rtc_micro::c12::holds_rc_across_await())
            .await
            .unwrap()
    });
    println!("{out}");
}
