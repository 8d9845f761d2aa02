//! The web wallet's own pages over HTTP, as a browser without JavaScript uses them: money out to a bank
//! account, the history with its filters and the monthly statement, and the settings (the PIN, KYC, the
//! data export). Each form carries the session's CSRF token; a forged one changes nothing.

use super::console::{Console, sign_in_form};
use crate::support::*;

const PASSWORD: &str = "correct horse battery";

/// A person with 100.00 CNY and PIN 135790, signed in to the web wallet.
fn signed_in(port: u16, phone: &str) -> (Wallet, Console) {
    let w = Wallet::register(port, phone, "Wen");
    w.set_pin("135790");
    w.top_up("100.00", "135790");
    let web = sign_in_form(port, "/wallet/sign-in", ("qb_pre", "qb_wallet"), &[("phone", phone), ("password", PASSWORD)])
        .unwrap_or_else(|r| panic!("{}", r.body));
    (w, web)
}

fn a_person_links_a_bank_account_and_withdraws_to_it_with_the_pin(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (w, web) = signed_in(port, "+8613900003001");
    let added = web.post(
        "/wallet/withdraw",
        "/wallet/bank-accounts",
        &[("bank", "ICBC"), ("holder_name", "Wen Li"), ("number", "6222021234567890123")],
    );
    assert_eq!((added.status, added.header("location")), (303, Some("/wallet/withdraw?done=bank_account_added")), "{}", added.body);
    let page = web.get("/wallet/withdraw");
    assert!(page.body.contains("ICBC •••• 0123") && !page.body.contains("6222021234567890123"), "the last four only: {}", page.body);
    let account = super::console::field(&page.body.replace(r#"<option value=""#, r#"name="account" value=""#), "account");
    let key = super::console::field(&page.body, "key");
    let fields = [("account", account.as_str()), ("amount", "30.00"), ("currency", "CNY"), ("pin", "135790"), ("key", key.as_str())];
    let out = web.post("/wallet/withdraw", "/wallet/withdrawals", &fields);
    assert_eq!(out.status, 303, "{}", out.body);
    let twice = web.post("/wallet/withdraw", "/wallet/withdrawals", &fields);
    assert_eq!(twice.status, 303, "the same form sent again is the same withdrawal");
    assert_eq!(w.available("CNY"), "70.00", "held once");
    advance_clock(port, 5);
    let page = web.get("/wallet/withdraw");
    assert!(page.body.contains("-30.00 CNY") && page.body.contains("paid out"), "{}", page.body);
    let wrong_pin = web.post(
        "/wallet/withdraw",
        "/wallet/withdrawals",
        &[("account", &account), ("amount", "1.00"), ("currency", "CNY"), ("pin", "999999"), ("key", "other")],
    );
    assert!(wrong_pin.header("location").is_some_and(|l| l.starts_with("/wallet/withdraw?error=")), "{:?}", wrong_pin.header("location"));
    assert_eq!(w.available("CNY"), "70.00");
}

fn the_history_filters_by_kind_and_the_statement_downloads_as_csv(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (w, web) = signed_in(port, "+8613900003002");
    let friend = Wallet::register(port, "+8613900003003", "Fu");
    w.befriend(&friend);
    let sent =
        w.post("/api/v1/transfers", &format!(r#"{{"to_person_id":"{}","amount":"12.34","currency":"CNY","pin":"135790"}}"#, friend.id));
    assert_eq!(sent.status, 201, "{}", sent.body);
    let all = web.get("/wallet/history");
    assert!(all.body.contains("Top-up") && all.body.contains("Sent to a friend"), "{}", all.body);
    let only = web.get("/wallet/history?kind=transfer_out&currency=CNY");
    assert!(only.body.contains("-12.34 CNY") && !only.body.contains("100.00 CNY"), "the filter keeps transfers out only: {}", only.body);
    let month = super::console::field(&all.body.replace(r#"action="/wallet/statements/"#, r#"name="month" value=""#), "month");
    let csv = web.get(&format!("/wallet/statements/{month}?currency=CNY"));
    assert_eq!((csv.status, csv.header("content-type")), (200, Some("text/csv; charset=utf-8")), "{}", csv.body);
    assert!(csv.body.contains("-12.34") && csv.body.contains("100.00"), "{}", csv.body);
    let bad = web.get("/wallet/statements/2026-13?currency=CNY");
    assert!(bad.header("location").is_some_and(|l| l.starts_with("/wallet/history?error=")), "{:?}", bad.header("location"));
    assert_eq!(
        request(port, "GET", &format!("/wallet/statements/{month}?currency=CNY"), None, None).unwrap().status,
        303,
        "signed out: to sign in"
    );
}

fn settings_change_the_pin_submit_identity_and_export_the_data(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let (w, web) = signed_in(port, "+8613900003004");
    let wrong = web.post("/wallet/settings", "/wallet/settings/pin", &[("current", "000000"), ("pin", "246810")]);
    assert!(wrong.header("location").is_some_and(|l| l.starts_with("/wallet/settings?error=")), "the current PIN must be right");
    let changed = web.post("/wallet/settings", "/wallet/settings/pin", &[("current", "135790"), ("pin", "246810")]);
    assert_eq!(changed.header("location"), Some("/wallet/settings?done=pin_changed"));
    let kyc = [("legal_name", "Wen Li"), ("document_type", "passport"), ("document_number", "E12345678")];
    let submitted = web.post("/wallet/settings", "/wallet/settings/kyc", &kyc);
    assert_eq!(submitted.header("location"), Some("/wallet/settings?done=kyc_submitted"), "{}", submitted.body);
    assert!(web.get("/wallet/settings").body.contains(r#"<p id="kyc-tier">Your verification tier: <strong>1</strong></p>"#));
    assert_eq!(w.get("/api/v1/me").json()["person"]["kyc_tier"], 1);
    let export = web.get("/wallet/export");
    assert_eq!((export.status, export.header("content-type")), (200, Some("application/json")));
    assert!(export.body.contains("Wen Li") && export.body.contains("+8613900003004"), "{}", export.body);
    let forged = request_with(
        port,
        "POST",
        "/wallet/settings/pin",
        None,
        Some("csrf=forged&current=246810&pin=135791"),
        &[("Cookie", &web.cookie())],
    )
    .unwrap();
    assert_ne!(forged.header("location"), Some("/wallet/settings?done=pin_changed"), "a forged form changes nothing");
}

both_backends!(
    a_person_links_a_bank_account_and_withdraws_to_it_with_the_pin,
    the_history_filters_by_kind_and_the_statement_downloads_as_csv,
    settings_change_the_pin_submit_identity_and_export_the_data,
);
