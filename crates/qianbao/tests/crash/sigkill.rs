//! Crash safety: drive transfers at a real `qianbao serve`, SIGKILL it mid-load, restart it, and check that
//! every acknowledged transfer is there, no unacknowledged request is half there, and the books verify.
//! SQLite always; PostgreSQL when QIANBAO_TEST_DATABASE_URL is set.

use crate::support::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    let r = correct_ledger(port, &format!("[{}]", funding.join(",")));
    assert!(r.json()["result"].as_array().unwrap().iter().all(|e| e["result"] == "created"), "{}", r.body);

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
                    let acknowledged = match try_correct_ledger(port, &body) {
                        Some(r) if r.status == 200 => {
                            let results = r.json()["result"].clone();
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

#[test]
fn sqlite_merchant_payments_and_orders_agree_after_sigkill() {
    merchant_payments_agree_after_sigkill(Env::sqlite("crash_merchant"));
}

#[test]
fn postgres_merchant_payments_and_orders_agree_after_sigkill() {
    match Env::postgres("crash_merchant") {
        Some(env) => merchant_payments_agree_after_sigkill(env),
        None => eprintln!("QIANBAO_TEST_DATABASE_URL not set: PostgreSQL crash test skipped"),
    }
}

/// Merchant payments under load, SIGKILL, restart: every payment acknowledged is an order the merchant
/// sees paid, and what left the payers' wallets is exactly what the paid orders add up to (no money moved
/// for an order left unpaid, no order paid without the money).
fn merchant_payments_agree_after_sigkill(env: Env) {
    use crate::support::merchant::TestMerchant;
    const PAYERS: usize = 4;
    let mut server = env.serve_with(&[], WALLET_ENV);
    let mut merchant = TestMerchant::onboard(server.port, 0);
    let payers: Vec<Wallet> = (0..PAYERS)
        .map(|i| {
            let w = Wallet::register(server.port, &format!("+86139990000{i:02}"), "Payer");
            w.set_pin("135790");
            w.top_up("1000.00", "135790");
            w
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Vec<Vec<(String, i64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = payers
            .iter()
            .enumerate()
            .map(|(p, payer)| {
                let (stop, merchant) = (stop.clone(), &merchant);
                s.spawn(move || {
                    let mut paid = Vec::new();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let (no, total) = (format!("C{p}{n:08}"), 1 + (n % 7) as i64);
                        let body = merchant.order_body(&no, total, "https://merchant.example/notify");
                        let header = merchant.authorization(
                            "POST",
                            "/v3/pay/transactions/native",
                            &body,
                            crate::support::merchant::now_s(),
                            &format!("n{p}-{n}"),
                        );
                        let Ok(order) = request_with(
                            merchant.port,
                            "POST",
                            "/v3/pay/transactions/native",
                            None,
                            Some(&body),
                            &[("Authorization", &header)],
                        ) else {
                            break;
                        };
                        if order.status != 200 {
                            break;
                        }
                        let code_url = order.json()["code_url"].as_str().unwrap().to_string();
                        let key = format!("crash-{p}-{n}");
                        let pay = serde_json::json!({"code_url": code_url, "pin": "135790"}).to_string();
                        match request_with(
                            payer.port,
                            "POST",
                            "/api/v1/merchant-payments",
                            Some(&payer.token),
                            Some(&pay),
                            &[("Idempotency-Key", &key)],
                        ) {
                            Ok(r) if r.status == 201 => paid.push((no, total)),
                            _ => break,
                        }
                    }
                    paid
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let server = env.serve_with(&[], WALLET_ENV);
    merchant.port = server.port;
    let acknowledged: Vec<(String, i64)> = acknowledged.into_iter().flatten().collect();
    assert!(acknowledged.len() > 10, "the load ran ({} payments acknowledged)", acknowledged.len());
    for (no, _) in &acknowledged {
        assert_eq!(merchant.query(no).json()["trade_state"], "SUCCESS", "acknowledged payment {no}");
    }
    // What left the wallets is what the paid orders (acknowledged or not) add up to.
    let spent: i64 = payers
        .iter()
        .map(|p| {
            let w = Wallet { port: server.port, ..p.clone() };
            100_000 - w.available("CNY").replace('.', "").parse::<i64>().unwrap()
        })
        .sum();
    let history: i64 = payers
        .iter()
        .map(|p| {
            let w = Wallet { port: server.port, ..p.clone() };
            let items = w.get("/api/v1/history?type=merchant_payment&limit=100").json();
            let mut sum = 0;
            let mut page = items.as_array().unwrap().clone();
            let mut before;
            loop {
                sum += page.iter().map(|i| -i["amount"].as_str().unwrap().replace('.', "").parse::<i64>().unwrap()).sum::<i64>();
                if page.len() < 100 {
                    break sum;
                }
                let last = page.last().unwrap();
                before = format!("{}:{}", last["created_at_ms"], last["id"].as_str().unwrap());
                page =
                    w.get(&format!("/api/v1/history?type=merchant_payment&limit=100&before={before}")).json().as_array().unwrap().clone();
            }
        })
        .sum();
    let acknowledged_sum: i64 = acknowledged.iter().map(|(_, t)| t).sum();
    assert_eq!(spent, history, "money left the wallets exactly for the paid orders");
    assert!(spent >= acknowledged_sum && spent <= acknowledged_sum + 7 * PAYERS as i64, "at most one unacknowledged payment per payer");
    drop(server);
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}
