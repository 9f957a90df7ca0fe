// Must not compile: tokio::spawn requires a Send future, and this one holds
// an Rc across an .await (claim C12).
fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = tokio::spawn(rtc_micro::c12::holds_rc_across_await());
        let _ = handle.await;
    });
}
