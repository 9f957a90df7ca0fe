//! C12 probe, built by the harness during a run (`--features c12-probe`):
//! the same code as tests/ui/spawn_rc_fails.rs. Whether it compiles is the
//! measurement; today it must not (tokio::spawn requires `Send`).
fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = tokio::spawn(rtc_micro::c12::holds_rc_across_await());
        println!("{}", handle.await.unwrap());
    });
}
