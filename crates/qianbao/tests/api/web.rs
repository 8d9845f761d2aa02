//! The pages, black-box over HTTP: the landing page in three languages, and the sandbox's notification
//! inbox receiving real notifications (verified against the platform key, decrypted with the
//! merchant's APIv3 key).

use crate::support::merchant::TestMerchant;
use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn the_landing_page_says_what_the_server_is_in_the_readers_language() {
    let env = Env::sqlite("landing");
    let server = env.serve_with(&[], WALLET_ENV);
    let english = request(server.port, "GET", "/", None, None).unwrap();
    assert_eq!((english.status, english.header("content-type")), (200, Some("text/html; charset=utf-8")));
    assert!(english.body.contains("What this server is") && english.body.contains("/openapi.json"), "{}", english.body);
    assert!(english.header("content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")));
    assert!(!english.body.contains("Demo accounts"), "no demo section outside the demo");
    let hong_kong = request_with(server.port, "GET", "/", None, None, &[("Accept-Language", "zh-HK,zh;q=0.9")]).unwrap();
    assert!(hong_kong.body.contains("這部伺服器是甚麼") && hong_kong.body.contains(r#"lang="zh-HK""#), "{}", hong_kong.body);
    let chosen = request(server.port, "GET", "/?lang=zh-CN", None, None).unwrap();
    assert!(chosen.body.contains("这台服务器是什么"), "{}", chosen.body);
    assert!(chosen.header("set-cookie").is_some_and(|c| c.starts_with("qb_lang=zh-CN")), "the choice is remembered");
    let remembered = request_with(server.port, "GET", "/", None, None, &[("Cookie", "qb_lang=zh-CN")]).unwrap();
    assert!(remembered.body.contains("这台服务器是什么"));
    let css = request(server.port, "GET", "/assets/app.css", None, None).unwrap();
    assert_eq!((css.status, css.header("content-type")), (200, Some("text/css; charset=utf-8")));
}

#[test]
fn the_inbox_is_served_in_sandboxes_only() {
    let env = Env::sqlite("inbox_off");
    let server = env.serve_with(&[], WALLET_ENV);
    assert_eq!(request(server.port, "GET", "/sandbox/inbox/1900000001", None, None).unwrap().status, 404);
    assert_eq!(request(server.port, "POST", "/sandbox/inbox/1900000001", None, Some("{}")).unwrap().status, 404);
}

fn inbox(port: u16, mchid: &str, want: usize) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let entries = request(port, "GET", &format!("/sandbox/inbox/{mchid}?format=json"), None, None).unwrap().json();
        if entries["data"].as_array().unwrap().len() >= want {
            return entries["data"].clone();
        }
        assert!(Instant::now() < deadline, "no notification arrived: {entries}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn the_inbox_shows_each_notification_verified_and_decrypted(env: Env) {
    let mut envs = WALLET_ENV.to_vec();
    envs.push(("QIANBAO_SANDBOX_INBOX", "true"));
    let server = env.serve_with(&[], &envs);
    let m = TestMerchant::onboard(server.port, 60);
    let inbox_url = format!("http://127.0.0.1:{}/sandbox/inbox/{}", server.port, m.mchid);
    let code_url = m.native_order("INBOX00001", 1234, &inbox_url);
    let w = Wallet::register(server.port, "+8613900000777", "Payer");
    w.set_pin("135790");
    w.top_up("100.00", "135790");
    let paid = w.post("/api/v1/merchant-payments", &json!({"code_url": code_url, "pin": "135790"}).to_string());
    assert_eq!(paid.status, 201, "{}", paid.body);
    let entries = inbox(server.port, &m.mchid, 1);
    let first = &entries[0];
    assert_eq!((first["verified"].as_bool(), first["event_type"].as_str()), (Some(true), Some("TRANSACTION.SUCCESS")), "{first}");
    assert!(first["resource"].as_str().unwrap().contains("INBOX00001"), "the resource is decrypted: {first}");
    let forged = request_with(
        server.port,
        "POST",
        &format!("/sandbox/inbox/{}", m.mchid),
        None,
        Some(r#"{"resource_type":"encrypt-resource"}"#),
        &[("Wechatpay-Serial", "NOPE"), ("Wechatpay-Timestamp", "1"), ("Wechatpay-Nonce", "n"), ("Wechatpay-Signature", "AAAA")],
    )
    .unwrap();
    assert_eq!(forged.status, 401, "a merchant's server refuses what does not check out: {}", forged.body);
    let entries = inbox(server.port, &m.mchid, 2);
    assert_eq!(entries[0]["verified"], false);
    assert!(entries[0]["problem"].as_str().unwrap().contains("NOPE"), "{}", entries[0]);
    let page =
        request_with(server.port, "GET", &format!("/sandbox/inbox/{}", m.mchid), None, None, &[("Accept-Language", "zh-CN")]).unwrap();
    assert!(page.body.contains("已验证") && page.body.contains("TRANSACTION.SUCCESS") && page.body.contains("INBOX00001"), "{}", page.body);
}

both_backends!(the_inbox_shows_each_notification_verified_and_decrypted);
