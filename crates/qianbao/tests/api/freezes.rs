//! Freezes, black-box on both backends: a frozen person sends nothing (and receives only if the freeze
//! allows it), a frozen card is charged for nothing, a frozen merchant takes no order and no payment,
//! and lifting a freeze takes a second risk operator.

use crate::support::merchant::TestMerchant;
use crate::support::*;
use serde_json::json;

const PIN: &str = "135790";

fn funded(port: u16, phone: &str, name: &str) -> Wallet {
    let w = Wallet::register(port, phone, name);
    w.set_pin(PIN);
    w.top_up("100.00", PIN);
    w
}

fn freeze(port: u16, kind: &str, id: &str, inbound_allowed: bool) -> serde_json::Value {
    let r = post(port, "/admin/api/freezes", &json!({"kind": kind, "id": id, "inbound_allowed": inbound_allowed}).to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn send(from: &Wallet, to: &Wallet, key: &str) -> Response {
    let body = json!({"to_person_id": to.id, "amount": "1.00", "currency": "CNY", "pin": PIN}).to_string();
    from.post_keyed("/api/v1/transfers", &body, key)
}

fn a_frozen_person_sends_nothing_and_receives_only_when_the_freeze_allows_it(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (alice, bob) = (funded(port, "+8613900001101", "Alice"), funded(port, "+8613900001102", "Bob"));
    alice.befriend(&bob);
    let frozen = freeze(port, "person", &alice.id, true);
    assert_eq!(frozen["frozen_by"], "operator:ops");
    let r = send(&alice, &bob, "frozen-1");
    assert_eq!((r.status, r.json()["code"].as_str()), (409, Some("ACCOUNT_FROZEN")), "{}", r.body);
    assert_eq!(alice.available("CNY"), "100.00", "nothing left the frozen wallet");
    let incoming = send(&bob, &alice, "to-frozen-1");
    assert_eq!(incoming.status, 201, "{}", incoming.body);
    let id = incoming.json()["id"].as_str().unwrap().to_string();
    let accepted = alice.post(&format!("/api/v1/transfers/{id}/accept"), "");
    assert_eq!(accepted.status, 200, "money in is allowed by this freeze: {}", accepted.body);
    assert_eq!(alice.available("CNY"), "101.00");
    // Bob's freeze stops money in as well.
    freeze(port, "person", &bob.id, false);
    let to_bob = send(&alice, &bob, "to-bob-1");
    assert_eq!(to_bob.status, 409, "Alice is still frozen: {}", to_bob.body);
    let again = post(port, "/admin/api/freezes", &json!({"kind": "person", "id": bob.id}).to_string());
    assert_eq!((again.status, again.json()["code"].as_str()), (409, Some("ALREADY_FROZEN")), "{}", again.body);
    let listed = get(port, "/admin/api/freezes").json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

fn lifting_a_freeze_takes_a_second_risk_operator(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (alice, bob) = (funded(port, "+8613900001201", "Alice"), funded(port, "+8613900001202", "Bob"));
    alice.befriend(&bob);
    let frozen = freeze(port, "person", &alice.id, false);
    let lift = post(port, &format!("/admin/api/freezes/{}/lift", frozen["id"].as_str().unwrap()), "");
    assert_eq!(lift.status, 202, "{}", lift.body);
    assert_eq!(send(&alice, &bob, "still-frozen").status, 409, "asking is not lifting");
    let approval = lift.json()["approval"]["id"].as_str().unwrap().to_string();
    let own = post(port, &format!("/admin/api/approvals/{approval}/approve"), "");
    assert_eq!(own.status, 403, "not by the one who asked: {}", own.body);
    let done = checker_request(port, "POST", &format!("/admin/api/approvals/{approval}/approve"), None);
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.json()["result"]["lifted_by"], "operator:checker");
    assert_eq!(send(&alice, &bob, "thawed").status, 201);
    assert!(get(port, "/admin/api/freezes").json().as_array().unwrap().is_empty());
}

fn a_frozen_card_is_charged_for_nothing(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let w = funded(port, "+8613900001301", "Carded");
    let card = w.get("/api/v1/cards").json()[0]["id"].as_str().unwrap().to_string();
    freeze(port, "card", &card, false);
    let body = json!({"card_id": card, "amount": "5.00", "currency": "CNY", "pin": PIN}).to_string();
    let r = w.post_keyed("/api/v1/top-ups", &body, "frozen-card-1");
    assert_eq!((r.status, r.json()["code"].as_str()), (409, Some("CARD_FROZEN")), "{}", r.body);
    assert_eq!(w.available("CNY"), "100.00");
}

fn a_frozen_merchant_takes_no_order_and_no_payment(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = TestMerchant::onboard(port, 60);
    let code = m.native_order("BEFORE0001", 300, "http://127.0.0.1:9/notify");
    freeze(port, "merchant", &m.mchid, false);
    let r = m.call("POST", "/v3/pay/transactions/native", &m.order_body("AFTER0001", 300, "http://127.0.0.1:9/notify"));
    assert_eq!((r.status, r.json()["code"].as_str()), (403, Some("NO_AUTH")), "{}", r.body);
    let payer = funded(port, "+8613900001401", "Payer");
    let paid = payer.post_keyed("/api/v1/merchant-payments", &json!({"code_url": code, "pin": PIN}).to_string(), "pay-frozen-1");
    assert_eq!((paid.status, paid.json()["code"].as_str()), (409, Some("MERCHANT_FROZEN")), "{}", paid.body);
    assert_eq!(payer.available("CNY"), "100.00");
    let unknown = post(port, "/admin/api/freezes", r#"{"kind":"merchant","id":"1234567890"}"#);
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let bad = post(port, "/admin/api/freezes", r#"{"kind":"planet","id":"1"}"#);
    assert_eq!(bad.status, 400, "{}", bad.body);
}

fn a_merchants_daily_cap_stops_payments_exactly_at_the_cap(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = TestMerchant::onboard(port, 60);
    let cap = operator_request(
        port,
        "PUT",
        &format!("/admin/api/merchants/{}/daily-cap", m.mchid),
        Some(r#"{"currency":"CNY","amount":"5.00"}"#),
    );
    assert_eq!(cap.status, 200, "{}", cap.body);
    let payer = funded(port, "+8613900001501", "Payer");
    let pay = |no: &str, total: i64| {
        let code = m.native_order(no, total, "http://127.0.0.1:9/notify");
        payer.post_keyed("/api/v1/merchant-payments", &json!({"code_url": code, "pin": PIN}).to_string(), &format!("cap-{no}"))
    };
    assert_eq!(pay("CAP0001", 300).status, 201);
    assert_eq!(pay("CAP0002", 200).status, 201, "exactly at the cap is within it");
    let over = pay("CAP0003", 1);
    assert_eq!((over.status, over.json()["code"].as_str()), (409, Some("MERCHANT_CAP_REACHED")), "{}", over.body);
    assert_eq!(payer.available("CNY"), "95.00", "the refused payment moved nothing");
    let bad =
        operator_request(port, "PUT", &format!("/admin/api/merchants/{}/daily-cap", m.mchid), Some(r#"{"currency":"CNY","amount":"-1"}"#));
    assert_eq!(bad.status, 400, "{}", bad.body);
    let removed =
        operator_request(port, "PUT", &format!("/admin/api/merchants/{}/daily-cap", m.mchid), Some(r#"{"currency":"CNY","amount":null}"#));
    assert_eq!(removed.status, 200);
    assert_eq!(pay("CAP0004", 1).status, 201, "no cap, no limit");
}

both_backends!(
    a_merchants_daily_cap_stops_payments_exactly_at_the_cap,
    a_frozen_person_sends_nothing_and_receives_only_when_the_freeze_allows_it,
    lifting_a_freeze_takes_a_second_risk_operator,
    a_frozen_card_is_charged_for_nothing,
    a_frozen_merchant_takes_no_order_and_no_payment,
);
