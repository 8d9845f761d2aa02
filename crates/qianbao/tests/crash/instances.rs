//! Several instances on one PostgreSQL: what one instance learns (a used nonce, a revoked key, its share
//! of a merchant's request rate) holds on the others, and losing an instance mid-load loses or doubles
//! nothing that was acknowledged. PostgreSQL only (SQLite is one process's database).

use crate::support::merchant::*;
use crate::support::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const RATE_PER_S: u32 = 20;
/// Transfers each client sends at most (a history page holds them all).
const TRANSFERS_PER_CLIENT_MAX: u64 = 60;

fn two_instances(name: &str) -> Option<(Env, Server, Server)> {
    let Some(env) = Env::postgres(name) else {
        eprintln!("QIANBAO_TEST_DATABASE_URL not set: the multi-instance test {name} needs PostgreSQL; skipped");
        return None;
    };
    let rate = RATE_PER_S.to_string();
    let settings: Vec<(&str, &str)> = WALLET_ENV.iter().copied().chain([("QIANBAO_MERCHANT_REQUESTS_PER_S_MAX", rate.as_str())]).collect();
    let a = env.serve_with(&[], &settings);
    let b = env.serve_with(&[], &settings);
    // Both heartbeats have counted both instances.
    std::thread::sleep(Duration::from_millis(2_500));
    Some((env, a, b))
}

#[test]
fn a_nonce_used_on_one_instance_is_refused_on_the_other() {
    let Some((_env, a, b)) = two_instances("nonces") else { return };
    let mut merchant = TestMerchant::onboard(a.port, 0);
    let path = "/v3/pay/transactions/native";
    let body = merchant.order_body("I2026000001", 100, "https://merchant.example/notify");
    let signed = merchant.authorization("POST", path, &body, now_s(), "nonce-across-instances");
    assert_eq!(merchant.raw("POST", path, &body, &[("Authorization", &signed)]).status, 200);
    merchant.port = b.port;
    let replay = merchant.raw("POST", path, &body, &[("Authorization", &signed)]);
    assert_eq!((replay.status, replay.json()["code"].as_str()), (401, Some("SIGN_ERROR")), "{}", replay.body);
}

#[test]
fn a_key_revoked_on_one_instance_stops_working_on_the_other_within_two_seconds() {
    let Some((_env, a, b)) = two_instances("revoked") else { return };
    let mut merchant = TestMerchant::onboard(a.port, 0);
    merchant.port = b.port;
    let query = format!("/v3/pay/transactions/out-trade-no/I2026000002?mchid={}", merchant.mchid);
    assert_eq!(merchant.call("GET", &query, "").status, 404, "the key works on B (no such order)");
    let revoked = operator_request(a.port, "DELETE", &format!("/admin/api/merchants/{}/keys/{}", merchant.mchid, merchant.serial), None);
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let r = merchant.call("GET", &query, "");
        if r.status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "B still accepts a key revoked on A: {} {}", r.status, r.body);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_merchant_request_rate_is_shared_by_the_instances() {
    let Some((_env, a, b)) = two_instances("rate") else { return };
    let merchant = Arc::new(TestMerchant::onboard(a.port, 0));
    let query = format!("/v3/pay/transactions/out-trade-no/I2026000003?mchid={}", merchant.mchid);
    let (allowed, started) = (Arc::new(AtomicU64::new(0)), Instant::now());
    let threads: Vec<_> = [a.port, b.port, a.port, b.port]
        .into_iter()
        .map(|port| {
            let (merchant, allowed, query) = (merchant.clone(), allowed.clone(), query.clone());
            std::thread::spawn(move || {
                for _ in 0..15 {
                    let header = merchant.authorization("GET", &query, "", now_s(), &wxpay::random_alphanumeric(32));
                    let r = request_with(port, "GET", &query, None, None, &[("Authorization", &header)]).unwrap();
                    if r.status != 429 {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let elapsed_s = started.elapsed().as_secs_f64();
    // Shared, the two instances together allow a burst of RATE_PER_S and RATE_PER_S more each second;
    // each on its own would allow twice that.
    let bound = (f64::from(RATE_PER_S) * (1.0 + elapsed_s)).ceil() as u64 + 2;
    let allowed = allowed.load(Ordering::Relaxed);
    assert!(allowed <= bound, "{allowed} of 60 requests in {elapsed_s:.2} s got through; the shared rate allows {bound}");
    assert!(allowed >= u64::from(RATE_PER_S) / 2, "{allowed} got through");
}

/// One client: transfers of 1.00 to `to`, alternating instances; a request the lost instance could not
/// answer is sent again, same key, to the one left. Returns how many transfers were acknowledged.
fn client(payer: Wallet, to: String, ports: [u16; 2], stop: Arc<AtomicBool>) -> u64 {
    let body = format!(r#"{{"to_person_id":"{to}","amount":"1.00","currency":"CNY","pin":"135790"}}"#);
    let mut acknowledged = 0;
    for n in 0..TRANSFERS_PER_CLIENT_MAX {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("load-{n}");
        let mut port = ports[(n % 2) as usize];
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let w = Wallet { port, ..payer.clone() };
            match request_with(port, "POST", "/api/v1/transfers", Some(&w.token), Some(&body), &[("Idempotency-Key", &key)]) {
                Ok(r) if r.status == 201 => break acknowledged += 1,
                Ok(r) if r.status == 409 && r.json()["code"] == "REQUEST_IN_PROGRESS" => {}
                Ok(r) if r.status != 503 => panic!("key {key}: {} {}", r.status, r.body),
                _ => port = ports[1], // the lost instance (or a 503 while it went): the survivor
            }
            assert!(Instant::now() < deadline, "key {key} has no outcome after 20 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    acknowledged
}

#[test]
fn losing_an_instance_mid_load_loses_and_doubles_nothing_acknowledged() {
    let Some((env, mut a, b)) = two_instances("sigkill") else { return };
    let receiver = Wallet::register(a.port, "+8613900003000", "Receiver");
    let payers: Vec<Wallet> = (0..4)
        .map(|i| {
            let w = Wallet::register(if i % 2 == 0 { a.port } else { b.port }, &format!("+86139000031{i:02}"), "Payer");
            w.set_pin("135790");
            w.top_up("500.00", "135790");
            w.befriend(&receiver);
            w
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let ports = [a.port, b.port];
    let clients: Vec<_> = payers
        .iter()
        .map(|p| {
            let (p, to, stop) = (p.clone(), receiver.id.clone(), stop.clone());
            std::thread::spawn(move || client(p, to, ports, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_500));
    a.kill();
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<u64> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(acknowledged.iter().sum::<u64>() > 20, "the load ran: {acknowledged:?}");
    let mut received = 0;
    for (payer, n) in payers.iter().zip(&acknowledged) {
        let on_b = Wallet { port: b.port, ..payer.clone() };
        let sent = on_b.get("/api/v1/history?type=transfer_out&limit=100").json().as_array().unwrap().len() as u64;
        assert_eq!(sent, *n, "every acknowledged transfer is there, once, and nothing else is");
        assert_eq!(on_b.available("CNY"), format!("{}.00", 500 - n));
        received += n;
    }
    let on_b = Wallet { port: b.port, ..receiver.clone() };
    let wallet = on_b.get("/api/v1/wallet").json();
    let cny = wallet.as_array().unwrap().iter().find(|b| b["currency"] == "CNY").unwrap().clone();
    assert_eq!(cny["incoming_pending"], format!("{received}.00"), "the receiver is owed exactly what was acknowledged");
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}
