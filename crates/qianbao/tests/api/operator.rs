//! The operator ledger API, health and metrics, black-box over real HTTP against `qianbao serve`.

use crate::support::*;

fn accounts_body() -> &'static str {
    r#"[{"id":"1","currency":"CNY","code":2},{"id":"2","currency":"CNY","code":1,"flags":["debits_must_not_exceed_credits"]},{"id":"3","currency":"CNY","code":1,"flags":["debits_must_not_exceed_credits"]}]"#
}

fn started() -> (Env, Server) {
    let env = Env::sqlite("api");
    let server = env.serve(&[]);
    let r = post(server.port, "/admin/api/ledger/accounts", accounts_body());
    assert_eq!(r.status, 200, "{}", r.body);
    (env, server)
}

#[test]
fn health_and_readiness_answer_without_a_token() {
    let (_env, server) = started();
    assert_eq!(request(server.port, "GET", "/healthz", None, None).unwrap().status, 200);
    assert_eq!(request(server.port, "GET", "/readyz", None, None).unwrap().status, 200);
}

#[test]
fn the_operator_api_refuses_a_missing_or_wrong_token() {
    let (_env, server) = started();
    for token in [None, Some("wrong-token-wrong-token")] {
        let r = request(server.port, "GET", "/admin/api/ledger/accounts/2", token, None).unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["code"], "UNAUTHORIZED");
    }
}

#[test]
fn a_transfer_moves_money_between_accounts() {
    let (_env, server) = started();
    let r = correct_ledger(
        server.port,
        r#"[{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":5000,"currency":"CNY","code":1},{"id":"11","debit_account_id":"2","credit_account_id":"3","amount":1234,"currency":"CNY","code":10}]"#,
    );
    assert_eq!(r.json()["result"], serde_json::json!([{"index":0,"result":"created"},{"index":1,"result":"created"}]));
    let bob = get(server.port, "/admin/api/ledger/accounts/3").json();
    assert_eq!(bob["credits_posted"], 1234);
    assert_eq!(bob["currency"], "CNY");
    let t = get(server.port, "/admin/api/ledger/transfers/11").json();
    assert_eq!((t["debit_account_id"].as_str(), t["amount"].as_u64()), (Some("2"), Some(1234)));
}

#[test]
fn a_correction_that_cannot_apply_moves_nothing_names_its_failure_and_stays_pending() {
    let (_env, server) = started();
    for (transfer, code) in [
        (r#"{"id":"20","debit_account_id":"2","credit_account_id":"3","amount":1,"currency":"CNY","code":10}"#, "exceeds_credits"),
        (
            r#"{"id":"21","debit_account_id":"2","credit_account_id":"2","amount":1,"currency":"CNY","code":10}"#,
            "accounts_must_be_different",
        ),
        (
            r#"{"id":"22","debit_account_id":"2","credit_account_id":"3","amount":1,"currency":"CNY","code":10,"flags":["closing_debit"]}"#,
            "closing_transfer_must_be_pending",
        ),
        (
            r#"{"id":"23","debit_account_id":"2","credit_account_id":"99","amount":1,"currency":"CNY","code":10}"#,
            "credit_account_not_found",
        ),
        (
            r#"{"id":"24","debit_account_id":"2","credit_account_id":"3","amount":1,"currency":"HKD","code":10}"#,
            "transfer_must_have_the_same_currency_as_accounts",
        ),
    ] {
        let asked = post(server.port, "/admin/api/ledger/transfers", &format!("[{transfer}]"));
        assert_eq!(asked.status, 202, "{}", asked.body);
        let id = asked.json()["approval"]["id"].as_str().unwrap().to_string();
        let r = checker_request(server.port, "POST", &format!("/admin/api/approvals/{id}/approve"), None);
        assert_eq!((r.status, r.json()["code"].as_str()), (409, Some("ACTION_FAILED")), "{}", r.body);
        assert!(r.json()["message"].as_str().unwrap().contains(code), "{code}: {}", r.body);
        assert_eq!(get(server.port, &format!("/admin/api/approvals/{id}")).json()["state"], "pending");
    }
    // All or nothing: a good transfer beside a bad one does not move either.
    let r = correct_ledger(
        server.port,
        r#"[{"id":"25","debit_account_id":"1","credit_account_id":"2","amount":9,"currency":"CNY","code":1},{"id":"26","debit_account_id":"2","credit_account_id":"3","amount":10,"currency":"CNY","code":10}]"#,
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(get(server.port, "/admin/api/ledger/accounts/2").json()["credits_posted"], 0);
    assert_eq!(get(server.port, "/admin/api/ledger/accounts/2").json()["debits_posted"], 0);
}

#[test]
fn a_retried_request_answers_exists_and_moves_no_more_money() {
    let (_env, server) = started();
    let body = r#"[{"id":"30","debit_account_id":"1","credit_account_id":"2","amount":700,"currency":"CNY","code":1}]"#;
    assert_eq!(correct_ledger(server.port, body).json()["result"][0]["result"], "created");
    assert_eq!(correct_ledger(server.port, body).json()["result"][0]["result"], "exists");
    assert_eq!(get(server.port, "/admin/api/ledger/accounts/2").json()["credits_posted"], 700);
}

#[test]
fn malformed_requests_get_param_error_naming_the_problem() {
    let (_env, server) = started();
    for (body, needle) in [
        ("not json", "invalid JSON"),
        (r#"[{"id":"x1","debit_account_id":"1","credit_account_id":"2","amount":1,"currency":"CNY","code":1}]"#, "decimal u128"),
        (r#"[{"id":"1","debit_account_id":"1","credit_account_id":"2","amount":-5,"currency":"CNY","code":1}]"#, "[0].amount"),
        (r#"[{"id":"1","debit_account_id":"1","credit_account_id":"2","amount":1,"currency":"XYZ","code":1}]"#, "unknown currency"),
        (
            r#"[{"id":"1","debit_account_id":"1","credit_account_id":"2","amount":1,"currency":"CNY","code":1,"flags":["sideways"]}]"#,
            "unknown flag",
        ),
        (
            r#"[{"id":"1","debit_account_id":"1","credit_account_id":"2","amount":1,"currency":"CNY","code":1,"surprise":true}]"#,
            "unknown field",
        ),
        ("[]", "1 to 8190"),
    ] {
        let r = post(server.port, "/admin/api/ledger/transfers", body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["code"], "PARAM_ERROR");
        assert!(r.json()["message"].as_str().unwrap().contains(needle), "{body}: {}", r.body);
    }
}

#[test]
fn more_events_than_a_batch_holds_are_refused() {
    let (_env, server) = started();
    let one = r#"{"id":"1","debit_account_id":"1","credit_account_id":"2","amount":1,"currency":"CNY","code":1}"#;
    let body = format!("[{}]", vec![one; 8191].join(","));
    let r = post(server.port, "/admin/api/ledger/transfers", &body);
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("8190"));
}

#[test]
fn unknown_accounts_and_transfers_are_not_found() {
    let (_env, server) = started();
    for path in ["/admin/api/ledger/accounts/404", "/admin/api/ledger/transfers/404"] {
        let r = get(server.port, path);
        assert_eq!(r.status, 404);
        assert_eq!(r.json()["code"], "RESOURCE_NOT_EXISTS");
    }
    assert_eq!(get(server.port, "/admin/api/ledger/accounts/0").status, 400);
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

#[test]
fn metrics_count_accounts_transfers_and_batches() {
    let (_env, server) = started();
    let before = request(server.port, "GET", "/metrics", None, None).unwrap().body;
    post(server.port, "/admin/api/ledger/accounts", r#"[{"id":"70","currency":"CNY","code":1},{"id":"71","currency":"CNY","code":1}]"#);
    correct_ledger(server.port, r#"[{"id":"40","debit_account_id":"2","credit_account_id":"3","amount":1,"currency":"CNY","code":10}]"#);
    let text = request(server.port, "GET", "/metrics", None, None).unwrap().body;
    let name = "qianbao_ledger_accounts_created_total ";
    assert_eq!(metric(&text, name), metric(&before, name) + 2, "{text}");
    assert!(text.contains(r#"qianbao_ledger_transfers_failed_total{code="exceeds_credits"} 1"#), "{text}");
    assert!(metric(&text, "qianbao_ledger_batches_total ") > metric(&before, "qianbao_ledger_batches_total "));
    assert!(text.contains("qianbao_ledger_commit_seconds_bucket"));
    assert!(text.contains("qianbao_ledger_batch_events_count"));
}

#[test]
fn the_token_never_appears_in_the_log() {
    let (env, server) = started();
    get(server.port, "/admin/api/ledger/accounts/2");
    let log = std::fs::read_to_string(env.data_dir.join(format!("server-{}.log", server.port))).unwrap();
    assert!(log.contains("request"), "requests are logged");
    assert!(!log.contains(TOKEN));
}

#[test]
fn demo_mode_seeds_funded_wallets_and_says_how_to_use_them() {
    let env = Env::sqlite("demo");
    let mut server = env.serve(&["--demo"]);
    let signed_in =
        request(server.port, "POST", "/api/v1/sessions", None, Some(r#"{"phone":"+8613800000001","password":"qianbao-demo"}"#)).unwrap();
    assert_eq!(signed_in.status, 201, "{}", signed_in.body);
    let alice = Wallet {
        port: server.port,
        id: signed_in.json()["person_id"].as_str().unwrap().to_string(),
        token: signed_in.json()["token"].as_str().unwrap().to_string(),
    };
    assert_eq!(alice.available("CNY"), "1000.00", "a demo wallet is funded");
    server.kill();
    let mut out = String::new();
    use std::io::Read;
    server.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.contains("OPS=qbo_") && out.contains("curl") && out.contains("+8613800000001"), "{out}");
    // A second start with --demo is idempotent.
    let again = env.serve(&["--demo"]);
    // The demo people: signed in as Alice, 1000.00 CNY (not topped up twice), two friends, one group.
    let session =
        request(again.port, "POST", "/api/v1/sessions", None, Some(r#"{"phone":"+8613800000001","password":"qianbao-demo"}"#)).unwrap();
    let token = session.json()["token"].as_str().unwrap().to_string();
    let me = request(again.port, "GET", "/api/v1/me", Some(&token), None).unwrap().json();
    assert_eq!(me["balances"][0]["available"], "1000.00");
    let friends = request(again.port, "GET", "/api/v1/friends", Some(&token), None).unwrap().json();
    assert_eq!(friends.as_array().unwrap().iter().filter(|f| f["state"] == "accepted").count(), 2);
    let groups = request(again.port, "GET", "/api/v1/groups", Some(&token), None).unwrap().json();
    assert_eq!(groups[0]["members"].as_array().unwrap().len(), 3);
    // The landing page lists the demo accounts and links the demo merchant's notification inbox.
    let landing = request(again.port, "GET", "/", None, None).unwrap();
    assert!(landing.body.contains("+8613800000001") && landing.body.contains("/sandbox/inbox/1900000109"), "{}", landing.body);
    let merchant = operator_request(again.port, "GET", "/admin/api/merchants/1900000109", None).json();
    assert_eq!(merchant["public_key_mode"], true, "the mode the printed SDK lines configure: {merchant}");
}

#[test]
fn ledger_verify_exits_non_zero_on_a_tampered_database() {
    let (env, server) = started();
    correct_ledger(server.port, r#"[{"id":"50","debit_account_id":"1","credit_account_id":"2","amount":10,"currency":"CNY","code":1}]"#);
    drop(server);
    assert!(env.command(&["ledger", "verify"]).output().unwrap().status.success());
    let db = env.data_dir.join("qianbao.db");
    let status = std::process::Command::new("python3")
        .args(["-c", &format!("import sqlite3; c=sqlite3.connect('{}'); c.execute('UPDATE accounts SET credits_posted = credits_posted + 1 WHERE code = 1'); c.commit()", db.display())])
        .status();
    if !status.map(|s| s.success()).unwrap_or(false) {
        eprintln!("python3 with sqlite3 not available: tamper check skipped (the store suite covers it)");
        return;
    }
    let out = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("do NOT verify"));
}

#[test]
fn every_path_in_the_openapi_document_is_served() {
    let (_env, server) = started();
    let doc = request(server.port, "GET", "/openapi.json", None, None).unwrap().json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{}", paths.len());
    for (path, methods) in paths {
        let concrete = path.replace("{id}", "1").replace("{month}", "2026-11");
        for method in methods.as_object().unwrap().keys() {
            let r = request(server.port, &method.to_uppercase(), &concrete, None, Some("{}")).unwrap();
            // A served route may answer 404 for a missing object (a public one, unauthenticated), in its
            // surface's JSON error; an unserved path gets the router's bare 404.
            let unserved = r.status == 405 || (r.status == 404 && !r.body.contains(r#""code""#));
            assert!(!unserved, "{method} {path} is documented but not served: {} {}", r.status, r.body);
        }
    }
}

#[test]
fn every_operator_action_lands_in_the_audit_log_with_who_what_and_why() {
    let (_env, server) = started();
    let r =
        correct_ledger(server.port, r#"[{"id":"60","debit_account_id":"1","credit_account_id":"2","amount":5,"currency":"CNY","code":1}]"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let log = get(server.port, "/admin/api/audit").json();
    let entries = log.as_array().unwrap();
    let actions: Vec<&str> = entries.iter().take(3).map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["ledger.correction.approved", "ledger.correction.requested", "ledger.create_accounts"], "newest first");
    assert_eq!((entries[0]["actor"].as_str(), entries[1]["actor"].as_str()), (Some("operator:checker"), Some("operator:ops")));
    assert_eq!(entries[1]["reason"], "test case");
    assert!(entries[0]["detail"].as_str().unwrap().contains("transfer 60: 1 → 2, CNY 0.05"), "{}", entries[0]);
    assert!(entries.iter().any(|e| e["action"] == "operators.create_first_admin" && e["actor"] == "bootstrap"));
    let page = get(server.port, &format!("/admin/api/audit?limit=1&before={}", log[0]["id"].as_str().unwrap())).json();
    assert_eq!(page[0]["action"], "ledger.correction.requested");
    assert_eq!(request(server.port, "GET", "/admin/api/audit", None, None).unwrap().status, 401);
    let body = get(server.port, "/admin/api/audit").body;
    assert!(!body.contains(TOKEN) && !body.contains("qbo_"), "no token is ever logged");
}

#[test]
fn the_operator_surface_can_listen_apart_from_the_public_one() {
    let env = Env::sqlite("admin_listen");
    let admin_port = free_port();
    let server = env.serve_with(&[], &[("QIANBAO_ADMIN_LISTEN", &format!("127.0.0.1:{admin_port}"))]);
    for path in ["/admin/api/operators/me", "/metrics", "/ops/sign-in"] {
        assert_eq!(request(server.port, "GET", path, None, None).unwrap().status, 404, "{path} is not public");
    }
    assert_eq!(request(server.port, "GET", "/api/v1/me", None, None).unwrap().status, 401, "the wallet API is");
    assert_eq!(request(admin_port, "GET", "/admin/api/operators/me", None, None).unwrap().status, 401);
    assert_eq!(request(admin_port, "GET", "/metrics", None, None).unwrap().status, 200);
    assert_eq!(request(admin_port, "GET", "/ops/sign-in", None, None).unwrap().status, 200);
    assert_eq!(request(admin_port, "GET", "/api/v1/me", None, None).unwrap().status, 404, "the admin listener serves operators only");
}
