//! Operators and their roles, black-box on both backends: every operator route against every role (the
//! table below is the specification; it must list exactly the server's routes), the bootstrap token's one
//! use, sessions, the TOTP second factor, and four eyes on ledger corrections and markups.

use crate::support::*;
use serde_json::Value;

/// Every operator route and who may call it: `public`, `bootstrap`, `own` (any operator, about
/// themselves), `signed` (any operator) or the roles. A route the server has and this table lacks, or
/// the other way round, fails `the_table_lists_exactly_the_servers_operator_routes`.
const ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/admin/api/bootstrap", "bootstrap"),
    ("POST", "/admin/api/sessions", "public"),
    ("DELETE", "/admin/api/sessions/current", "own"),
    ("GET", "/admin/api/operators/me", "own"),
    ("POST", "/admin/api/operators/me/totp", "own"),
    ("POST", "/admin/api/operators/me/totp/confirm", "own"),
    ("GET", "/admin/api/operators", "admin"),
    ("POST", "/admin/api/operators", "admin"),
    ("PUT", "/admin/api/operators/{username}/roles", "admin"),
    ("PUT", "/admin/api/operators/{username}/disabled", "admin"),
    ("GET", "/admin/api/approvals", "signed"),
    ("GET", "/admin/api/approvals/{id}", "signed"),
    ("POST", "/admin/api/approvals/{id}/approve", "signed"),
    ("POST", "/admin/api/approvals/{id}/reject", "signed"),
    ("POST", "/admin/api/ledger/accounts", "finance"),
    ("POST", "/admin/api/ledger/transfers", "finance"),
    ("GET", "/admin/api/ledger/accounts/{id}", "finance risk support"),
    ("GET", "/admin/api/ledger/transfers/{id}", "finance risk support"),
    ("POST", "/admin/api/sandbox/clock", "operator"),
    ("POST", "/admin/api/people/{id}/kyc", "risk"),
    ("POST", "/admin/api/freezes", "risk"),
    ("GET", "/admin/api/freezes", "risk support"),
    ("POST", "/admin/api/freezes/{id}/lift", "risk"),
    ("PUT", "/admin/api/merchants/{mchid}/daily-cap", "risk"),
    ("GET", "/admin/api/risk/rules", "risk"),
    ("PUT", "/admin/api/risk/rules", "risk"),
    ("GET", "/admin/api/risk/reviews", "risk"),
    ("GET", "/admin/api/risk/reviews/{id}", "risk"),
    ("POST", "/admin/api/risk/reviews/{id}/release", "risk"),
    ("POST", "/admin/api/risk/reviews/{id}/return", "risk"),
    ("POST", "/admin/api/screening/lists/{list}", "risk"),
    ("GET", "/admin/api/screening/hits", "risk"),
    ("POST", "/admin/api/screening/hits/{id}", "risk"),
    ("GET", "/admin/api/audit", "admin risk"),
    ("POST", "/admin/api/merchants", "operator"),
    ("POST", "/admin/api/charities", "operator"),
    ("GET", "/admin/api/charities/{mchid}", "operator finance risk support"),
    ("PUT", "/admin/api/charities/{mchid}/state", "operator risk"),
    ("GET", "/admin/api/campaigns/{id}/reconciliation", "finance risk"),
    ("POST", "/admin/api/donations/{id}/chargeback", "finance"),
    ("GET", "/admin/api/merchants/{mchid}", "operator finance risk support"),
    ("POST", "/admin/api/merchants/{mchid}/refunds", "finance"),
    ("POST", "/admin/api/merchants/{mchid}/keys", "operator"),
    ("DELETE", "/admin/api/merchants/{mchid}/keys/{serial}", "operator"),
    ("POST", "/admin/api/merchants/{mchid}/apps", "operator"),
    ("POST", "/admin/api/merchants/{mchid}/users", "operator"),
    ("POST", "/admin/api/merchants/{mchid}/static-codes", "operator"),
    ("POST", "/admin/api/merchants/{mchid}/covers", "operator"),
    ("PUT", "/admin/api/merchants/{mchid}/qr-profile", "operator"),
    ("PUT", "/admin/api/merchants/{mchid}/schemes/{scheme}", "operator"),
    ("GET", "/admin/api/networks", "operator finance support"),
    ("GET", "/admin/api/networks/{network}/reconciliations/{day}", "operator finance"),
    ("POST", "/admin/api/networks/{network}/settlements/{day}", "finance"),
    ("GET", "/admin/api/platform-keys", "operator support"),
    ("POST", "/admin/api/platform-keys/rotate", "operator"),
    ("POST", "/admin/api/platform-keys/{serial}/retire", "operator"),
    ("GET", "/admin/api/settlements", "finance support"),
    ("POST", "/admin/api/settlements/run", "finance"),
    ("GET", "/admin/api/partners/{mchid}/settlements/{day}", "finance"),
    ("GET", "/admin/api/notifications", "operator support"),
    ("GET", "/admin/api/notifications/{id}", "operator support"),
    ("POST", "/admin/api/notifications/{id}/replay", "operator"),
    ("PUT", "/admin/api/fx/rates", "finance"),
    ("GET", "/admin/api/fx/rates", "finance operator risk support"),
    ("POST", "/admin/api/fx/rates/import", "finance"),
    ("PUT", "/admin/api/fx/markups", "finance"),
    ("PUT", "/admin/api/fx/pairs/{base}/{quote}", "finance"),
    ("GET", "/admin/api/fx/quotes/{id}", "finance risk support"),
    ("GET", "/admin/api/fx/positions", "finance"),
    ("GET", "/admin/api/fx/cross-border-report", "finance risk"),
];

const ROLES: [&str; 5] = ["admin", "operator", "risk", "finance", "support"];

fn access_text(access: server::operator::Access) -> String {
    use server::operator::Access;
    match access {
        Access::Public => "public".into(),
        Access::Bootstrap => "bootstrap".into(),
        Access::Own => "own".into(),
        Access::Signed => "signed".into(),
        Access::Roles(roles) => roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" "),
    }
}

#[test]
fn the_table_lists_exactly_the_servers_operator_routes() {
    let mut served: Vec<(String, String, String)> =
        server::operator::policy().into_iter().map(|r| (r.method.to_string(), r.path.to_string(), access_text(r.access))).collect();
    let mut table: Vec<(String, String, String)> = ROUTES.iter().map(|(m, p, a)| (m.to_string(), p.to_string(), a.to_string())).collect();
    served.sort();
    table.sort();
    assert_eq!(table, served, "the route table here and the server's must agree");
}

/// A path with each `{parameter}` filled in.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push('1');
        rest = &rest[end + 1..];
    }
    out + rest
}

/// One operator per role, each holding only that role; their session tokens.
fn one_operator_per_role(port: u16) -> Vec<(&'static str, String)> {
    ROLES
        .iter()
        .map(|role| {
            let name = format!("only-{role}");
            let body = format!(r#"{{"username":"{name}","password":"{OPERATOR_PASSWORD}","roles":["{role}"]}}"#);
            let r = post(port, "/admin/api/operators", &body);
            assert_eq!(r.status, 200, "{}", r.body);
            (*role, sign_in_operator(port, &name, OPERATOR_PASSWORD).unwrap())
        })
        .collect()
}

fn each_role_is_held_to_each_route(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let operators = one_operator_per_role(port);
    for (method, path, access) in ROUTES {
        if *path == "/admin/api/sessions/current" {
            continue; // signing out is its own test: it would end the session the loop goes on with
        }
        for (role, token) in &operators {
            // No reason header: a change that passes the role check stops at REASON_REQUIRED, before it runs.
            let r = request(port, method, &concrete(path), Some(token), Some("{}")).unwrap();
            let case = format!("{method} {path} as {role}: {} {}", r.status, r.body);
            let allowed = matches!(*access, "own" | "signed") || access.split(' ').any(|a| a == *role);
            match *access {
                "public" => assert_eq!(r.status, 400, "{case}"),
                "bootstrap" => assert_eq!(r.status, 401, "a session is not the bootstrap token: {case}"),
                _ if !allowed => {
                    assert_eq!((r.status, r.json()["code"].as_str()), (403, Some("ROLE_REQUIRED")), "{case}");
                    let message = r.json()["message"].as_str().unwrap().to_string();
                    assert!(message.contains(access.split(' ').next().unwrap()), "the refusal names the role: {case}");
                }
                _ if *method != "GET" && *access != "own" => {
                    assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("REASON_REQUIRED")), "{case}")
                }
                _ => assert!(![401, 403].contains(&r.status), "{case}"),
            }
        }
    }
}

fn the_bootstrap_token_creates_the_first_admin_and_nothing_else(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let first = format!(r#"{{"username":"first","password":"{OPERATOR_PASSWORD}"}}"#);
    let r = request(port, "POST", "/admin/api/bootstrap", Some(TOKEN), Some(&first)).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["roles"], serde_json::json!(["admin"]));
    let again = format!(r#"{{"username":"second","password":"{OPERATOR_PASSWORD}"}}"#);
    let r = request(port, "POST", "/admin/api/bootstrap", Some(TOKEN), Some(&again)).unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    for path in ["/admin/api/audit", "/admin/api/merchants/1900000109", "/admin/api/operators"] {
        assert_eq!(request(port, "GET", path, Some(TOKEN), None).unwrap().status, 401, "{path}: the bootstrap token is no session");
    }
    assert!(sign_in_operator(port, "second", OPERATOR_PASSWORD).is_none());
    let short = r#"{"username":"third","password":"short"}"#;
    assert_eq!(request(port, "POST", "/admin/api/bootstrap", Some(TOKEN), Some(short)).unwrap().status, 400);
}

fn a_session_ends_when_its_operator_signs_out_or_is_disabled(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let roles = one_operator_per_role(port);
    let (_, support) = &roles[4];
    assert_eq!(request(port, "GET", "/admin/api/operators/me", Some(support), None).unwrap().json()["username"], "only-support");
    assert_eq!(request(port, "DELETE", "/admin/api/sessions/current", Some(support), None).unwrap().status, 204);
    assert_eq!(request(port, "GET", "/admin/api/operators/me", Some(support), None).unwrap().status, 401);
    let (_, risk) = &roles[2];
    let r = operator_request(port, "PUT", "/admin/api/operators/only-risk/disabled", Some(r#"{"disabled":true}"#));
    assert_eq!((r.status, r.json()["disabled"].as_bool()), (200, Some(true)), "{}", r.body);
    assert_eq!(request(port, "GET", "/admin/api/operators/me", Some(risk), None).unwrap().status, 401);
    assert!(sign_in_operator(port, "only-risk", OPERATOR_PASSWORD).is_none(), "a disabled operator cannot sign in");
    let r = operator_request(port, "PUT", "/admin/api/operators/ops/disabled", Some(r#"{"disabled":true}"#));
    assert_eq!(r.status, 403, "no one disables themselves: {}", r.body);
}

fn an_admin_changes_roles_and_the_audit_log_says_before_and_after(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let roles = one_operator_per_role(port);
    let (_, support) = &roles[4];
    let r = operator_request(port, "PUT", "/admin/api/operators/only-support/roles", Some(r#"{"roles":["support","finance"]}"#));
    assert_eq!(r.json()["roles"], serde_json::json!(["finance", "support"]), "{}", r.body);
    let me = request(port, "GET", "/admin/api/operators/me", Some(support), None).unwrap().json();
    assert_eq!(me["roles"], serde_json::json!(["finance", "support"]), "the live session has the new roles");
    let entry = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!(
        (entry["action"].as_str(), entry["detail"].as_str()),
        (Some("operators.set_roles"), Some("roles support → finance,support"))
    );
    let r = operator_request(port, "PUT", "/admin/api/operators/only-support/roles", Some(r#"{"roles":["root"]}"#));
    assert_eq!(r.status, 400, "an unknown role is refused: {}", r.body);
    let r = operator_request(port, "PUT", "/admin/api/operators/ops/roles", Some(r#"{"roles":["support"]}"#));
    assert_eq!(r.status, 403, "an admin cannot change their own roles: {}", r.body);
}

fn totp_of(secret: &str) -> String {
    let secret = platform::operators::totp::secret_from_base32(secret).expect("base32");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    platform::operators::totp::code_at(&secret, now)
}

fn with_a_second_factor_signing_in_needs_a_fresh_code(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let roles = one_operator_per_role(port);
    let (_, finance) = &roles[3];
    let begun = request(port, "POST", "/admin/api/operators/me/totp", Some(finance), Some("")).unwrap().json();
    assert!(begun["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/Qianbao:only-finance?secret="), "{begun}");
    let secret = begun["secret"].as_str().unwrap().to_string();
    let wrong = request(port, "POST", "/admin/api/operators/me/totp/confirm", Some(finance), Some(r#"{"totp":"000000"}"#)).unwrap();
    assert!(wrong.status == 400 || totp_of(&secret) == "000000", "{}", wrong.body);
    let code = totp_of(&secret);
    let body = format!(r#"{{"totp":"{code}"}}"#);
    assert_eq!(request(port, "POST", "/admin/api/operators/me/totp/confirm", Some(finance), Some(&body)).unwrap().status, 200);
    assert_eq!(request(port, "GET", "/admin/api/operators/me", Some(finance), None).unwrap().json()["totp"], true);
    let password_only = format!(r#"{{"username":"only-finance","password":"{OPERATOR_PASSWORD}"}}"#);
    let r = request(port, "POST", "/admin/api/sessions", None, Some(&password_only)).unwrap();
    assert_eq!((r.status, r.json()["code"].as_str()), (409, Some("TOTP_REQUIRED")), "{}", r.body);
    // The code that confirmed the enrolment was used: it cannot sign in (a replay), the next step's can.
    let replayed = format!(r#"{{"username":"only-finance","password":"{OPERATOR_PASSWORD}","totp":"{code}"}}"#);
    assert_eq!(request(port, "POST", "/admin/api/sessions", None, Some(&replayed)).unwrap().status, 401, "a used code is refused");
    let next_step = {
        let secret = platform::operators::totp::secret_from_base32(&secret).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        platform::operators::totp::code_at(&secret, now + platform::operators::totp::STEP_S)
    };
    let fresh = format!(r#"{{"username":"only-finance","password":"{OPERATOR_PASSWORD}","totp":"{next_step}"}}"#);
    let r = request(port, "POST", "/admin/api/sessions", None, Some(&fresh)).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["token"].as_str().unwrap().starts_with("qbo_"));
}

fn ask(port: u16, token: &str, method: &str, path: &str, body: &str) -> Response {
    request_with(port, method, path, Some(token), Some(body), &[("Qianbao-Reason", "ticket%20FIN-7")]).unwrap()
}

fn a_correction_waits_for_a_second_finance_operator_and_runs_once(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let accounts = r#"[{"id":"1","currency":"CNY","code":2},{"id":"2","currency":"CNY","code":1}]"#;
    assert_eq!(post(port, "/admin/api/ledger/accounts", accounts).status, 200);
    let roles = one_operator_per_role(port);
    let (_, finance) = &roles[3];
    let (_, risk) = &roles[2];
    let body = r#"[{"id":"7","debit_account_id":"1","credit_account_id":"2","amount":1234,"currency":"CNY","code":1}]"#;
    let asked = ask(port, finance, "POST", "/admin/api/ledger/transfers", body);
    assert_eq!(asked.status, 202, "{}", asked.body);
    let approval: Value = asked.json()["approval"].clone();
    assert_eq!(approval["state"], "pending");
    assert_eq!(approval["summary"], "1 transfers: transfer 7: 1 → 2, CNY 12.34, code 1");
    assert_eq!(get(port, "/admin/api/ledger/accounts/2").json()["credits_posted"], 0, "nothing moves before the approval");
    let approve = format!("/admin/api/approvals/{}/approve", approval["id"].as_str().unwrap());
    let own = ask(port, finance, "POST", &approve, "");
    assert_eq!(own.status, 403, "the one who asked cannot approve: {}", own.body);
    let no_role = ask(port, risk, "POST", &approve, "");
    assert_eq!(no_role.status, 403, "an approver needs the finance role: {}", no_role.body);
    let pending = get(port, "/admin/api/approvals?state=pending").json();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let (_, checker) = operators(port);
    let done = ask(port, &checker, "POST", &approve, "");
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.json()["approval"]["state"], "approved");
    assert_eq!(done.json()["approval"]["decided_by"], "operator:checker");
    assert_eq!(get(port, "/admin/api/ledger/accounts/2").json()["credits_posted"], 1234);
    let twice = ask(port, &checker, "POST", &approve, "");
    assert_eq!((twice.status, twice.json()["code"].as_str()), (409, Some("ALREADY_RESOLVED")), "{}", twice.body);
    assert_eq!(get(port, "/admin/api/ledger/accounts/2").json()["credits_posted"], 1234, "approved once, moved once");
}

fn a_large_manual_refund_waits_for_a_second_finance_operator_and_a_small_one_runs_at_once(env: Env) {
    use crate::support::merchant::{Receiver, TestMerchant};
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let merchant = TestMerchant::onboard(port, 0);
    let notify = Receiver::start(vec![]);
    let payer = Wallet::register(port, "+8613900002601", "Payer");
    payer.set_pin("135790");
    assert_eq!(post(port, &format!("/admin/api/people/{}/kyc", payer.id), r#"{"tier":2}"#).status, 200);
    payer.top_up("1000.00", "135790");
    payer.top_up("500.00", "135790");
    let code_url = merchant.native_order("T2026009001", 120_000, &notify.url);
    let paid = payer.post("/api/v1/merchant-payments", &serde_json::json!({"code_url": code_url, "pin": "135790"}).to_string());
    assert_eq!(paid.status, 201, "{}", paid.body);
    let tx = merchant.query("T2026009001").json()["transaction_id"].as_str().unwrap().to_string();
    let path = format!("/admin/api/merchants/{}/refunds", merchant.mchid);
    let refund = |amount: &str, no: &str| serde_json::json!({"transaction_id": tx, "amount": amount, "out_refund_no": no}).to_string();
    let small = post(port, &path, &refund("100.00", "OPS-1"));
    assert_eq!((small.status, small.json()["status"].as_str()), (200, Some("SUCCESS")), "{}", small.body);
    assert_eq!(payer.available("CNY"), "400.00", "a small refund runs at once");
    let entry = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!(entry["action"], "payments.manual_refund");
    let large = post(port, &path, &refund("1000.00", "OPS-2"));
    assert_eq!(large.status, 202, "{}", large.body);
    assert_eq!(payer.available("CNY"), "400.00", "a large one waits");
    let approve = format!("/admin/api/approvals/{}/approve", large.json()["approval"]["id"].as_str().unwrap());
    assert_eq!(post(port, &approve, "").status, 403, "the one who asked cannot approve");
    let done = checker_request(port, "POST", &approve, Some(""));
    assert_eq!((done.status, done.json()["result"]["status"].as_str()), (200, Some("SUCCESS")), "{}", done.body);
    assert_eq!(payer.available("CNY"), "1400.00");
    let twice = checker_request(port, "POST", &approve, Some(""));
    assert_eq!(twice.status, 409, "approved once, refunded once: {}", twice.body);
    assert_eq!(payer.available("CNY"), "1400.00");
    let over = post(port, &path, &refund("100.01", "OPS-3"));
    assert_eq!((over.status, over.json()["code"].as_str()), (409, Some("NOT_ENOUGH")), "{}", over.body);
}

fn a_rejected_markup_changes_nothing_and_an_approved_one_says_before_and_after(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let (ops, checker) = operators(port);
    let markup = r#"{"base":"HKD","quote":"CNY","channel":"payment","markup_bps":80}"#;
    let asked = ask(port, &ops, "PUT", "/admin/api/fx/markups", markup);
    assert_eq!(asked.status, 202, "{}", asked.body);
    assert_eq!(asked.json()["approval"]["summary"], "markup HKD/CNY payment: unset → 80 bps");
    let id = asked.json()["approval"]["id"].as_str().unwrap().to_string();
    let rejected = ask(port, &checker, "POST", &format!("/admin/api/approvals/{id}/reject"), "");
    assert_eq!(rejected.json()["state"], "rejected", "{}", rejected.body);
    let late = ask(port, &checker, "POST", &format!("/admin/api/approvals/{id}/approve"), "");
    assert_eq!(late.status, 409, "a rejected request cannot be approved: {}", late.body);
    let again = ask(port, &ops, "PUT", "/admin/api/fx/markups", markup);
    let id = again.json()["approval"]["id"].as_str().unwrap().to_string();
    let done = ask(port, &checker, "POST", &format!("/admin/api/approvals/{id}/approve"), "");
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.json()["result"], serde_json::json!({"markup_bps_before": null, "markup_bps": 80}));
    let bad = ask(port, &ops, "PUT", "/admin/api/fx/markups", r#"{"channel":"payment","markup_bps":100000}"#);
    assert_eq!(bad.status, 400, "a markup out of range is refused before it waits: {}", bad.body);
    let log = get(port, "/admin/api/audit?limit=5").json();
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions[..4], ["fx.markup.approved", "fx.markup.requested", "fx.markup.rejected", "fx.markup.requested"]);
    assert_eq!(log[0]["reason"], "ticket FIN-7");
}

fn a_change_without_a_reason_is_refused_and_changes_nothing(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    let (ops, _) = operators(port);
    let before = get(port, "/admin/api/audit").json().as_array().unwrap().len();
    let keys = get(port, "/admin/api/platform-keys").json()["certificates"].as_array().unwrap().len();
    let r = request(port, "POST", "/admin/api/platform-keys/rotate", Some(&ops), Some("")).unwrap();
    assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("REASON_REQUIRED")), "{}", r.body);
    assert_eq!(get(port, "/admin/api/platform-keys").json()["certificates"].as_array().unwrap().len(), keys, "no key rotated");
    assert_eq!(get(port, "/admin/api/audit").json().as_array().unwrap().len(), before);
}

both_backends!(
    each_role_is_held_to_each_route,
    the_bootstrap_token_creates_the_first_admin_and_nothing_else,
    a_session_ends_when_its_operator_signs_out_or_is_disabled,
    an_admin_changes_roles_and_the_audit_log_says_before_and_after,
    with_a_second_factor_signing_in_needs_a_fresh_code,
    a_correction_waits_for_a_second_finance_operator_and_runs_once,
    a_large_manual_refund_waits_for_a_second_finance_operator_and_a_small_one_runs_at_once,
    a_rejected_markup_changes_nothing_and_an_approved_one_says_before_and_after,
    a_change_without_a_reason_is_refused_and_changes_nothing,
);
