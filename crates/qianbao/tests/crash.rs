//! Crash safety: drive transfers at a real `qianbao serve`, SIGKILL it mid-load, restart it, and check that
//! every acknowledged transfer is there, no unacknowledged request is half there, and the books verify.
//! SQLite always; PostgreSQL when QIANBAO_TEST_DATABASE_URL is set.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::*;

const WALLETS: u64 = 20;
const CLIENTS: u64 = 4;

#[test]
fn sqlite_survives_sigkill_mid_load() {
    survives_sigkill_mid_load(Env::sqlite("crash"));
}

#[test]
fn postgres_survives_sigkill_mid_load() {
    match Env::postgres("crash") {
        Some(env) => survives_sigkill_mid_load(env),
        None => eprintln!("QIANBAO_TEST_DATABASE_URL not set: PostgreSQL crash test skipped"),
    }
}

/// One request: a linked pair of transfers (a chain that must land whole or not at all).
struct Sent {
    ids: [u128; 2],
    acknowledged: bool,
}

fn transfer_json(id: u128, debit: u64, credit: u64, amount: u64, linked: bool) -> String {
    let flags = if linked { r#"["linked"]"# } else { "[]" };
    format!(
        r#"{{"id":"{id}","debit_account_id":"{debit}","credit_account_id":"{credit}","amount":{amount},"currency":"CNY","code":10,"flags":{flags}}}"#
    )
}

fn survives_sigkill_mid_load(env: Env) {
    let mut server = env.serve(&[]);
    let port = server.port;
    let mut accounts = vec![r#"{"id":"1","currency":"CNY","code":2}"#.to_string()];
    accounts.extend(
        (2..2 + WALLETS).map(|w| format!(r#"{{"id":"{w}","currency":"CNY","code":1,"flags":["debits_must_not_exceed_credits"]}}"#)),
    );
    let r = post(port, "/admin/api/ledger/accounts", &format!("[{}]", accounts.join(",")));
    assert_eq!(r.status, 200, "{}", r.body);
    let funding: Vec<String> = (2..2 + WALLETS).map(|w| transfer_json(u128::from(w), 1, w, 1_000_000, false)).collect();
    let r = post(port, "/admin/api/ledger/transfers", &format!("[{}]", funding.join(",")));
    assert!(r.json().as_array().unwrap().iter().all(|e| e["result"] == "created"), "{}", r.body);

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut sent = Vec::new();
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let base = (u128::from(c + 1) << 64) | u128::from(n * 2);
                    let (a, b, d) = (2 + (n + c) % WALLETS, 2 + (n * 7 + c) % WALLETS, 2 + (n * 13 + c + 1) % WALLETS);
                    if a == b || b == d {
                        continue;
                    }
                    let body =
                        format!("[{},{}]", transfer_json(base, a, b, 1 + n % 97, true), transfer_json(base + 1, b, d, 1 + n % 89, false));
                    let acknowledged = match request(port, "POST", "/admin/api/ledger/transfers", Some(TOKEN), Some(&body)) {
                        Ok(r) if r.status == 200 => {
                            let results = r.json();
                            assert!(results.as_array().unwrap().iter().all(|e| e["result"] == "created"), "{}", r.body);
                            true
                        }
                        _ => false,
                    };
                    sent.push(Sent { ids: [base, base + 1], acknowledged });
                    if !acknowledged {
                        break; // the server is gone
                    }
                }
                sent
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let sent: Vec<Sent> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let acknowledged = sent.iter().filter(|s| s.acknowledged).count();
    assert!(acknowledged > 50, "only {acknowledged} requests were acknowledged before the kill");

    let server = env.serve(&[]);
    let exists = |id: u128| {
        let r = get(server.port, &format!("/admin/api/ledger/transfers/{id}"));
        assert!(r.status == 200 || r.status == 404, "{}", r.body);
        r.status == 200
    };
    for s in &sent {
        let (first, second) = (exists(s.ids[0]), exists(s.ids[1]));
        if s.acknowledged {
            assert!(first && second, "acknowledged transfers {:?} lost", s.ids);
        } else {
            assert_eq!(first, second, "unacknowledged chain {:?} is half there", s.ids);
        }
    }
    drop(server);
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "ledger verify failed:\n{stdout}\n{}", String::from_utf8_lossy(&verify.stderr));
    assert!(stdout.contains("the books verify"), "{stdout}");
    eprintln!("{acknowledged} acknowledged requests survived SIGKILL; {} in flight at the kill", sent.len() - acknowledged);
}
