//! The risk engine, black-box on both backends: rules set by the risk role without a restart, each
//! firing and not firing, a card-testing burst stopped before the card is tried again, a rule set that
//! does not parse refused whole, and holds for review: the money held until a reviewer releases it or
//! returns it, or the deadline returns it.

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

fn review_queue(port: u16) -> Vec<serde_json::Value> {
    let r = get(port, "/admin/api/risk/reviews");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().unwrap().clone()
}

fn hold_new_payees(port: u16) {
    let rules = json!([{"id": "hold-new-payee", "when": {"new_payee": {"amount_minor_over": 1000}}, "then": "hold"}]);
    assert_eq!(set_rules(port, rules).status, 200);
}

fn a_held_transfer_waits_for_a_reviewer_and_a_release_lets_the_friend_accept(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben, _) = people(port);
    hold_new_payees(port);
    let sent = send(&ann, &ben, "20.00", Some(PIN), "h1");
    assert_eq!((sent.status, sent.json()["state"].as_str()), (201, Some("held")), "{}", sent.body);
    let id = sent.json()["id"].as_str().unwrap().to_string();
    assert_eq!(ann.available("CNY"), "80.00", "the money is held at once");
    let early = ben.post(&format!("/api/v1/transfers/{id}/accept"), "{}");
    assert_eq!((early.status, early.json()["code"].as_str()), (409, Some("HELD_FOR_REVIEW")), "{}", early.body);
    let queue = review_queue(port);
    assert_eq!(queue.len(), 1);
    let review = &queue[0];
    assert_eq!(
        (review["id"].as_str(), review["kind"].as_str(), review["rule"].as_str()),
        (Some(id.as_str()), Some("transfer"), Some("hold-new-payee"))
    );
    assert_eq!(
        (review["evidence"]["attempt"]["amount_minor"].as_i64(), review["evidence"]["attempt"]["new_payee"].as_bool()),
        (Some(2000), Some(true))
    );
    let released = post(port, &format!("/admin/api/risk/reviews/{id}/release"), "{}");
    assert_eq!((released.status, released.json()["state"].as_str()), (200, Some("released")), "{}", released.body);
    assert_eq!(ben.get(&format!("/api/v1/transfers/{id}")).json()["state"], "pending");
    assert_eq!(ben.post(&format!("/api/v1/transfers/{id}/accept"), "{}").json()["state"], "accepted");
    assert_eq!(ben.available("CNY"), "120.00");
    assert!(review_queue(port).is_empty(), "the queue is empty again");
    let entry = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!((entry["action"].as_str(), entry["reason"].as_str()), (Some("risk.review.released"), Some("test case")));
}

fn a_returned_transfer_gives_the_money_back_once_and_cannot_be_accepted(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben, cai) = people(port);
    hold_new_payees(port);
    let id = send(&ann, &ben, "20.00", Some(PIN), "r1").json()["id"].as_str().unwrap().to_string();
    assert_eq!(send(&ann, &cai, "5.00", Some(PIN), "r2").json()["state"], "pending", "under the rule's amount: not held");
    let returned = post(port, &format!("/admin/api/risk/reviews/{id}/return"), "{}");
    assert_eq!((returned.status, returned.json()["state"].as_str()), (200, Some("returned")), "{}", returned.body);
    assert_eq!(ann.available("CNY"), "95.00", "the 20.00 came back, the 5.00 to Cai is on its way");
    assert_eq!(ann.get(&format!("/api/v1/transfers/{id}")).json()["state"], "returned");
    let late = ben.post(&format!("/api/v1/transfers/{id}/accept"), "{}");
    assert_eq!(late.status, 409, "{}", late.body);
    let again = post(port, &format!("/admin/api/risk/reviews/{id}/release"), "{}");
    assert_eq!((again.status, again.json()["code"].as_str()), (409, Some("REVIEW_DECIDED")), "{}", again.body);
    assert_eq!(ann.available("CNY"), "95.00", "decided once: nothing moved again");
}

fn add_bank_account(w: &Wallet) -> String {
    let account = w.post("/api/v1/bank-accounts", r#"{"bank":"ICBC","holder_name":"Ann Lee","number":"6222021234567890123"}"#);
    account.json()["id"].as_str().unwrap().to_string()
}

fn withdraw(w: &Wallet, account: &str, amount: &str, key: &str) -> Response {
    w.post_keyed(
        "/api/v1/withdrawals",
        &json!({"bank_account_id": account, "amount": amount, "currency": "CNY", "pin": PIN}).to_string(),
        key,
    )
}

fn a_withdrawal_after_money_in_from_strangers_is_held_and_goes_to_the_bank_once_released(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben, cai) = people(port);
    let mule = json!([{"id": "mule", "when": {"mule": {"strangers_min": 2, "window_s": 3600}}, "then": "hold"}]);
    assert_eq!(set_rules(port, mule).status, 200);
    let account = add_bank_account(&ann);
    let from_ben = send(&ben, &ann, "30.00", Some(PIN), "m1").json()["id"].as_str().unwrap().to_string();
    assert_eq!(ann.post(&format!("/api/v1/transfers/{from_ben}/accept"), "{}").json()["state"], "accepted");
    let one = withdraw(&ann, &account, "10.00", "w1");
    assert_eq!(one.json()["state"], "pending", "one stranger is not the pattern: {}", one.body);
    let from_cai = send(&cai, &ann, "30.00", Some(PIN), "m2").json()["id"].as_str().unwrap().to_string();
    assert_eq!(ann.post(&format!("/api/v1/transfers/{from_cai}/accept"), "{}").json()["state"], "accepted");
    let held = withdraw(&ann, &account, "140.00", "w2");
    assert_eq!((held.status, held.json()["state"].as_str()), (201, Some("held")), "{}", held.body);
    let id = held.json()["id"].as_str().unwrap().to_string();
    advance_clock(port, 5);
    assert_eq!(ann.get(&format!("/api/v1/withdrawals/{id}")).json()["state"], "held", "the bank is not asked while held");
    assert_eq!(ann.available("CNY"), "10.00");
    assert_eq!(review_queue(port)[0]["evidence"]["last_24h"]["strangers_paying_in"], 2);
    let released = post(port, &format!("/admin/api/risk/reviews/{id}/release"), "{}");
    assert_eq!(released.json()["state"], "released", "{}", released.body);
    advance_clock(port, 5);
    assert_eq!(ann.get(&format!("/api/v1/withdrawals/{id}")).json()["state"], "succeeded");
    assert_eq!(ann.available("CNY"), "10.00");
}

fn a_held_withdrawal_not_reviewed_in_time_returns_the_money(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, _, _) = people(port);
    let rules = json!([{"id": "big-out", "when": {"velocity": {"scope": "person", "measure": "amount", "window_s": 86400, "max": 5000}}, "then": "hold"}]);
    assert_eq!(set_rules(port, rules).status, 200);
    let account = add_bank_account(&ann);
    let held = withdraw(&ann, &account, "60.00", "t1");
    assert_eq!(held.json()["state"], "held", "{}", held.body);
    let id = held.json()["id"].as_str().unwrap().to_string();
    advance_clock(port, 23 * 3600);
    let w = ann.get(&format!("/api/v1/withdrawals/{id}")).json();
    assert_eq!(w["state"], "held", "a day to review it: {w} {}", get(port, &format!("/admin/api/risk/reviews/{id}")).body);
    advance_clock(port, 3600);
    let done = ann.get(&format!("/api/v1/withdrawals/{id}")).json();
    assert_eq!((done["state"].as_str(), done["failure"].as_str()), (Some("failed"), Some("returned by a risk review")));
    assert_eq!(ann.available("CNY"), "100.00", "the money came back");
    let review = get(port, &format!("/admin/api/risk/reviews/{id}")).json();
    assert_eq!((review["state"].as_str(), review["decided_by"].as_str()), (Some("expired"), Some("operator:review-timeout")));
}

fn an_amount_far_above_the_persons_usual_is_held(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben, _) = people(port);
    ann.top_up("500.00", PIN);
    let rules = json!([{"id": "anomaly", "when": {"amount_anomaly": {"times": 5, "history_min": 3}}, "then": "hold"}]);
    assert_eq!(set_rules(port, rules).status, 200);
    for key in ["u1", "u2"] {
        assert_eq!(send(&ann, &ben, "2.00", Some(PIN), key).json()["state"], "pending");
    }
    assert_eq!(send(&ann, &ben, "50.00", Some(PIN), "u3").json()["state"], "pending", "two movements are not a history yet");
    // Ann's usual (top-ups are money in, not counted): (2 + 2 + 50) / 3 = 18.00.
    assert_eq!(send(&ann, &ben, "90.00", Some(PIN), "u4").json()["state"], "pending", "exactly 5 times the usual is not more");
    // Now (2 + 2 + 50 + 90) / 4 = 36.00.
    let held = send(&ann, &ben, "180.01", Some(PIN), "u5");
    assert_eq!(held.json()["state"], "held", "{}", held.body);
    assert_eq!(review_queue(port)[0]["rule"], "anomaly");
}

fn an_address_velocity_rule_counts_every_person_behind_one_address(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben, cai) = people(port);
    let rules = json!([{"id": "one-address", "when": {"velocity": {"scope": "ip", "measure": "count", "window_s": 600, "max": 2}}, "then": "decline"}]);
    assert_eq!(set_rules(port, rules).status, 200);
    assert_eq!(send(&ann, &ben, "1.00", Some(PIN), "i1").status, 201);
    assert_eq!(send(&ben, &cai, "1.00", Some(PIN), "i2").status, 201);
    let third = send(&cai, &ann, "1.00", Some(PIN), "i3");
    assert_eq!(
        (third.status, third.json()["code"].as_str()),
        (409, Some("RISK_DECLINED")),
        "another person, the same address: {}",
        third.body
    );
}

fn a_hold_on_a_payment_that_cannot_wait_is_a_decline(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben, _) = people(port);
    let rules = json!([{"id": "hold-all", "when": {"velocity": {"scope": "person", "measure": "count", "window_s": 60, "max": 0}}, "then": "hold"}]);
    assert_eq!(set_rules(port, rules).status, 200);
    let packet = json!({"split": "single", "to_person_id": ben.id, "currency": "CNY", "amount": "8.00", "pin": PIN}).to_string();
    let r = ann.post_keyed("/api/v1/red-packets", &packet, "p1");
    assert_eq!((r.status, r.json()["code"].as_str()), (409, Some("RISK_DECLINED")), "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("cannot wait"), "{}", r.body);
    assert_eq!(ann.available("CNY"), "100.00");
}

both_backends!(
    a_held_transfer_waits_for_a_reviewer_and_a_release_lets_the_friend_accept,
    a_returned_transfer_gives_the_money_back_once_and_cannot_be_accepted,
    a_withdrawal_after_money_in_from_strangers_is_held_and_goes_to_the_bank_once_released,
    a_held_withdrawal_not_reviewed_in_time_returns_the_money,
    an_amount_far_above_the_persons_usual_is_held,
    an_address_velocity_rule_counts_every_person_behind_one_address,
    a_hold_on_a_payment_that_cannot_wait_is_a_decline,
    the_person_velocity_counts_red_packets_and_withdrawals_too,
    a_velocity_rule_declines_the_burst_and_no_one_else,
    an_amount_rule_counts_money_in_the_window,
    a_new_payee_above_an_amount_needs_the_pin_under_the_no_pin_threshold,
    a_card_testing_burst_is_stopped_before_the_card_is_tried_again,
    a_rule_set_that_does_not_parse_is_refused_and_the_old_one_stays,
);
