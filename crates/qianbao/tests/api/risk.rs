//! The risk engine, black-box on both backends: rules set by the risk role without a restart, each
//! firing and not firing, a card-testing burst stopped before the card is tried again, and a rule set
//! that does not parse refused whole.

use crate::support::*;
use serde_json::json;

const PIN: &str = "135790";

fn env_with_no_pin_threshold() -> Vec<(&'static str, &'static str)> {
    let mut settings = WALLET_ENV.to_vec();
    settings.push(("QIANBAO_NO_PIN_THRESHOLD_MINOR", "5000"));
    settings
}

fn set_rules(port: u16, rules: serde_json::Value) -> Response {
    operator_request(port, "PUT", "/admin/api/risk/rules", Some(&rules.to_string()))
}

fn people(port: u16) -> (Wallet, Wallet, Wallet) {
    let make = |phone: &str, name: &str| {
        let w = Wallet::register(port, phone, name);
        w.set_pin(PIN);
        w.top_up("100.00", PIN);
        w
    };
    let (a, b, c) = (make("+8613900001801", "Ann"), make("+8613900001802", "Ben"), make("+8613900001803", "Cai"));
    a.befriend(&b);
    a.befriend(&c);
    b.befriend(&c);
    (a, b, c)
}

fn send(from: &Wallet, to: &Wallet, amount: &str, pin: Option<&str>, key: &str) -> Response {
    let mut body = json!({"to_person_id": to.id, "amount": amount, "currency": "CNY"});
    if let Some(pin) = pin {
        body["pin"] = json!(pin);
    }
    from.post_keyed("/api/v1/transfers", &body.to_string(), key)
}

fn a_velocity_rule_declines_the_burst_and_no_one_else(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben, cai) = people(port);
    let burst = json!([{"id": "p2p-burst", "when": {"velocity": {"scope": "person", "measure": "count", "window_s": 3600, "max": 2}}, "then": "decline"}]);
    assert_eq!(set_rules(port, burst).status, 200);
    assert_eq!(send(&ann, &ben, "1.00", Some(PIN), "v1").status, 201);
    assert_eq!(send(&ann, &cai, "1.00", Some(PIN), "v2").status, 201);
    let third = send(&ann, &ben, "1.00", Some(PIN), "v3");
    assert_eq!((third.status, third.json()["code"].as_str()), (409, Some("RISK_DECLINED")), "{}", third.body);
    assert!(third.json()["message"].as_str().unwrap().contains("p2p-burst"));
    assert_eq!(ann.available("CNY"), "98.00", "the declined one moved nothing");
    assert_eq!(send(&ben, &cai, "1.00", Some(PIN), "v4").status, 201, "the rule is per person");
    // A rule set is replaced without a restart: the limit raised, Ann pays again.
    let raised = json!([{"id": "p2p-burst", "when": {"velocity": {"scope": "person", "measure": "count", "window_s": 3600, "max": 10}}, "then": "decline"}]);
    assert_eq!(set_rules(port, raised).status, 200);
    assert_eq!(send(&ann, &ben, "1.00", Some(PIN), "v5").status, 201);
    let entry = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!((entry["action"].as_str(), entry["detail"].as_str()), (Some("risk.set_rules"), Some("1 rules → 1: p2p-burst")));
}

fn an_amount_rule_counts_money_in_the_window(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben, _) = people(port);
    let rules = json!([{"id": "daily-amount", "when": {"velocity": {"scope": "payee", "measure": "amount", "window_s": 86400, "max": 3000}}, "then": "decline"}]);
    assert_eq!(set_rules(port, rules).status, 200);
    assert_eq!(send(&ann, &ben, "20.00", Some(PIN), "a1").status, 201);
    assert_eq!(send(&ann, &ben, "10.00", Some(PIN), "a2").status, 201, "exactly 30.00 is not more than 30.00");
    assert_eq!(send(&ann, &ben, "0.01", Some(PIN), "a3").json()["code"], "RISK_DECLINED");
}

fn a_new_payee_above_an_amount_needs_the_pin_under_the_no_pin_threshold(env: Env) {
    let server = env.serve_with(&[], &env_with_no_pin_threshold());
    let port = server.port;
    let (ann, ben, cai) = people(port);
    let rules = json!([{"id": "new-payee", "when": {"new_payee": {"amount_minor_over": 1000}}, "then": "step_up"}]);
    assert_eq!(set_rules(port, rules).status, 200);
    assert_eq!(send(&ann, &ben, "5.00", None, "n0").status, 201, "under the rule's amount no PIN is asked");
    let stepped = send(&ann, &cai, "20.00", None, "n1");
    assert_eq!((stepped.status, stepped.json()["code"].as_str()), (403, Some("PIN_REQUIRED")), "{}", stepped.body);
    assert_eq!(send(&ann, &cai, "20.00", Some(PIN), "n2").status, 201);
    assert_eq!(send(&ann, &cai, "20.00", None, "n3").status, 201, "Cai is not a new payee now");
}

fn a_card_testing_burst_is_stopped_before_the_card_is_tried_again(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let w = Wallet::register(port, "+8613900001901", "Tester");
    w.set_pin(PIN);
    let rules = json!([{"id": "card-testing", "when": {"velocity": {"scope": "card", "measure": "declines", "window_s": 600, "max": 2}}, "then": "decline"}]);
    assert_eq!(set_rules(port, rules).status, 200);
    let card = w.post("/api/v1/cards", r#"{"number":"4000 0000 0000 0002","exp_month":12,"exp_year":2099}"#);
    let card = card.json()["id"].as_str().unwrap().to_string();
    let top_up = |key: &str| {
        w.post_keyed("/api/v1/top-ups", &json!({"card_id": card, "amount": "1.00", "currency": "CNY", "pin": PIN}).to_string(), key)
    };
    for key in ["t1", "t2"] {
        let r = top_up(key);
        assert_eq!(r.json()["state"], "failed", "the rail declines the card: {}", r.body);
    }
    let stopped = top_up("t3");
    assert_eq!((stopped.status, stopped.json()["code"].as_str()), (409, Some("RISK_DECLINED")), "{}", stopped.body);
    let good = w.post("/api/v1/cards", r#"{"number":"4242 4242 4242 4242","exp_month":12,"exp_year":2099}"#);
    let good = good.json()["id"].as_str().unwrap().to_string();
    let r = w.post_keyed("/api/v1/top-ups", &json!({"card_id": good, "amount": "1.00", "currency": "CNY", "pin": PIN}).to_string(), "t4");
    assert_eq!(r.json()["state"], "succeeded", "another card is not under the rule: {}", r.body);
}

fn a_rule_set_that_does_not_parse_is_refused_and_the_old_one_stays(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let good = json!([{"id": "first-abroad", "when": {"first_abroad": {}}, "then": "step_up"}]);
    assert_eq!(set_rules(port, good.clone()).status, 200);
    for bad in [
        json!([{"id": "x", "when": {"velocity": {"scope": "person", "measure": "count", "window_s": 0, "max": 1}}, "then": "decline"}]),
        json!([{"id": "x", "when": {"teleport": {}}, "then": "decline"}]),
        json!({"not": "a list"}),
    ] {
        let r = set_rules(port, bad.clone());
        assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("PARAM_ERROR")), "{bad}: {}", r.body);
    }
    assert_eq!(get(port, "/admin/api/risk/rules").json(), good);
}

fn the_person_velocity_counts_red_packets_and_withdrawals_too(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben, _) = people(port);
    let rules = json!([{"id": "one-a-day", "when": {"velocity": {"scope": "person", "measure": "count", "window_s": 86400, "max": 1}}, "then": "decline"}]);
    assert_eq!(set_rules(port, rules).status, 200);
    let packet = json!({"split": "single", "to_person_id": ben.id, "currency": "CNY", "amount": "8.00", "pin": PIN}).to_string();
    let sent = ann.post_keyed("/api/v1/red-packets", &packet, "rp-1");
    assert_eq!(sent.status, 201, "{}", sent.body);
    let account = ann.post("/api/v1/bank-accounts", r#"{"bank":"ICBC","holder_name":"Ann Lee","number":"6222021234567890123"}"#);
    let id = account.json()["id"].as_str().unwrap().to_string();
    let out = ann.post_keyed(
        "/api/v1/withdrawals",
        &json!({"bank_account_id": id, "amount": "1.00", "currency": "CNY", "pin": PIN}).to_string(),
        "wd-1",
    );
    assert_eq!((out.status, out.json()["code"].as_str()), (409, Some("RISK_DECLINED")), "{}", out.body);
    let again = ann.post_keyed("/api/v1/red-packets", &packet.replace("8.00", "9.00"), "rp-2");
    assert_eq!(again.json()["code"], "RISK_DECLINED", "{}", again.body);
}

both_backends!(
    the_person_velocity_counts_red_packets_and_withdrawals_too,
    a_velocity_rule_declines_the_burst_and_no_one_else,
    an_amount_rule_counts_money_in_the_window,
    a_new_payee_above_an_amount_needs_the_pin_under_the_no_pin_threshold,
    a_card_testing_burst_is_stopped_before_the_card_is_tried_again,
    a_rule_set_that_does_not_parse_is_refused_and_the_old_one_stays,
);
