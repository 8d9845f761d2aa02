//! People's data, black-box on both backends: a person downloads everything Qianbao holds about them,
//! and nothing of anyone else.

use crate::support::*;
use serde_json::json;

fn a_persons_export_holds_everything_about_them_and_nothing_of_anyone_else(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let alice = Wallet::register(port, "+8613900001501", "Alice");
    alice.set_pin("135790");
    alice.top_up("50.00", "135790");
    let kyc = r#"{"legal_name":"Alice Wang","document_type":"cn_resident_id","document_number":"11010519491231002X"}"#;
    assert_eq!(alice.post("/api/v1/me/kyc", kyc).status, 200);
    let bob = Wallet::register(port, "+8613900001502", "Bob");
    let bob_kyc = r#"{"legal_name":"Robert Li","document_type":"hk_id","document_number":"A123456(3)"}"#;
    let r = bob.post("/api/v1/me/kyc", bob_kyc);
    assert_eq!(r.status, 200, "{}", r.body);
    let bank = r#"{"bank":"ICBC","holder_name":"Robert Li","number":"6222029876543210777"}"#;
    assert_eq!(bob.post("/api/v1/bank-accounts", bank).status, 201);
    alice.befriend(&bob);
    let sent = alice.post_keyed(
        "/api/v1/transfers",
        &json!({"to_person_id": bob.id, "amount": "1.25", "currency": "CNY", "pin": "135790"}).to_string(),
        "export-1",
    );
    assert_eq!(sent.status, 201, "{}", sent.body);
    let tier = post(port, &format!("/admin/api/people/{}/kyc", alice.id), r#"{"tier":2}"#);
    assert_eq!(tier.status, 200, "{}", tier.body);

    let r = alice.get("/api/v1/me/export");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-disposition").unwrap().starts_with("attachment"), "a download");
    let data = r.json();
    assert_eq!(data["person"]["phone"], "+8613900001501");
    assert_eq!(data["kyc"]["legal_name"], "Alice Wang");
    assert_eq!(data["kyc"]["document"], "cn_resident_id:11010519491231002X");
    assert_eq!(data["cards"].as_array().unwrap().len(), 1);
    let kinds: Vec<&str> = data["history"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"transfer_out") && kinds.contains(&"top_up"), "{kinds:?}");
    assert_eq!(data["friends"][0]["display_name"], "Bob");
    assert_eq!(data["history_complete"], true);
    let actions: Vec<&str> = data["operator_actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["people.set_kyc_tier"], "what operators did about her");
    // Bob's bank account is named by its last four as a field (bare digits could be part of any id).
    for theirs in ["+8613900001502", "Robert Li", "A123456", r#""last4":"0777""#, "ICBC"] {
        assert!(!r.body.contains(theirs), "nothing of Bob's: {theirs} in {}", r.body);
    }
    assert_eq!(request(port, "GET", "/api/v1/me/export", None, None).unwrap().status, 401);
}

fn a_wallet_closes_only_when_empty_and_its_personal_data_is_erased_after_retention(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let full = Wallet::register(port, "+8613900002101", "Full");
    full.set_pin("135790");
    full.top_up("1.00", "135790");
    let refused = full.post("/api/v1/me/close", r#"{"pin":"135790"}"#);
    assert_eq!((refused.status, refused.json()["code"].as_str()), (409, Some("BALANCE_REMAINS")), "{}", refused.body);
    assert_eq!(full.get("/api/v1/me").status, 200, "still open");
    let empty = Wallet::register(port, "+8613900002102", "Empty");
    empty.set_pin("135790");
    assert_eq!(empty.post("/api/v1/me/close", r#"{"pin":"000000"}"#).status, 403, "the PIN guards it");
    let closed = empty.post("/api/v1/me/close", r#"{"pin":"135790"}"#);
    assert_eq!(closed.status, 200, "{}", closed.body);
    assert_eq!(empty.get("/api/v1/me").status, 401, "its sessions ended");
    let again =
        request(port, "POST", "/api/v1/sessions", None, Some(r#"{"phone":"+8613900002102","password":"correct horse battery"}"#)).unwrap();
    assert_eq!(
        (again.status, again.json()["code"].as_str()),
        (409, Some("SIGN_IN_FAILED")),
        "a closed wallet does not sign in: {}",
        again.body
    );
    let taken = request(
        port,
        "POST",
        "/api/v1/people",
        None,
        Some(r#"{"phone":"+8613900002102","password":"qianbao-demo","region":"CN","display_name":"New"}"#),
    )
    .unwrap();
    assert_eq!(taken.status, 409, "the number is kept through the retention period: {}", taken.body);
    advance_clock(port, 5 * 365 * 86_400 + 60);
    std::thread::sleep(std::time::Duration::from_millis(2_500)); // the deadline sweep erases it
    let fresh = request(
        port,
        "POST",
        "/api/v1/people",
        None,
        Some(r#"{"phone":"+8613900002102","password":"qianbao-demo","region":"CN","display_name":"New"}"#),
    )
    .unwrap();
    assert_eq!(fresh.status, 201, "erased: the number may register again: {}", fresh.body);
    assert_ne!(fresh.json()["id"], empty.id.as_str(), "a new person, not the old one");
}

both_backends!(
    a_persons_export_holds_everything_about_them_and_nothing_of_anyone_else,
    a_wallet_closes_only_when_empty_and_its_personal_data_is_erased_after_retention,
);
