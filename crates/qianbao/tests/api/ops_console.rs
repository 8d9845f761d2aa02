//! The operator console over HTTP, as a browser without JavaScript uses it: operators sign in by name,
//! read the dashboard, decide four-eyes requests after confirming, look people up (masked for support)
//! and set a KYC tier (risk), read the audit log, and verify the ledger on demand.

use super::console::{Console, shop, sign_in_form};
use crate::support::*;

/// The operator console as a browser: an operator signed in through its form.
struct Ops;

impl Ops {
    fn sign_in(port: u16, username: &str, password: &str) -> Result<Console, Response> {
        let fields = [("username", username), ("password", password), ("totp", "")];
        sign_in_form(port, "/ops/sign-in", ("qb_opre", "qb_ops"), &fields)
    }
}

fn an_operator_signs_in_and_the_dashboard_shows_the_days_payments_and_waiting_work(env: Env) {
    let (server, _m) = shop(&env);
    let port = server.port;
    assert_eq!(request(port, "GET", "/ops", None, None).unwrap().status, 303, "signed out: to the sign-in page");
    let wrong = Ops::sign_in(port, "ops", "not-the-password").err().expect("refused");
    assert_eq!(wrong.status, 401);
    operators(port);
    let ops = Ops::sign_in(port, "ops", OPERATOR_PASSWORD).unwrap_or_else(|r| panic!("{}", r.body));
    let asked = post(port, "/admin/api/fx/markups", r#"{"channel":"payment","markup_bps":60}"#);
    assert_eq!(asked.status, 405, "markups are PUT");
    let asked = operator_request(port, "PUT", "/admin/api/fx/markups", Some(r#"{"channel":"payment","markup_bps":60}"#));
    assert_eq!(asked.status, 202, "{}", asked.body);
    let page = ops.get("/ops");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<td>CNY</td><td>1</td><td>12.34</td>"), "today's payments: {}", page.body);
    assert!(page.body.contains(r#"<a href="/ops/approvals">1</a>"#), "one request waits: {}", page.body);
}

fn a_second_operator_approves_a_correction_in_the_console_after_confirming(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let accounts = r#"[{"id":"1","currency":"CNY","code":2},{"id":"2","currency":"CNY","code":1}]"#;
    assert_eq!(post(port, "/admin/api/ledger/accounts", accounts).status, 200);
    let body = r#"[{"id":"5","debit_account_id":"1","credit_account_id":"2","amount":250,"currency":"CNY","code":1}]"#;
    let asked = post(port, "/admin/api/ledger/transfers", body);
    let id = asked.json()["approval"]["id"].as_str().unwrap().to_string();
    let own = Ops::sign_in(port, "ops", OPERATOR_PASSWORD).unwrap();
    assert!(!own.get("/ops/approvals").body.contains(r#"value="approve""#), "the one who asked gets no approve button");
    let checker = Ops::sign_in(port, "checker", OPERATOR_PASSWORD).unwrap();
    let list = checker.get("/ops/approvals");
    assert!(list.body.contains("transfer 5: 1 → 2, CNY 2.50"), "{}", list.body);
    let path = format!("/ops/approvals/{id}");
    let no_reason = checker.post("/ops/approvals", &path, &[("decision", "approve"), ("reason", "")]);
    assert!(no_reason.body.contains(r#"id="decide-error""#), "a reason is required: {}", no_reason.body);
    let confirm = checker.post("/ops/approvals", &path, &[("decision", "approve"), ("reason", "month-end fix")]);
    assert!(confirm.body.contains(r#"id="confirm-decision""#), "{}", confirm.body);
    assert_eq!(get(port, "/admin/api/ledger/accounts/2").json()["credits_posted"], 0, "nothing moves before confirming");
    let done = checker.post("/ops/approvals", &path, &[("decision", "approve"), ("reason", "month-end fix"), ("confirm", "yes")]);
    assert_eq!((done.status, done.header("location")), (303, Some("/ops/approvals?done=approved")), "{}", done.body);
    assert_eq!(get(port, "/admin/api/ledger/accounts/2").json()["credits_posted"], 250);
    let entry = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!((entry["actor"].as_str(), entry["reason"].as_str()), (Some("operator:checker"), Some("month-end fix")));
}

fn support_sees_people_masked_and_risk_sets_a_tier_after_confirming(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let person = Wallet::register(port, "+8613900000931", "Lin");
    let support = r#"{"username":"helpdesk","password":"test-operator-password","roles":["support"]}"#;
    assert_eq!(post(port, "/admin/api/operators", support).status, 200);
    let helpdesk = Ops::sign_in(port, "helpdesk", OPERATOR_PASSWORD).unwrap();
    let seen = helpdesk.get("/ops/people?phone=%2B8613900000931");
    assert!(seen.body.contains("+86•••••••0931") && !seen.body.contains("+8613900000931</code>"), "masked: {}", seen.body);
    assert!(!seen.body.contains(r#"id="set-tier""#), "support changes nothing");
    assert_eq!(helpdesk.get("/ops/audit").status, 403, "the audit log is for admin and risk");
    let risk = Ops::sign_in(port, "ops", OPERATOR_PASSWORD).unwrap();
    let from = "/ops/people?phone=%2B8613900000931";
    let path = format!("/ops/people/{}/kyc", person.id);
    let confirm = risk.post(from, &path, &[("tier", "2"), ("reason", "documents checked at the branch")]);
    assert!(confirm.body.contains(r#"id="confirm-tier""#), "{}", confirm.body);
    let done = risk.post(from, &path, &[("tier", "2"), ("reason", "documents checked at the branch"), ("confirm", "yes")]);
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(risk.get(from).body.contains(r#"<strong id="kyc-tier">2</strong>"#));
    let audit = risk.get("/ops/audit").body;
    assert!(
        audit.contains("people.set_kyc_tier") && audit.contains("tier 0 → 2") && audit.contains("documents checked at the branch"),
        "{audit}"
    );
    assert!(audit.contains("people.read") && audit.contains("operator:helpdesk"), "reading a person is audited: {audit}");
}

fn finance_verifies_the_ledger_from_the_dashboard(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let w = Wallet::register(port, "+8613900000941", "Verifier");
    w.set_pin("135790");
    w.top_up("10.00", "135790");
    operators(port);
    let finance = Ops::sign_in(port, "checker", OPERATOR_PASSWORD).unwrap();
    let r = finance.post("/ops", "/ops/verify", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#"id="verified" class="notice""#), "{}", r.body);
}

fn risk_releases_a_held_transfer_from_the_review_queue_after_confirming(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (ann, ben) = (Wallet::register(port, "+8613900000951", "Ann"), Wallet::register(port, "+8613900000952", "Ben"));
    ann.set_pin("135790");
    ann.top_up("100.00", "135790");
    ann.befriend(&ben);
    let rules = r#"[{"id":"hold-new-payee","when":{"new_payee":{"amount_minor_over":1000}},"then":"hold"}]"#;
    assert_eq!(operator_request(port, "PUT", "/admin/api/risk/rules", Some(rules)).status, 200);
    let sent =
        ann.post("/api/v1/transfers", &format!(r#"{{"to_person_id":"{}","amount":"20.00","currency":"CNY","pin":"135790"}}"#, ben.id));
    assert_eq!(sent.json()["state"], "held", "{}", sent.body);
    let id = sent.json()["id"].as_str().unwrap().to_string();
    let support = r#"{"username":"helpdesk","password":"test-operator-password","roles":["support"]}"#;
    assert_eq!(post(port, "/admin/api/operators", support).status, 200);
    let helpdesk = Ops::sign_in(port, "helpdesk", OPERATOR_PASSWORD).unwrap();
    assert_eq!(helpdesk.get("/ops/reviews").status, 403, "the queue is the risk role's");
    let risk = Ops::sign_in(port, "ops", OPERATOR_PASSWORD).unwrap();
    let queue = risk.get("/ops/reviews");
    assert!(queue.body.contains(&format!(r#"id="review-{id}""#)) && queue.body.contains("hold-new-payee"), "{}", queue.body);
    assert!(queue.body.contains("20.00 CNY"), "{}", queue.body);
    let path = format!("/ops/reviews/{id}");
    let confirm = risk.post("/ops/reviews", &path, &[("decision", "release"), ("reason", "called the sender")]);
    assert!(confirm.body.contains(r#"id="confirm-decision""#), "{}", confirm.body);
    assert_eq!(ben.get(&format!("/api/v1/transfers/{id}")).json()["state"], "held", "nothing moves before confirming");
    let done = risk.post("/ops/reviews", &path, &[("decision", "release"), ("reason", "called the sender"), ("confirm", "yes")]);
    assert_eq!((done.status, done.header("location")), (303, Some("/ops/reviews?done=released")), "{}", done.body);
    assert_eq!(ben.get(&format!("/api/v1/transfers/{id}")).json()["state"], "pending", "Ben may accept it now");
    let again = risk.post("/ops/reviews", &path, &[("decision", "return"), ("reason", "changed my mind"), ("confirm", "yes")]);
    assert!(again.body.contains(r#"id="decide-error""#), "decided once: {}", again.body);
    let entry = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!((entry["action"].as_str(), entry["reason"].as_str()), (Some("risk.review.released"), Some("called the sender")));
}

fn an_operator_rotates_the_platform_certificate_and_moves_the_sandbox_clock_after_confirming(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    operators(port);
    let ops = Ops::sign_in(port, "ops", OPERATOR_PASSWORD).unwrap();
    let page = ops.get("/ops/operations");
    assert!(page.body.contains(r#"id="platform-keys""#) && page.body.contains(r#"id="advance-clock""#), "{}", page.body);
    let unticked = ops.post("/ops/operations", "/ops/operations/rotate", &[("reason", "yearly rotation")]);
    assert!(unticked.body.contains(r#"id="operation-error""#), "the confirmation must be ticked: {}", unticked.body);
    assert_eq!(get(port, "/admin/api/platform-keys").json()["certificates"].as_array().unwrap().len(), 1, "nothing rotated");
    let rotated = ops.post("/ops/operations", "/ops/operations/rotate", &[("reason", "yearly rotation"), ("confirm", "yes")]);
    assert!(rotated.body.contains(r#"id="notice""#) && rotated.body.contains("New certificate"), "{}", rotated.body);
    assert_eq!(get(port, "/admin/api/platform-keys").json()["certificates"].as_array().unwrap().len(), 2);
    let entry = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!((entry["action"].as_str(), entry["reason"].as_str()), (Some("platform_keys.rotate"), Some("yearly rotation")));
    let before = post(port, "/admin/api/sandbox/clock", r#"{"advance_s":0}"#).json()["now_ms"].as_i64().unwrap();
    let moved =
        ops.post("/ops/operations", "/ops/operations/clock", &[("advance_s", "3600"), ("reason", "testing expiry"), ("confirm", "yes")]);
    assert!(moved.body.contains("The clock moved"), "{}", moved.body);
    let after = post(port, "/admin/api/sandbox/clock", r#"{"advance_s":0}"#).json()["now_ms"].as_i64().unwrap();
    assert_eq!(after - before, 3_600_000);
    let too_far =
        ops.post("/ops/operations", "/ops/operations/clock", &[("advance_s", "999999"), ("reason", "testing expiry"), ("confirm", "yes")]);
    assert!(too_far.body.contains(r#"id="operation-error""#), "{}", too_far.body);
    let support = r#"{"username":"helpdesk","password":"test-operator-password","roles":["support"]}"#;
    assert_eq!(post(port, "/admin/api/operators", support).status, 200);
    let helpdesk = Ops::sign_in(port, "helpdesk", OPERATOR_PASSWORD).unwrap();
    assert_eq!(helpdesk.get("/ops/operations").status, 403);
}

fn an_operator_retires_the_old_platform_certificate_after_a_rotation(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    operators(port);
    let ops = Ops::sign_in(port, "ops", OPERATOR_PASSWORD).unwrap();
    assert!(!ops.get("/ops/operations").body.contains(r#"id="retire""#), "the only certificate cannot be retired");
    let old = get(port, "/admin/api/platform-keys").json()["certificates"][0]["serial_no"].as_str().unwrap().to_string();
    ops.post("/ops/operations", "/ops/operations/rotate", &[("reason", "yearly rotation"), ("confirm", "yes")]);
    let page = ops.get("/ops/operations").body;
    assert!(page.contains(r#"id="retire""#) && page.contains(&format!(r#"<option value="{old}">"#)), "{page}");
    let retired =
        ops.post("/ops/operations", "/ops/operations/retire", &[("serial", &old), ("reason", "merchants switched"), ("confirm", "yes")]);
    assert!(retired.body.contains("Retired"), "{}", retired.body);
    let left = get(port, "/admin/api/platform-keys").json()["certificates"].clone();
    assert!(left.as_array().unwrap().iter().all(|k| k["serial_no"] != old.as_str()), "{left}");
    let entry = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!((entry["action"].as_str(), entry["reason"].as_str()), (Some("platform_keys.retire"), Some("merchants switched")));
}

fn an_operator_onboards_a_service_providers_sub_merchant_after_confirming(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    operators(port);
    let provider = crate::support::merchant::TestMerchant::onboard_as(port, 60, "service_provider");
    let ops = Ops::sign_in(port, "ops", OPERATOR_PASSWORD).unwrap();
    fn fields(parent: &str) -> Vec<(&'static str, &str)> {
        let mut f = vec![("name", "Harbour Tea"), ("kind", "sub_merchant"), ("mcc", "5814"), ("country", "HK")];
        f.extend([("settlement_currency", "HKD"), ("fee_bps", "50"), ("settlement_account", "HSBC-1"), ("reason", "provider's request")]);
        f.push(("parent_mchid", parent));
        f
    }
    let orphan = ops.post("/ops/merchants", "/ops/merchants", &[fields("").as_slice(), &[("confirm", "yes")]].concat());
    assert!(orphan.body.contains(r#"id="onboard-error""#) && orphan.body.contains("service provider"), "{}", orphan.body);
    let confirm = ops.post("/ops/merchants", "/ops/merchants", &fields(&provider.mchid));
    assert!(confirm.body.contains(&provider.mchid) && confirm.body.contains(r#"id="confirm-onboard""#), "{}", confirm.body);
    let made = ops.post("/ops/merchants", "/ops/merchants", &[fields(&provider.mchid).as_slice(), &[("confirm", "yes")]].concat());
    assert!(made.body.contains(r#"id="made-mchid""#), "{}", made.body);
    let mchid =
        super::console::field(&made.body.replace(r#"<code id="made-mchid">"#, r#"name="made" value=""#).replace("</code>", "\""), "made");
    let merchant = get(port, &format!("/admin/api/merchants/{mchid}")).json();
    assert_eq!(
        (merchant["kind"].as_str(), merchant["parent_mchid"].as_str()),
        (Some("sub_merchant"), Some(provider.mchid.as_str())),
        "{merchant}"
    );
}

fn an_operator_registers_a_charity_after_ticking_the_confirmation(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    operators(port);
    let m = crate::support::merchant::TestMerchant::onboard_in(port, 0, "direct", "HK", "HKD");
    let ops = Ops::sign_in(port, "ops", OPERATOR_PASSWORD).unwrap();
    let fields = [("mchid", m.mchid.as_str()), ("charity_number", "91/12345"), ("jurisdiction", "HK"), ("reason", "registry checked")];
    let unticked = ops.post("/ops/merchants", "/ops/charities", &fields);
    assert!(unticked.body.contains(r#"id="charity-error""#), "{}", unticked.body);
    assert_eq!(get(port, &format!("/admin/api/charities/{}", m.mchid)).status, 404, "nothing registered");
    let made = ops.post("/ops/merchants", "/ops/charities", &[fields.as_slice(), &[("confirm", "yes")]].concat());
    assert!(made.body.contains(r#"id="charity-made""#) && made.body.contains("12345 (HK)"), "{}", made.body);
    let charity = get(port, &format!("/admin/api/charities/{}", m.mchid)).json();
    assert_eq!((charity["charity_number"].as_str(), charity["fee_bps"].as_i64()), (Some("91/12345"), Some(0)), "{charity}");
    let entry = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!((entry["action"].as_str(), entry["reason"].as_str()), (Some("charities.register"), Some("registry checked")));
    let twice = ops.post("/ops/merchants", "/ops/charities", &[fields.as_slice(), &[("confirm", "yes")]].concat());
    assert!(twice.body.contains(r#"id="charity-error""#), "registered once: {}", twice.body);
}

both_backends!(
    an_operator_registers_a_charity_after_ticking_the_confirmation,
    an_operator_retires_the_old_platform_certificate_after_a_rotation,
    an_operator_onboards_a_service_providers_sub_merchant_after_confirming,
    an_operator_rotates_the_platform_certificate_and_moves_the_sandbox_clock_after_confirming,
    risk_releases_a_held_transfer_from_the_review_queue_after_confirming,
    an_operator_signs_in_and_the_dashboard_shows_the_days_payments_and_waiting_work,
    a_second_operator_approves_a_correction_in_the_console_after_confirming,
    support_sees_people_masked_and_risk_sets_a_tier_after_confirming,
    finance_verifies_the_ledger_from_the_dashboard,
);
