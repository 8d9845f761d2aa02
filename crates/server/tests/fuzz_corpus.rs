//! The fuzz corpus, replayed on the stable toolchain: every input the fuzzers in `fuzz/` kept (the
//! interesting ones, and any that once crashed) runs through the same entry points on every CI run.
//! `fuzz/README.md` says how to run the fuzzers themselves.

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    // QIANBAO_FUZZ_TRACE=1 shows each request's answer and the server's log (an internal error's detail).
    if std::env::var_os("QIANBAO_FUZZ_TRACE").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the {target} corpus at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "the {target} corpus has {} inputs", inputs.len());
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        run(&data);
    }
}

#[test]
fn the_authorization_corpus_replays() {
    replay("authorization", server::fuzzing::authorization);
}

#[test]
fn the_amount_corpus_replays() {
    replay("amount", server::fuzzing::amount);
}

#[test]
fn the_notification_corpus_replays() {
    replay("notification", server::fuzzing::notification);
}

#[test]
fn the_wallet_body_corpus_replays() {
    replay("wallet_body", server::fuzzing::wallet_body);
}

#[test]
fn the_merchant_body_corpus_replays() {
    replay("merchant_body", server::fuzzing::merchant_body);
}

#[test]
fn the_emv_qr_corpus_replays() {
    replay("emv_qr", server::fuzzing::emv_qr);
}
