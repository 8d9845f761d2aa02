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

/// The bytes of a GET's answer (a picture), read as they are.
fn bytes_of(port: u16, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header end") + 4;
    raw.split_off(end)
}

/// Post `multipart/form-data` with a CSRF token and one file, as a browser sends an upload.
fn upload(port: u16, web: &Console, csrf: &str, path: &str, file: &[u8]) -> Response {
    use std::io::{Read, Write};
    let boundary = "----qianbao-test-boundary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n").into_bytes();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"code.png\"\r\nContent-Type: image/png\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        web.cookie(),
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    Response { status: head.split(' ').nth(1).unwrap().parse().unwrap(), body: body.to_string(), headers: Vec::new() }
}

fn a_photo_of_a_merchants_code_opens_its_payment_preview(env: Env) {
    let server = env.serve_with(&["--demo"], WALLET_ENV);
    let port = server.port;
    let body = r#"{"appid":"wxd678efh567hg6787","description":"Noodles","notify_url":"https://merchant.example/notify"}"#;
    let code = post(port, "/admin/api/merchants/1900000109/static-codes", body);
    assert_eq!(code.status, 201, "{}", code.body);
    let emv = code.json()["emv"].as_str().unwrap().to_string();
    let picture = bytes_of(port, &format!("/qr/code.png?data={}", super::console::form(&[("", &emv)]).trim_start_matches('=')));
    assert!(picture.starts_with(b"\x89PNG"), "the code drawn as a PNG");
    let (_, web) = signed_in(port, "+8613900003005");
    let csrf = super::console::field(&web.get("/wallet/scan").body, "csrf");
    let forged = upload(port, &web, "forged", "/wallet/scan/image", &picture);
    assert_eq!(forged.status, 403, "a forged form reads nothing");
    let preview = upload(port, &web, &csrf, "/wallet/scan/image", &picture);
    assert_eq!(preview.status, 200);
    assert!(preview.body.contains("Qianbao Demo Shop") && preview.body.contains(r#"id="pay""#), "{}", preview.body);
    let not_a_picture = upload(port, &web, &csrf, "/wallet/scan/image", b"GIF89a");
    assert!(not_a_picture.body.contains("not a PNG or JPEG") && !not_a_picture.body.contains(r#"id="pay""#), "{}", not_a_picture.body);
}

both_backends!(
    a_photo_of_a_merchants_code_opens_its_payment_preview,
    a_person_links_a_bank_account_and_withdraws_to_it_with_the_pin,
    the_history_filters_by_kind_and_the_statement_downloads_as_csv,
    settings_change_the_pin_submit_identity_and_export_the_data,
);
