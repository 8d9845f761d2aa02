//! Clients that hang up: every money-moving call is sent whole and the connection dropped at once or a
//! few milliseconds later, before the answer; the client then retries with the same Idempotency-Key.
//! Whatever moment the hang-up hit, each key ends with exactly one outcome, every hold has its row, the
//! balances are what the rows say, and the books verify.

use crate::support::merchant::*;
use crate::support::*;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

both_backends!(
    a_transfer_whose_client_hung_up_happens_once,
    an_accept_or_decline_whose_client_hung_up_happens_once,
    a_red_packet_whose_sender_or_claimer_hung_up_pays_once,
    a_top_up_or_withdrawal_whose_client_hung_up_happens_once,
    a_merchant_payment_whose_payer_hung_up_pays_once,
);

/// When the client hangs up after sending the whole request: at once, or a few milliseconds later.
const HANG_UP_AFTER_MS: [u64; 8] = [0, 0, 1, 1, 2, 3, 4, 8];

static PHONE: AtomicU64 = AtomicU64::new(13_700_000_000);

fn start(env: &Env) -> Server {
    env.serve_with(&[], WALLET_ENV)
}

fn person(port: u16, name: &str) -> Wallet {
    let w = Wallet::register(port, &format!("+86{}", PHONE.fetch_add(1, Ordering::SeqCst)), name);
    w.set_pin("135790");
    w
}

/// Send the whole request, wait `after_ms`, and hang up without reading a byte of the answer.
fn hang_up(w: &Wallet, path: &str, body: &str, key: &str, after_ms: u64) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", w.port)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nIdempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        w.token,
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(after_ms));
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// The same request again until its first attempt's outcome is known (a retry that meets the first
/// attempt still running may be told so).
fn retry(w: &Wallet, path: &str, body: &str, key: &str) -> Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = w.post_keyed(path, body, key);
        if r.status != 409 || r.json()["code"] != "REQUEST_IN_PROGRESS" {
            return r;
        }
        assert!(Instant::now() < deadline, "still in progress after 10 s: {}", r.body);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Hang up, then retry: the answer the key ends with.
fn hung_up_then_retried(w: &Wallet, path: &str, body: &str, key: &str, after_ms: u64) -> Response {
    hang_up(w, path, body, key, after_ms);
    retry(w, path, body, key)
}

fn verify(env: &Env) {
    let out = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(out.status.success(), "ledger verify: {}", String::from_utf8_lossy(&out.stdout));
}

fn history(w: &Wallet, kind: &str) -> Vec<serde_json::Value> {
    w.get(&format!("/api/v1/history?type={kind}&limit=100")).json().as_array().unwrap().clone()
}

fn transfer_body(to: &Wallet, amount: &str) -> String {
    format!(r#"{{"to_person_id":"{}","amount":"{amount}","currency":"CNY","pin":"135790"}}"#, to.id)
}

fn a_transfer_whose_client_hung_up_happens_once(env: Env) {
    let server = start(&env);
    let (alice, bob) = (person(server.port, "Alice"), person(server.port, "Bob"));
    alice.top_up("1000.00", "135790");
    alice.befriend(&bob);
    let mut ids = Vec::new();
    for (i, after_ms) in HANG_UP_AFTER_MS.into_iter().enumerate() {
        let key = format!("t{i}");
        let r = hung_up_then_retried(&alice, "/api/v1/transfers", &transfer_body(&bob, "1.00"), &key, after_ms);
        assert_eq!(r.status, 201, "{}", r.body);
        let again = retry(&alice, "/api/v1/transfers", &transfer_body(&bob, "1.00"), &key);
        assert_eq!(again.json()["id"], r.json()["id"], "one key, one transfer");
        ids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), HANG_UP_AFTER_MS.len());
    let rows = history(&alice, "transfer_out");
    assert_eq!(rows.len(), ids.len(), "every hold has its row, and no row is doubled: {rows:?}");
    assert_eq!(alice.available("CNY"), "992.00");
    verify(&env);
}

fn an_accept_or_decline_whose_client_hung_up_happens_once(env: Env) {
    let server = start(&env);
    let (alice, bob) = (person(server.port, "Alice"), person(server.port, "Bob"));
    alice.top_up("1000.00", "135790");
    alice.befriend(&bob);
    for (i, after_ms) in HANG_UP_AFTER_MS.into_iter().enumerate() {
        let t = alice.post("/api/v1/transfers", &transfer_body(&bob, "1.00"));
        let id = t.json()["id"].as_str().unwrap().to_string();
        let (action, state) = if i % 2 == 0 { ("accept", "accepted") } else { ("decline", "declined") };
        let r = hung_up_then_retried(&bob, &format!("/api/v1/transfers/{id}/{action}"), "{}", &format!("r{i}"), after_ms);
        assert_eq!((r.status, r.json()["state"].as_str()), (200, Some(state)), "{}", r.body);
    }
    assert_eq!(bob.available("CNY"), "4.00", "four accepted, once each");
    assert_eq!(alice.available("CNY"), "996.00", "four declined came back, once each");
    verify(&env);
}

fn a_red_packet_whose_sender_or_claimer_hung_up_pays_once(env: Env) {
    let server = start(&env);
    let alice = person(server.port, "Alice");
    alice.top_up("1000.00", "135790");
    let members: Vec<Wallet> = (0..4).map(|i| person(server.port, &format!("Member{i}"))).collect();
    for m in &members {
        alice.befriend(m);
    }
    let ids: Vec<String> = members.iter().map(|m| format!(r#""{}""#, m.id)).collect();
    let group = alice.post("/api/v1/groups", &format!(r#"{{"name":"Family","members":[{}]}}"#, ids.join(",")));
    assert_eq!(group.status, 201, "{}", group.body);
    let group = group.json()["id"].as_str().unwrap().to_string();
    let mut packets = Vec::new();
    for (i, after_ms) in HANG_UP_AFTER_MS.into_iter().take(4).enumerate() {
        let body = format!(r#"{{"split":"equal","to_group_id":"{group}","currency":"CNY","amount":"1.00","shares":4,"pin":"135790"}}"#);
        let r = hung_up_then_retried(&alice, "/api/v1/red-packets", &body, &format!("p{i}"), after_ms);
        assert_eq!(r.status, 201, "{}", r.body);
        packets.push(r.json()["id"].as_str().unwrap().to_string());
    }
    assert_eq!(alice.available("CNY"), "984.00", "four packets of 4.00, each funded once");
    for (n, packet) in packets.iter().enumerate() {
        for (i, m) in members.iter().enumerate() {
            let after_ms = HANG_UP_AFTER_MS[(n + i) % HANG_UP_AFTER_MS.len()];
            let r = hung_up_then_retried(m, &format!("/api/v1/red-packets/{packet}/claims"), "{}", &format!("c{n}-{i}"), after_ms);
            assert_eq!((r.status, r.json()["amount"].as_str()), (201, Some("1.00")), "{}", r.body);
        }
    }
    for m in &members {
        assert_eq!(m.available("CNY"), "4.00", "one share of each packet, once");
    }
    verify(&env);
}

fn a_top_up_or_withdrawal_whose_client_hung_up_happens_once(env: Env) {
    let server = start(&env);
    let w = person(server.port, "Alice");
    let card = w.post("/api/v1/cards", r#"{"number":"4242 4242 4242 4242","exp_month":12,"exp_year":2099}"#).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bank = w.post("/api/v1/bank-accounts", r#"{"bank":"ICBC","holder_name":"Alice Wang","number":"6222021234567890123"}"#);
    let bank = bank.json()["id"].as_str().unwrap().to_string();
    for (i, after_ms) in HANG_UP_AFTER_MS.into_iter().enumerate() {
        let body = format!(r#"{{"card_id":"{card}","amount":"10.00","currency":"CNY","pin":"135790"}}"#);
        let r = hung_up_then_retried(&w, "/api/v1/top-ups", &body, &format!("u{i}"), after_ms);
        assert_eq!((r.status, r.json()["state"].as_str()), (201, Some("succeeded")), "{}", r.body);
    }
    assert_eq!(w.available("CNY"), "80.00", "eight top-ups, each credited once");
    for (i, after_ms) in HANG_UP_AFTER_MS.into_iter().enumerate() {
        let body = format!(r#"{{"bank_account_id":"{bank}","amount":"5.00","currency":"CNY","pin":"135790"}}"#);
        let r = hung_up_then_retried(&w, "/api/v1/withdrawals", &body, &format!("w{i}"), after_ms);
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert_eq!(w.available("CNY"), "40.00", "eight withdrawals, each held once");
    advance_clock(server.port, 5);
    let states: Vec<String> = history(&w, "withdrawal").iter().map(|i| i["state"].as_str().unwrap().to_string()).collect();
    assert_eq!(states, vec!["succeeded"; 8], "each paid out once, none left pending");
    assert_eq!(w.available("CNY"), "40.00");
    verify(&env);
}

fn a_merchant_payment_whose_payer_hung_up_pays_once(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let payer = person(server.port, "Payer");
    payer.top_up("1000.00", "135790");
    for (i, after_ms) in HANG_UP_AFTER_MS.into_iter().enumerate() {
        let out_trade_no = format!("H20260000{i:02}");
        let code_url = merchant.native_order(&out_trade_no, 100, "https://merchant.example/notify");
        let body = serde_json::json!({"code_url": code_url, "pin": "135790"}).to_string();
        let r = hung_up_then_retried(&payer, "/api/v1/merchant-payments", &body, &format!("m{i}"), after_ms);
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(merchant.query(&out_trade_no).json()["trade_state"], "SUCCESS");
    }
    assert_eq!(payer.available("CNY"), "992.00", "eight orders of 1.00, each paid once");
    assert_eq!(history(&payer, "merchant_payment").len(), 8);
    verify(&env);
}
