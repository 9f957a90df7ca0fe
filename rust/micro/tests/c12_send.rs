//! Claim C12 ("tokio::spawn needs a !Send future"): the compiler says
//! otherwise. A future holding an `Rc` across an `.await` fails to compile
//! under `tokio::spawn` (tests/ui/spawn_rc_fails.rs, expected error in
//! tests/ui/spawn_rc_fails.stderr) and runs under `LocalSet::spawn_local`.
//!
//! The .stderr file is the compiler's exact text: after a toolchain or tokio
//! upgrade changes the wording, regenerate it with
//! `TRYBUILD=overwrite cargo test -p rtc-micro --test c12_send` and review
//! it; `expected_error_names_rc_and_send` keeps the point of the test.

use rtc_micro::c12::holds_rc_across_await;

#[test]
fn tokio_spawn_rejects_a_future_holding_rc() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/spawn_rc_fails.rs");
}

#[test]
fn expected_error_names_rc_and_send() {
    let stderr = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/spawn_rc_fails.stderr"),
    )
    .expect("checked-in compiler output");
    assert!(
        stderr.contains("cannot be sent between threads safely"),
        "{stderr}"
    );
    assert!(stderr.contains("Rc<"), "{stderr}");
    assert!(stderr.contains("Send"), "{stderr}");
    assert!(
        stderr.contains("tokio::spawn") || stderr.contains("spawn"),
        "{stderr}"
    );
}

#[test]
fn local_set_spawn_local_runs_the_same_future() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let got = local.block_on(&rt, async {
        tokio::task::spawn_local(holds_rc_across_await())
            .await
            .unwrap()
    });
    assert_eq!(got, 42);
}
