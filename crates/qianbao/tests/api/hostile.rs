//! The wire as a hostile client meets it (issue 8): secrets never kept for replay, authentication
//! before anything else, documented JSON errors, timeouts on half-sent requests, throttled guessing,
//! private files, replayed merchant requests refused across a restart.

use crate::support::merchant::*;
use crate::support::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

both_backends!(
    a_sign_in_answer_is_never_kept_for_replay,
    a_request_is_authenticated_before_its_idempotency_key_is_read,
    the_same_key_from_two_people_is_two_requests,
    a_signed_merchant_request_cannot_be_replayed_after_a_restart,
);

fn start(env: &Env) -> Server {
    env.serve_with(&[], WALLET_ENV)
}

fn sign_in(port: u16, phone: &str, password: &str, key: Option<&str>) -> Response {
    let body = format!(r#"{{"phone":"{phone}","password":"{password}"}}"#);
    let headers: Vec<(&str, &str)> = key.map(|k| vec![("Idempotency-Key", k)]).unwrap_or_default();
    request_with(port, "POST", "/api/v1/sessions", None, Some(&body), &headers).unwrap()
}

/// Every byte under the data directory (the SQLite database, its journal, logs).
fn data_bytes(env: &Env) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&env.data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(path).unwrap());
        }
    }
    all
}

fn a_sign_in_answer_is_never_kept_for_replay(env: Env) {
    let server = start(&env);
    let w = Wallet::register(server.port, "+8613900001001", "Alice");
    let first = sign_in(server.port, "+8613900001001", "correct horse battery", Some("login-1"));
    let again = sign_in(server.port, "+8613900001001", "correct horse battery", Some("login-1"));
    assert_eq!((first.status, again.status), (201, 201), "{} {}", first.body, again.body);
    let (t1, t2) = (first.json()["token"].as_str().unwrap().to_string(), again.json()["token"].as_str().unwrap().to_string());
    assert_ne!(t1, t2, "a sign-in is never answered from a stored reply: each is a new session");
    let stored = data_bytes(&env);
    for token in [&t1, &t2, &w.token] {
        assert!(!stored.windows(token.len()).any(|b| b == token.as_bytes()), "a live token is stored in clear");
    }
}

fn a_request_is_authenticated_before_its_idempotency_key_is_read(env: Env) {
    let server = start(&env);
    let alice = Wallet::register(server.port, "+8613900001002", "Alice");
    let keyed =
        |token: &str| request_with(server.port, "POST", "/api/v1/friends", Some(token), Some("{}"), &[("Idempotency-Key", "k-1")]).unwrap();
    let bogus = keyed("not-a-session-token");
    assert_eq!((bogus.status, bogus.json()["code"].as_str()), (401, Some("UNAUTHORIZED")), "{}", bogus.body);
    let first = keyed(&alice.token);
    assert_eq!(first.status, 400, "{}", first.body);
    let out = request(server.port, "DELETE", "/api/v1/sessions/current", Some(&alice.token), None).unwrap();
    assert_eq!(out.status, 204, "{}", out.body);
    let replay = keyed(&alice.token);
    assert_eq!(replay.status, 401, "a signed-out session gets no stored answer: {}", replay.body);
}

fn the_same_key_from_two_people_is_two_requests(env: Env) {
    let server = start(&env);
    let alice = Wallet::register(server.port, "+8613900001003", "Alice");
    let bob = Wallet::register(server.port, "+8613900001004", "Bob");
    let carol = Wallet::register(server.port, "+8613900001005", "Carol");
    let ask = |w: &Wallet| {
        request_with(
            server.port,
            "POST",
            "/api/v1/friends",
            Some(&w.token),
            Some(&format!(r#"{{"person_id":"{}"}}"#, carol.id)),
            &[("Idempotency-Key", "same")],
        )
        .unwrap()
    };
    assert_eq!(ask(&alice).status, 201);
    assert_eq!(ask(&bob).status, 201, "Bob's request is his own, not a replay of Alice's");
    let friends = carol.get("/api/v1/friends").json();
    assert_eq!(friends.as_array().unwrap().len(), 2, "{friends}");
}

fn a_signed_merchant_request_cannot_be_replayed_after_a_restart(env: Env) {
    let server = env.serve(&[]);
    let mut merchant = TestMerchant::onboard(server.port, 0);
    let path = "/v3/pay/transactions/native";
    let body = merchant.order_body("T2026009001", 100, "https://merchant.example/notify");
    let captured = merchant.authorization("POST", path, &body, now_s(), "nonce-captured");
    assert_eq!(merchant.raw("POST", path, &body, &[("Authorization", &captured)]).status, 200);
    drop(server); // killed: no shutdown code runs
    let restarted = env.serve(&[]);
    merchant.port = restarted.port;
    let replay = merchant.raw("POST", path, &body, &[("Authorization", &captured)]);
    assert_eq!((replay.status, replay.json()["code"].as_str()), (401, Some("SIGN_ERROR")), "{}", replay.body);
}

#[test]
fn the_data_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::sqlite("private");
    std::fs::set_permissions(&env.data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _server = env.serve(&[]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.data_dir), 0o700, "the data directory");
    for entry in std::fs::read_dir(&env.data_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("qianbao.db") || name == "secret" {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
}

#[test]
fn query_string_errors_are_json_and_come_after_authentication() {
    let env = Env::sqlite("query_errors");
    let server = start(&env);
    let signed_out = request(server.port, "GET", "/api/v1/history?limit=many", None, None).unwrap();
    assert_eq!((signed_out.status, signed_out.json()["code"].as_str()), (401, Some("UNAUTHORIZED")));
    let w = Wallet::register(server.port, "+8613900001006", "Alice");
    let bad = w.get("/api/v1/history?limit=many");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!((bad.json()["code"].as_str(), bad.json()["field"].as_str()), (Some("PARAM_ERROR"), Some("query")), "{}", bad.body);
    assert!(bad.json()["message"].as_str().unwrap().contains("limit"), "the message names the parameter: {}", bad.body);
}

#[test]
fn a_half_sent_request_is_cut_off() {
    let env = Env::sqlite("half_sent");
    let server = env.serve_with(&[], &[("QIANBAO_HEADER_READ_TIMEOUT_MS", "500")]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest); // the server answers 408 or just closes
    assert!(started.elapsed() < Duration::from_secs(5), "held {:?}", started.elapsed());
    assert!(rest.is_empty() || String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&rest));
    assert_eq!(request(server.port, "GET", "/healthz", None, None).unwrap().status, 200, "the server still serves");
}

#[test]
fn password_guessing_is_throttled_per_phone() {
    let env = Env::sqlite("throttle");
    let server = start(&env);
    Wallet::register(server.port, "+8613900001007", "Alice");
    let statuses: Vec<u16> = (0..12).map(|_| sign_in(server.port, "+8613900001007", "wrong password!", None).status).collect();
    assert!(statuses[..10].iter().all(|s| *s == 401 || *s == 409), "{statuses:?}");
    let throttled = sign_in(server.port, "+8613900001007", "correct horse battery", None);
    assert_eq!((throttled.status, throttled.json()["code"].as_str()), (429, Some("TOO_MANY_ATTEMPTS")), "{}", throttled.body);
    assert!(throttled.header("retry-after").is_some());
}

#[test]
fn the_h5_page_forbids_framing_sniffing_and_foreign_content() {
    let env = Env::sqlite("h5_headers");
    let server = start(&env);
    let r = request(server.port, "GET", "/pay/h5?prepay_id=wx0000", None, None).unwrap();
    assert!(r.header("content-type").unwrap_or("").starts_with("text/html"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let csp = r.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
}
