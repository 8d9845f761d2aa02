//! The WeChat Pay v3-compatible merchant API, black-box over real HTTP against `qianbao serve`, with a
//! test merchant that signs as the SDKs do and checks every signed answer. Each test body runs on SQLite
//! and, when QIANBAO_TEST_DATABASE_URL is set, on PostgreSQL.

use crate::support::merchant::*;
use crate::support::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

both_backends!(
    a_native_order_paid_by_a_wallet_notifies_the_merchant_and_queries_as_paid,
    every_successful_answer_is_signed_and_every_answer_has_a_request_id,
    bad_missing_stale_and_replayed_signatures_are_sign_errors,
    bad_order_fields_are_param_errors_naming_the_field,
    a_repeated_out_trade_no_is_the_same_order_or_out_trade_no_used,
    a_merchant_never_sees_closes_or_refunds_another_merchants_order,
    a_closed_order_cannot_be_paid_and_a_paid_order_cannot_be_closed,
    an_order_closes_itself_at_its_time_expire,
    two_people_paying_one_code_at_once_pay_it_once,
    refunds_add_up_to_at_most_what_was_paid,
    concurrent_refunds_never_refund_more_than_was_paid,
    a_jsapi_order_is_paid_only_with_the_merchants_signature_by_its_payer,
    a_failed_notification_is_retried_on_the_schedule_and_replayable,
    a_rotated_platform_certificate_is_listed_and_signs,
    public_key_mode_signs_with_the_public_key_id,
    a_scanned_payment_code_waits_for_the_pin_and_pays_once,
    a_small_payment_code_charge_is_paid_at_once_without_the_pin,
    a_reversed_payment_code_order_cannot_be_paid,
    a_trade_bill_lists_the_days_payments_and_refunds_with_a_matching_hash,
    a_day_of_many_pages_of_orders_is_billed_whole_in_time_order_with_exact_totals,
    settlement_pays_out_takings_less_fees_and_refunds_once,
    refunds_larger_than_a_days_takings_carry_into_the_next_settlement,
    a_service_provider_takes_payments_and_refunds_for_its_sub_merchant_only,
    a_card_paid_order_is_refunded_to_the_card_and_a_balance_paid_one_to_the_balance,
    a_static_code_is_paid_with_the_amount_the_person_enters,
    an_undelivered_notification_survives_a_crash_and_is_delivered_after_restart,
    a_cover_a_merchant_published_dresses_a_red_packet,
    an_h5_order_opens_a_page_that_hands_it_to_the_wallet,
    a_merchant_past_its_request_rate_is_told_to_slow_down_and_nothing_happens,
    notifications_are_not_sent_into_private_networks_by_default,
);

static PHONE: AtomicU64 = AtomicU64::new(13_900_000_000);

fn start(env: &Env) -> Server {
    env.serve_with(&[], WALLET_ENV)
}

/// A person with 1000.00 CNY and PIN 135790.
fn payer(port: u16) -> Wallet {
    let w = Wallet::register(port, &format!("+86{}", PHONE.fetch_add(1, Ordering::SeqCst)), "Payer");
    w.set_pin("135790");
    w.top_up("1000.00", "135790");
    w
}

fn pay(w: &Wallet, code_url: &str) -> Response {
    w.post("/api/v1/merchant-payments", &serde_json::json!({"code_url": code_url, "pin": "135790"}).to_string())
}

fn a_native_order_paid_by_a_wallet_notifies_the_merchant_and_queries_as_paid(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 60);
    let notify = Receiver::start(vec![]);
    let alice = payer(server.port);
    let code_url = merchant.native_order("T2026000001", 1234, &notify.url);
    assert!(code_url.starts_with("weixin://wxpay/bizpayurl?pr="), "{code_url}");
    let q = merchant.query("T2026000001");
    assert_eq!(q.json()["trade_state"], "NOTPAY", "{}", q.body);
    assert!(q.json().get("transaction_id").is_none());

    let preview = alice.post("/api/v1/merchant-payments/preview", &serde_json::json!({"code_url": code_url}).to_string());
    assert_eq!(preview.json()["amount"], "12.34", "{}", preview.body);
    assert_eq!(preview.json()["merchant"], format!("Shop {}", merchant.mchid));
    let paid = pay(&alice, &code_url);
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(paid.json()["state"], "SUCCESS");
    assert_eq!(alice.available("CNY"), "987.66");
    let history = alice.get("/api/v1/history?type=merchant_payment").json();
    assert_eq!((history[0]["amount"].as_str(), history[0]["state"].as_str()), (Some("-12.34"), Some("success")), "{history}");

    let event = merchant.open_notification(&notify.next(Duration::from_secs(10)));
    assert_eq!(event["event_type"], "TRANSACTION.SUCCESS");
    let resource = &event["resource"];
    assert_eq!(resource["out_trade_no"], "T2026000001");
    assert_eq!(resource["trade_state"], "SUCCESS");
    assert_eq!(resource["amount"]["total"], 1234);
    assert_eq!(resource["mchid"], merchant.mchid.as_str());
    let transaction_id = resource["transaction_id"].as_str().unwrap().to_string();
    assert_eq!(transaction_id.len(), 28);
    assert!(transaction_id.bytes().all(|b| b.is_ascii_digit()));
    let openid = resource["payer"]["openid"].as_str().unwrap();
    assert_eq!(openid.len(), 28);
    assert!(!openid.contains(&alice.id), "the openid does not reveal the person");

    let by_id = merchant.call("GET", &format!("/v3/pay/transactions/id/{transaction_id}?mchid={}", merchant.mchid), "");
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    assert_eq!(by_id.json()["trade_state"], "SUCCESS");
    assert_eq!(by_id.json()["payer"]["openid"], openid);
}

fn every_successful_answer_is_signed_and_every_answer_has_a_request_id(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    merchant.native_order("T2026000002", 100, "https://merchant.example/notify");
    // `call` checks the signature of every 2xx answer, the 204 of a close included.
    let closed =
        merchant.call("POST", "/v3/pay/transactions/out-trade-no/T2026000002/close", &format!(r#"{{"mchid":"{}"}}"#, merchant.mchid));
    assert_eq!(closed.status, 204, "{}", closed.body);
    assert_eq!(closed.body, "");
    let certificates = merchant.call("GET", "/v3/certificates", "");
    assert_eq!(certificates.status, 200);
    let entry = &certificates.json()["data"][0];
    let encrypted = &entry["encrypt_certificate"];
    let pem = wxpay::aead_decrypt(
        merchant.apiv3_key.as_bytes(),
        encrypted["nonce"].as_str().unwrap().as_bytes(),
        b"certificate",
        &wxpay::base64::decode(encrypted["ciphertext"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let (_, _, serial) = wxpay::VerifyingKey::from_pem(std::str::from_utf8(&pem).unwrap()).unwrap();
    assert_eq!(serial.as_deref(), entry["serial_no"].as_str());
    let missing = merchant.query("NOSUCHORDER1");
    assert_eq!(missing.status, 404);
    let metrics = request(server.port, "GET", "/metrics", None, None).unwrap().body;
    assert!(metrics.contains("qianbao_merchant_api_answers_total{code=\"OK\"} 3"), "{metrics}");
    assert!(metrics.contains("qianbao_merchant_api_answers_total{code=\"NOT_FOUND\"} 1"), "{metrics}");
    assert_eq!(missing.json()["code"], "ORDER_NOT_EXIST");
    assert!(missing.header("request-id").is_some());
}

fn bad_missing_stale_and_replayed_signatures_are_sign_errors(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let path = "/v3/pay/transactions/native";
    let body = merchant.order_body("T2026000003", 100, "https://merchant.example/notify");
    let sign_error = |r: Response, why: &str| {
        assert_eq!(r.status, 401, "{why}: {}", r.body);
        assert_eq!(r.json()["code"], "SIGN_ERROR", "{why}");
        assert_eq!(r.json()["detail"]["location"], "authorization", "{why}");
    };
    sign_error(merchant.raw("POST", path, &body, &[]), "no Authorization");
    let good = merchant.authorization("POST", path, &body, now_s(), "nonce-1");
    let tampered = body.replace("100", "1");
    sign_error(merchant.raw("POST", path, &tampered, &[("Authorization", &good)]), "body changed after signing");
    sign_error(merchant.raw("POST", "/v3/pay/transactions/jsapi", &body, &[("Authorization", &good)]), "another path");
    let stale = merchant.authorization("POST", path, &body, now_s() - 301, "nonce-2");
    sign_error(merchant.raw("POST", path, &body, &[("Authorization", &stale)]), "six minutes old");
    let unknown_serial = good.replace(&merchant.serial, "0123456789ABCDEF");
    sign_error(merchant.raw("POST", path, &body, &[("Authorization", &unknown_serial)]), "unknown serial");
    let unknown_mchid = good.replace(&format!("mchid=\"{}\"", merchant.mchid), "mchid=\"1999999999\"");
    sign_error(merchant.raw("POST", path, &body, &[("Authorization", &unknown_mchid)]), "unknown mchid");
    sign_error(merchant.raw("POST", path, &body, &[("Authorization", "Bearer abc")]), "another scheme");
    // None of those created the order; the good request does, once.
    assert_eq!(merchant.query("T2026000003").status, 404);
    let first = merchant.raw("POST", path, &body, &[("Authorization", &good)]);
    assert_eq!(first.status, 200, "{}", first.body);
    sign_error(merchant.raw("POST", path, &body, &[("Authorization", &good)]), "the same nonce again");
}

fn bad_order_fields_are_param_errors_naming_the_field(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let base: serde_json::Value =
        serde_json::from_str(&merchant.order_body("T2026000004", 100, "https://merchant.example/notify")).unwrap();
    type Change = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Change)> = vec![
        ("/amount/total", Box::new(|b| b["amount"]["total"] = 0.into())),
        ("/amount/total", Box::new(|b| b["amount"]["total"] = (-5).into())),
        ("/amount/currency", Box::new(|b| b["amount"]["currency"] = "XYZ".into())),
        ("/amount/currency", Box::new(|b| b["amount"]["currency"] = "JPY".into())),
        ("/out_trade_no", Box::new(|b| b["out_trade_no"] = "T1".into())),
        ("/out_trade_no", Box::new(|b| b["out_trade_no"] = "T2026 000004".into())),
        ("/out_trade_no", Box::new(|b| b["out_trade_no"] = "x".repeat(33).into())),
        ("/time_expire", Box::new(|b| b["time_expire"] = "tomorrow".into())),
        ("/time_expire", Box::new(|b| b["time_expire"] = "2001-01-01T00:00:00+08:00".into())),
        ("/notify_url", Box::new(|b| b["notify_url"] = "ftp://merchant.example/notify".into())),
        ("/description", Box::new(|b| b["description"] = "d".repeat(128).into())),
        ("/attach", Box::new(|b| b["attach"] = "a".repeat(129).into())),
        ("/amount/total", Box::new(|b| b["amount"]["total"] = "100".into())),
        ("/description", Box::new(|b| b.as_object_mut().unwrap().remove("description").map(|_| ()).unwrap())),
    ];
    for (field, change) in cases {
        let mut body = base.clone();
        change(&mut body);
        let r = merchant.call("POST", "/v3/pay/transactions/native", &body.to_string());
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        assert_eq!(r.json()["code"], "PARAM_ERROR", "{field}: {}", r.body);
        assert_eq!(r.json()["detail"]["field"], field, "{}", r.body);
    }
    assert_eq!(merchant.query("T2026000004").status, 404, "no bad request created the order");
    let mut other_app = base.clone();
    other_app["appid"] = "wxsomeoneelse".into();
    let r = merchant.call("POST", "/v3/pay/transactions/native", &other_app.to_string());
    assert_eq!(r.json()["code"], "APPID_MCHID_NOT_MATCH", "{}", r.body);
}

fn a_repeated_out_trade_no_is_the_same_order_or_out_trade_no_used(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let first = merchant.native_order("T2026000005", 100, "https://merchant.example/notify");
    let again = merchant.native_order("T2026000005", 100, "https://merchant.example/notify");
    assert_eq!(first, again);
    let different =
        merchant.call("POST", "/v3/pay/transactions/native", &merchant.order_body("T2026000005", 200, "https://merchant.example/notify"));
    assert_eq!(different.status, 403, "{}", different.body);
    assert_eq!(different.json()["code"], "OUT_TRADE_NO_USED");
    assert_eq!(merchant.query("T2026000005").json()["amount"]["total"], 100);
}

fn a_merchant_never_sees_closes_or_refunds_another_merchants_order(env: Env) {
    let server = start(&env);
    let (a, b) = (TestMerchant::onboard(server.port, 0), TestMerchant::onboard(server.port, 0));
    let alice = payer(server.port);
    let code_url = a.native_order("T2026000006", 500, "https://merchant.example/notify");
    assert_eq!(pay(&alice, &code_url).status, 201);
    let transaction_id = a.query("T2026000006").json()["transaction_id"].as_str().unwrap().to_string();

    assert_eq!(b.query("T2026000006").json()["code"], "ORDER_NOT_EXIST");
    let by_id = b.call("GET", &format!("/v3/pay/transactions/id/{transaction_id}?mchid={}", b.mchid), "");
    assert_eq!(by_id.json()["code"], "ORDER_NOT_EXIST");
    // Asking with the other merchant's mchid in the query is refused outright.
    let spoofed = b.call("GET", &format!("/v3/pay/transactions/out-trade-no/T2026000006?mchid={}", a.mchid), "");
    assert_eq!(spoofed.status, 400, "{}", spoofed.body);
    let close = b.call("POST", "/v3/pay/transactions/out-trade-no/T2026000006/close", &format!(r#"{{"mchid":"{}"}}"#, b.mchid));
    assert_eq!(close.json()["code"], "ORDER_NOT_EXIST");
    let refund = b.call(
        "POST",
        "/v3/refund/domestic/refunds",
        &serde_json::json!({"transaction_id": transaction_id, "out_refund_no": "R1", "amount": {"refund": 500, "total": 500, "currency": "CNY"}}).to_string(),
    );
    assert_eq!(refund.status, 404, "{}", refund.body);
    assert_eq!(alice.available("CNY"), "995.00", "nothing came back to the payer");
    assert_eq!(a.query("T2026000006").json()["trade_state"], "SUCCESS");
}

fn a_closed_order_cannot_be_paid_and_a_paid_order_cannot_be_closed(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let alice = payer(server.port);
    let closed_code = merchant.native_order("T2026000007", 100, "https://merchant.example/notify");
    let close = |no: &str| {
        merchant.call("POST", &format!("/v3/pay/transactions/out-trade-no/{no}/close"), &format!(r#"{{"mchid":"{}"}}"#, merchant.mchid))
    };
    assert_eq!(close("T2026000007").status, 204);
    assert_eq!(close("T2026000007").status, 204, "closing again is fine");
    let r = pay(&alice, &closed_code);
    assert_eq!(r.json()["code"], "ORDER_CLOSED", "{}", r.body);
    assert_eq!(alice.available("CNY"), "1000.00");

    let paid_code = merchant.native_order("T2026000008", 100, "https://merchant.example/notify");
    assert_eq!(pay(&alice, &paid_code).status, 201);
    let r = close("T2026000008");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["code"], "ORDER_PAID");
    assert_eq!(merchant.query("T2026000008").json()["trade_state"], "SUCCESS");
}

fn an_order_closes_itself_at_its_time_expire(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let alice = payer(server.port);
    let mut body: serde_json::Value =
        serde_json::from_str(&merchant.order_body("T2026000009", 100, "https://merchant.example/notify")).unwrap();
    body["time_expire"] = wxpay::time::format_rfc3339(now_s() + 120).into();
    let r = merchant.call("POST", "/v3/pay/transactions/native", &body.to_string());
    let code_url = r.json()["code_url"].as_str().unwrap().to_string();
    advance_clock(server.port, 121);
    assert_eq!(merchant.query("T2026000009").json()["trade_state"], "CLOSED");
    assert_eq!(pay(&alice, &code_url).json()["code"], "ORDER_CLOSED");
    assert_eq!(alice.available("CNY"), "1000.00");
}

fn two_people_paying_one_code_at_once_pay_it_once(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let payers: Vec<Wallet> = (0..6).map(|_| payer(server.port)).collect();
    let code_url = merchant.native_order("T2026000010", 700, "https://merchant.example/notify");
    let answers: Vec<Response> = std::thread::scope(|s| {
        let handles: Vec<_> = payers.iter().map(|p| s.spawn(|| pay(p, &code_url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers.iter().filter(|r| r.status == 201).count(), 1, "{:?}", answers.iter().map(|r| &r.body).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != 201) {
        assert_eq!(r.json()["code"], "ORDER_PAID", "{}", r.body);
    }
    let debited: Vec<String> = payers.iter().map(|p| p.available("CNY")).filter(|a| a != "1000.00").collect();
    assert_eq!(debited, vec!["993.00".to_string()]);
}

fn refunds_add_up_to_at_most_what_was_paid(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let notify = Receiver::start(vec![]);
    let alice = payer(server.port);
    let code_url = merchant.native_order("T2026000011", 1000, &notify.url);
    assert_eq!(pay(&alice, &code_url).status, 201);
    notify.next(Duration::from_secs(10));
    let first = merchant.refund("T2026000011", "R2026000011a", 300, 1000);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["status"], "SUCCESS");
    assert_eq!(first.json()["amount"]["refund"], 300);
    let event = merchant.open_notification(&notify.next(Duration::from_secs(10)));
    assert_eq!(event["event_type"], "REFUND.SUCCESS");
    assert_eq!(event["resource"]["out_refund_no"], "R2026000011a");
    assert_eq!(event["resource"]["refund_status"], "SUCCESS");
    // The same out_refund_no again is the same refund, not a second one.
    let again = merchant.refund("T2026000011", "R2026000011a", 300, 1000);
    assert_eq!(again.json()["refund_id"], first.json()["refund_id"]);
    let changed = merchant.refund("T2026000011", "R2026000011a", 200, 1000);
    assert_eq!(changed.status, 400, "{}", changed.body);
    assert_eq!(merchant.refund("T2026000011", "R2026000011b", 600, 1000).status, 200);
    let over = merchant.refund("T2026000011", "R2026000011c", 101, 1000);
    assert_eq!(over.status, 403, "{}", over.body);
    assert_eq!(over.json()["code"], "NOT_ENOUGH");
    assert_eq!(merchant.refund("T2026000011", "R2026000011d", 100, 1000).status, 200);
    assert_eq!(alice.available("CNY"), "1000.00", "everything came back");
    let refunds = alice.get("/api/v1/history?type=merchant_refund").json();
    assert_eq!(refunds.as_array().unwrap().len(), 3, "{refunds}");
    assert_eq!(merchant.query("T2026000011").json()["trade_state"], "REFUND");
    let queried = merchant.call("GET", "/v3/refund/domestic/refunds/R2026000011b", "");
    assert_eq!(queried.json()["amount"]["refund"], 600, "{}", queried.body);
    assert_eq!(merchant.call("GET", "/v3/refund/domestic/refunds/NOSUCH", "").json()["code"], "RESOURCE_NOT_EXISTS");
    let wrong_total = merchant.refund("T2026000011", "R2026000011e", 1, 999);
    assert_eq!(wrong_total.json()["detail"]["field"], "/amount/total", "{}", wrong_total.body);
}

fn concurrent_refunds_never_refund_more_than_was_paid(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let alice = payer(server.port);
    let code_url = merchant.native_order("T2026000012", 1000, "https://merchant.example/notify");
    assert_eq!(pay(&alice, &code_url).status, 201);
    let answers: Vec<Response> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let m = &merchant;
                s.spawn(move || m.refund("T2026000012", &format!("R2026000012-{i}"), 300, 1000))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers.iter().filter(|r| r.status == 200).count(), 3, "{:?}", answers.iter().map(|r| &r.body).collect::<Vec<_>>());
    assert_eq!(alice.available("CNY"), "999.00");
}

fn a_jsapi_order_is_paid_only_with_the_merchants_signature_by_its_payer(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let (alice, bob) = (payer(server.port), payer(server.port));
    // The merchant learns Alice's openid at its app from an earlier payment.
    let code_url = merchant.native_order("T2026000013", 1, "https://merchant.example/notify");
    assert_eq!(pay(&alice, &code_url).status, 201);
    let openid = merchant.query("T2026000013").json()["payer"]["openid"].as_str().unwrap().to_string();

    let mut body: serde_json::Value =
        serde_json::from_str(&merchant.order_body("T2026000014", 200, "https://merchant.example/notify")).unwrap();
    body["payer"] = serde_json::json!({"openid": openid});
    let r = merchant.call("POST", "/v3/pay/transactions/jsapi", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    let prepay_id = r.json()["prepay_id"].as_str().unwrap().to_string();
    let (ts, nonce, package) = (now_s().to_string(), "593BEC0C930BF1AFEB40B4A08C8FB242", format!("prepay_id={prepay_id}"));
    let message = format!("{}\n{ts}\n{nonce}\n{package}\n", merchant.appid);
    let pay_sign = wxpay::base64::encode(&merchant.key.sign(message.as_bytes()));
    let params = |sign: &str| {
        serde_json::json!({"prepay_id": prepay_id, "app_id": merchant.appid, "time_stamp": ts, "nonce_str": nonce, "package": package,
            "sign_type": "RSA", "pay_sign": sign, "pin": "135790"})
        .to_string()
    };
    let forged = wxpay::base64::encode(&wxpay::SigningKey::generate().sign(message.as_bytes()));
    let r = alice.post("/api/v1/merchant-payments", &params(&forged));
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["field"], "pay_sign");
    let r = alice.post("/api/v1/merchant-payments", &serde_json::json!({"prepay_id": prepay_id, "pin": "135790"}).to_string());
    assert_eq!(r.status, 400, "unsigned: {}", r.body);
    let r = bob.post("/api/v1/merchant-payments", &params(&pay_sign));
    assert_eq!(r.status, 403, "the order names Alice: {}", r.body);
    let r = alice.post("/api/v1/merchant-payments", &params(&pay_sign));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(alice.available("CNY"), "997.99");
    assert_eq!(bob.available("CNY"), "1000.00");
}

fn a_failed_notification_is_retried_on_the_schedule_and_replayable(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let notify = Receiver::start(vec![500, 503]);
    let alice = payer(server.port);
    let code_url = merchant.native_order("T2026000015", 100, &notify.url);
    assert_eq!(pay(&alice, &code_url).status, 201);
    // The outbox as the operator sees it, once the dispatcher has recorded try `attempts` and its answer.
    let recorded = |attempts: i64, status: i64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let seen = get(server.port, &format!("/admin/api/notifications?mchid={}", merchant.mchid)).json();
            if seen[0]["attempts"] == attempts && seen[0]["last_status"] == status {
                return seen[0].clone();
            }
            assert!(std::time::Instant::now() < deadline, "{seen}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let first = notify.next(Duration::from_secs(10));
    recorded(1, 500);
    assert!(notify.rx.recv_timeout(Duration::from_secs(2)).is_err(), "no retry before 15 s");
    advance_clock(server.port, 15);
    let second = notify.next(Duration::from_secs(10));
    recorded(2, 503);
    advance_clock(server.port, 15);
    let third = notify.next(Duration::from_secs(10));
    let id = |r: &Received| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"].clone();
    assert_eq!(id(&first), id(&second));
    assert_eq!(id(&second), id(&third), "the same event id every time, for the merchant to de-duplicate");
    let seen = recorded(3, 200);
    assert_eq!(seen["state"], "delivered", "{seen}");
    let event_id = seen["id"].as_str().unwrap().to_string();
    let detail = get(server.port, &format!("/admin/api/notifications/{event_id}")).json();
    let statuses: Vec<i64> = detail["delivery_attempts"].as_array().unwrap().iter().map(|a| a["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, vec![500, 503, 200], "{detail}");
    let r = post(server.port, &format!("/admin/api/notifications/{event_id}/replay"), "");
    assert_eq!(r.status, 202, "{}", r.body);
    let replayed = notify.next(Duration::from_secs(10));
    assert_eq!(id(&replayed), serde_json::Value::from(event_id));
    merchant.open_notification(&replayed);
}

fn a_rotated_platform_certificate_is_listed_and_signs(env: Env) {
    let server = start(&env);
    let mut merchant = TestMerchant::onboard(server.port, 0);
    let before = merchant.call("GET", "/v3/certificates", "");
    let old_serial = before.header("wechatpay-serial").unwrap().to_string();
    let r = post(server.port, "/admin/api/platform-keys/rotate", "");
    assert_eq!(r.status, 200, "{}", r.body);
    merchant.refresh_platform_keys();
    let after = merchant.call("GET", "/v3/certificates", "");
    let serials: Vec<String> =
        after.json()["data"].as_array().unwrap().iter().map(|c| c["serial_no"].as_str().unwrap().to_string()).collect();
    assert_eq!(serials.len(), 2, "both certificates are valid during the switch");
    assert!(serials.contains(&old_serial));
    assert_ne!(after.header("wechatpay-serial").unwrap(), old_serial, "the new certificate signs");
    let r = post(server.port, &format!("/admin/api/platform-keys/{old_serial}/retire"), "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(merchant.call("GET", "/v3/certificates", "").json()["data"].as_array().unwrap().len(), 1);
}

fn public_key_mode_signs_with_the_public_key_id(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let public_key_id = get(server.port, "/admin/api/platform-keys").json()["public_key"]["public_key_id"].as_str().unwrap().to_string();
    assert!(public_key_id.starts_with("PUB_KEY_ID_"));
    let body = merchant.order_body("T2026000016", 100, "https://merchant.example/notify");
    let auth = merchant.authorization("POST", "/v3/pay/transactions/native", &body, now_s(), "pk-nonce-1");
    let r = merchant.raw("POST", "/v3/pay/transactions/native", &body, &[("Authorization", &auth), ("Wechatpay-Serial", &public_key_id)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("wechatpay-serial"), Some(public_key_id.as_str()));
    merchant.check_signed(&r);
}

fn codepay(merchant: &TestMerchant, out_trade_no: &str, total: i64, auth_code: &str) -> Response {
    let body = serde_json::json!({
        "appid": merchant.appid, "mchid": merchant.mchid, "description": "POS sale", "out_trade_no": out_trade_no,
        "payer": {"auth_code": auth_code}, "amount": {"total": total, "currency": "CNY"},
        "scene_info": {"store_info": {"id": "S1"}, "device_id": "POS-1", "device_ip": "10.0.0.8"}
    });
    merchant.call("POST", "/v3/pay/transactions/codepay", &body.to_string())
}

fn payment_code(w: &Wallet) -> String {
    let r = w.post("/api/v1/payment-codes", "{}");
    assert_eq!(r.status, 201, "{}", r.body);
    let code = r.json()["code"].as_str().unwrap().to_string();
    assert!(code.len() == 18 && code.starts_with("13"), "{code}");
    code
}

fn a_scanned_payment_code_waits_for_the_pin_and_pays_once(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let (alice, bob) = (payer(server.port), payer(server.port));
    let code = payment_code(&alice);
    let r = codepay(&merchant, "P2026000001", 2500, &code);
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["trade_state"], "USERPAYING");
    assert_eq!(merchant.query("P2026000001").json()["trade_state"], "USERPAYING");
    // The same code cannot pay a second order.
    let again = codepay(&merchant, "P2026000002", 100, &code);
    assert_eq!(again.json()["detail"]["field"], "/payer/auth_code", "{}", again.body);

    let waiting = alice.get("/api/v1/payment-codes/awaiting").json();
    assert_eq!(waiting[0]["amount"], "25.00", "{waiting}");
    let order_id = waiting[0]["order_id"].as_str().unwrap().to_string();
    let by_bob = bob.post("/api/v1/merchant-payments", &serde_json::json!({"order_id": order_id, "pin": "135790"}).to_string());
    assert_eq!(by_bob.status, 404, "only the code's owner pays; to anyone else the order does not exist: {}", by_bob.body);
    let no_pin = alice.post("/api/v1/merchant-payments", &serde_json::json!({"order_id": order_id}).to_string());
    assert_eq!(no_pin.json()["code"], "PIN_REQUIRED", "{}", no_pin.body);
    let paid = alice.post("/api/v1/merchant-payments", &serde_json::json!({"order_id": order_id, "pin": "135790"}).to_string());
    assert_eq!(paid.status, 201, "{}", paid.body);
    let q = merchant.query("P2026000001").json();
    assert_eq!((q["trade_state"].as_str(), q["trade_type"].as_str()), (Some("SUCCESS"), Some("MICROPAY")), "{q}");
    assert_eq!(alice.available("CNY"), "975.00");
    assert_eq!(bob.available("CNY"), "1000.00");
    // A code a minute old is refused.
    let stale = payment_code(&bob);
    advance_clock(server.port, 61);
    assert_eq!(codepay(&merchant, "P2026000003", 100, &stale).status, 400);
    assert_eq!(codepay(&merchant, "P2026000003", 100, "123456").json()["detail"]["field"], "/payer/auth_code");
}

fn a_small_payment_code_charge_is_paid_at_once_without_the_pin(env: Env) {
    let mut settings = WALLET_ENV.to_vec();
    settings.push(("QIANBAO_NO_PIN_THRESHOLD_MINOR", "5000"));
    let server = env.serve_with(&[], &settings);
    let merchant = TestMerchant::onboard(server.port, 0);
    let alice = payer(server.port);
    let r = codepay(&merchant, "P2026000004", 1800, &payment_code(&alice));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["trade_state"], "SUCCESS");
    assert_eq!(r.json()["trade_type"], "MICROPAY");
    assert_eq!(alice.available("CNY"), "982.00");
    // Retrying the same request (same out_trade_no and code) answers the same payment, once.
    let code = payment_code(&alice);
    let first = codepay(&merchant, "P2026000005", 100, &code);
    let retry = codepay(&merchant, "P2026000005", 100, &code);
    assert_eq!(first.json()["transaction_id"], retry.json()["transaction_id"]);
    assert_eq!(alice.available("CNY"), "981.00");
}

fn a_reversed_payment_code_order_cannot_be_paid(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let alice = payer(server.port);
    assert_eq!(codepay(&merchant, "P2026000006", 700, &payment_code(&alice)).status, 202);
    let order_id = alice.get("/api/v1/payment-codes/awaiting").json()[0]["order_id"].as_str().unwrap().to_string();
    let body = format!(r#"{{"appid":"{}","mchid":"{}"}}"#, merchant.appid, merchant.mchid);
    let r = merchant.call("POST", "/v3/pay/transactions/out-trade-no/P2026000006/reverse", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(merchant.query("P2026000006").json()["trade_state"], "REVOKED");
    let late = alice.post("/api/v1/merchant-payments", &serde_json::json!({"order_id": order_id, "pin": "135790"}).to_string());
    assert_eq!(late.json()["code"], "ORDER_CLOSED", "{}", late.body);
    assert_eq!(alice.available("CNY"), "1000.00");
    // A paid one is refunded in full when reversed.
    let code = payment_code(&alice);
    assert_eq!(codepay(&merchant, "P2026000007", 300, &code).status, 202);
    let order_id = alice.get("/api/v1/payment-codes/awaiting").json()[0]["order_id"].as_str().unwrap().to_string();
    assert_eq!(
        alice.post("/api/v1/merchant-payments", &serde_json::json!({"order_id": order_id, "pin": "135790"}).to_string()).status,
        201
    );
    assert_eq!(alice.available("CNY"), "997.00");
    let r = merchant.call("POST", "/v3/pay/transactions/out-trade-no/P2026000007/reverse", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(merchant.query("P2026000007").json()["trade_state"], "REVOKED");
    assert_eq!(alice.available("CNY"), "1000.00");
}

/// The server's (manual) clock, and the China Standard Time date it shows.
fn today(port: u16) -> (i64, String) {
    let now = post(port, "/admin/api/sandbox/clock", r#"{"advance_s":0}"#).json()["now_ms"].as_i64().unwrap();
    let t = wxpay::time::civil(now / 1000 + wxpay::time::CST_OFFSET_S);
    (now, format!("{:04}-{:02}-{:02}", t.year, t.month, t.day))
}

/// Move the clock to ten minutes into the next China day (bills are ready, the day can settle).
fn next_day(port: u16) -> String {
    let (now, _) = today(port);
    let into_day_s = (now / 1000 + wxpay::time::CST_OFFSET_S).rem_euclid(86_400);
    advance_clock(port, (86_400 - into_day_s + 660) as u64);
    today(port).1
}

fn download(merchant: &TestMerchant, url: &str) -> Response {
    let target = url.split_once("/v3/").map(|(_, rest)| format!("/v3/{rest}")).unwrap();
    merchant.call("GET", &target, "")
}

/// A day bigger than a bill's page (2,000 lines) on both sides: written a page at a time, merged in time
/// order, streamed and signed as it streams, every line once and the totals exact.
fn a_day_of_many_pages_of_orders_is_billed_whole_in_time_order_with_exact_totals(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 60);
    let (now, day) = today(server.port);
    let start_ms = now - (now + wxpay::time::CST_OFFSET_S * 1000).rem_euclid(86_400_000);
    let (orders, every) = (4_500, 2);
    let url = match &env.database_url {
        Some(u) => store::DatabaseUrl::parse(u).unwrap(),
        None => store::DatabaseUrl::Sqlite(env.data_dir.join("qianbao.db")),
    };
    let imported = platform::payments::ImportedDay {
        mchid: &merchant.mchid,
        appid: &merchant.appid,
        first_id: 1 << 50,
        orders,
        start_ms,
        span_ms: 3_600_000,
        total_minor: 1_000,
        fee_minor: 6,
        refund_every: every,
        refund_minor: 300,
    };
    store::Db::open(&url, 1).unwrap().transaction(|c| platform::payments::import_paid_day(c, &imported)).unwrap();
    next_day(server.port);

    let link = merchant.call("GET", &format!("/v3/bill/tradebill?bill_date={day}&bill_type=ALL"), "");
    assert_eq!(link.status, 200, "{}", link.body);
    let bill = download(&merchant, link.json()["download_url"].as_str().unwrap());
    assert_eq!(bill.status, 200);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, bill.body.as_bytes());
    assert_eq!(Some(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>().as_str()), link.json()["hash_value"].as_str());
    let lines: Vec<&str> = bill.body.lines().collect();
    let refunds = orders / every;
    assert_eq!(lines.len() as i64, 1 + orders + refunds + 2);
    let body = &lines[1..lines.len() - 2];
    let times: Vec<&str> = body.iter().map(|l| l.split(',').next().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "lines in time order");
    let nos: std::collections::HashSet<&str> =
        body.iter().filter(|l| l.contains("`SUCCESS,")).map(|l| l.split(',').nth(6).unwrap()).collect();
    assert_eq!(nos.len() as i64, orders, "every order once");
    assert_eq!(body.iter().filter(|l| l.contains("`REFUND,")).count() as i64, refunds);
    assert_eq!(lines[lines.len() - 1], format!("`{},`45000.00,`6750.00,`0.00,`270.00,`45000.00,`6750.00", orders + refunds));

    // Settled (as the deadline sweep may have done already): the fee and the payout close the fund flow.
    assert_eq!(post(server.port, "/admin/api/settlements/run", &format!(r#"{{"day":"{day}"}}"#)).status, 200);
    let link = merchant.call("GET", &format!("/v3/bill/fundflowbill?bill_date={day}"), "");
    let fund = download(&merchant, link.json()["download_url"].as_str().unwrap()).body;
    let fund_lines: Vec<&str> = fund.lines().collect();
    let balance = |back: usize| fund_lines[fund_lines.len() - back].split(',').nth(7).unwrap().to_string();
    assert_eq!(fund_lines.len() as i64, 1 + orders + refunds + 2 + 2);
    assert_eq!(
        (balance(5), balance(4), balance(3)),
        ("`38250.00".into(), "`37980.00".into(), "`0.00".into()),
        "the day's takings, less the fee, less the payout"
    );
    assert_eq!(fund_lines[fund_lines.len() - 1], format!("`{},`{orders},`45000.00,`{},`45000.00", orders + refunds + 2, refunds + 2));
}

fn a_trade_bill_lists_the_days_payments_and_refunds_with_a_matching_hash(env: Env) {
    let server = start(&env);
    let (merchant, other) = (TestMerchant::onboard(server.port, 60), TestMerchant::onboard(server.port, 0));
    let alice = payer(server.port);
    let (_, day) = today(server.port);
    for (no, total) in [("T2026000101", 10_000), ("T2026000102", 2_345)] {
        assert_eq!(pay(&alice, &merchant.native_order(no, total, "https://merchant.example/notify")).status, 201);
    }
    assert_eq!(merchant.refund("T2026000101", "R2026000101", 1_000, 10_000).status, 200);
    let early = merchant.call("GET", &format!("/v3/bill/tradebill?bill_date={day}&bill_type=ALL"), "");
    assert_eq!(early.status, 400, "the day is not over: {}", early.body);
    next_day(server.port);

    let link = merchant.call("GET", &format!("/v3/bill/tradebill?bill_date={day}&bill_type=ALL"), "");
    assert_eq!(link.status, 200, "{}", link.body);
    let (url, hash) = (link.json()["download_url"].as_str().unwrap().to_string(), link.json()["hash_value"].as_str().unwrap().to_string());
    assert_eq!(link.json()["hash_type"], "SHA1");
    let bill = download(&merchant, &url);
    assert_eq!(bill.status, 200, "{}", bill.body);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, bill.body.as_bytes());
    assert_eq!(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>(), hash);
    let lines: Vec<&str> = bill.body.lines().collect();
    assert!(lines[0].starts_with("交易时间,公众账号ID,商户号"), "{}", lines[0]);
    assert_eq!(lines.len(), 6, "header, two payments, one refund, summary header, summary:\n{}", bill.body);
    assert!(lines[1].contains("`T2026000101") && lines[1].contains("`100.00") && lines[1].contains("`0.60%"), "{}", lines[1]);
    assert!(lines[3].contains("`REFUND") && lines[3].contains("`R2026000101") && lines[3].contains("`10.00"), "{}", lines[3]);
    assert_eq!(lines[5], "`3,`123.45,`10.00,`0.00,`0.74,`123.45,`10.00");
    // Only the merchant that asked can fetch it.
    assert_eq!(download(&other, &url).status, 400);

    let link = merchant.call("GET", &format!("/v3/bill/tradebill?bill_date={day}&bill_type=SUCCESS&tar_type=GZIP"), "");
    let gz = request_bytes(&merchant, link.json()["download_url"].as_str().unwrap());
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    assert_eq!(text.lines().count(), 5, "two payments and the summary: {text}");
    assert_eq!(merchant.call("GET", &format!("/v3/bill/tradebill?bill_date={day}&bill_type=NOPE"), "").json()["code"], "PARAM_ERROR");
    advance_clock(server.port, 31);
    assert_eq!(download(&merchant, &url).status, 400, "links live 30 s");
}

/// The raw bytes of a signed GET (a gzip bill is not text).
fn request_bytes(merchant: &TestMerchant, url: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let target = url.split_once("/v3/").map(|(_, rest)| format!("/v3/{rest}")).unwrap();
    let auth = merchant.authorization("GET", &target, "", now_s(), &wxpay::random_alphanumeric(32));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", merchant.port)).unwrap();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: {auth}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200") && head.to_ascii_lowercase().contains("application/x-gzip"), "{head}");
    raw[split + 4..].to_vec()
}

fn settle(port: u16, day: &str) -> serde_json::Value {
    let r = post(port, "/admin/api/settlements/run", &format!(r#"{{"day":"{day}"}}"#));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn settlement_pays_out_takings_less_fees_and_refunds_once(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 60);
    let alice = payer(server.port);
    let (_, day) = today(server.port);
    for (no, total) in [("T2026000201", 10_000), ("T2026000202", 5_000)] {
        assert_eq!(pay(&alice, &merchant.native_order(no, total, "https://merchant.example/notify")).status, 201);
    }
    assert_eq!(merchant.refund("T2026000201", "R2026000201", 2_000, 10_000).status, 200);
    let r = post(server.port, "/admin/api/settlements/run", &format!(r#"{{"day":"{day}"}}"#));
    assert_eq!(r.status, 400, "today is not over: {}", r.body);
    next_day(server.port);
    let first = settle(server.port, &day);
    let mine: Vec<&serde_json::Value> = first.as_array().unwrap().iter().filter(|s| s["mchid"] == merchant.mchid.as_str()).collect();
    assert_eq!(mine.len(), 1, "{first}");
    let s = mine[0];
    assert_eq!(
        (s["payments"].as_i64(), s["gross"].as_i64(), s["refunds"].as_i64(), s["fees"].as_i64()),
        (Some(2), Some(15_000), Some(2_000), Some(90))
    );
    assert_eq!((s["payout"].as_i64(), s["carry_out"].as_i64()), (Some(12_910), Some(0)));
    // Running it again (or the daily task running it) settles nothing twice.
    let again = settle(server.port, &day);
    assert_eq!(again, first);
    let csv = get(server.port, &format!("/admin/api/settlements?day={day}&format=csv")).body;
    assert!(csv.contains(&format!("{},{day},CNY,2,150.00,20.00,0.90,0.00,129.10,0.00", merchant.mchid)), "{csv}");
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));

    let link = merchant.call("GET", &format!("/v3/bill/fundflowbill?bill_date={day}"), "");
    assert_eq!(link.status, 200, "{}", link.body);
    let flow = download(&merchant, link.json()["download_url"].as_str().unwrap()).body;
    let last = flow.lines().last().unwrap();
    assert_eq!(last, "`5,`2,`150.00,`3,`150.00", "two payments in; a refund, the fee and the payout out:\n{flow}");
}

fn refunds_larger_than_a_days_takings_carry_into_the_next_settlement(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let alice = payer(server.port);
    let (_, day1) = today(server.port);
    assert_eq!(pay(&alice, &merchant.native_order("T2026000301", 1_000, "https://merchant.example/notify")).status, 201);
    let day2 = next_day(server.port);
    assert_eq!(settle(server.port, &day1)[0]["payout"], 1_000);
    // Day 2: only a refund (of money already paid out): the receivable goes below zero.
    assert_eq!(merchant.refund("T2026000301", "R2026000301", 800, 1_000).status, 200);
    let day3 = next_day(server.port);
    let s2 = settle(server.port, &day2);
    assert_eq!((s2[0]["payout"].as_i64(), s2[0]["carry_out"].as_i64()), (Some(0), Some(-800)), "{s2}");
    // Day 3: new takings first make good the shortfall.
    assert_eq!(pay(&alice, &merchant.native_order("T2026000302", 1_500, "https://merchant.example/notify")).status, 201);
    next_day(server.port);
    let s3 = settle(server.port, &day3);
    assert_eq!(
        (s3[0]["carry_in"].as_i64(), s3[0]["payout"].as_i64(), s3[0]["carry_out"].as_i64()),
        (Some(-800), Some(700), Some(0)),
        "{s3}"
    );
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn a_service_provider_takes_payments_and_refunds_for_its_sub_merchant_only(env: Env) {
    let server = start(&env);
    let sp = TestMerchant::onboard_as(server.port, 0, "service_provider");
    let other_sp = TestMerchant::onboard_as(server.port, 0, "service_provider");
    let sub = sp.sub_merchant();
    let notify = Receiver::start(vec![]);
    let alice = payer(server.port);
    let body = serde_json::json!({
        "sp_appid": sp.appid, "sp_mchid": sp.mchid, "sub_mchid": sub, "description": "partner order", "out_trade_no": "S2026000001",
        "notify_url": notify.url, "amount": {"total": 600, "currency": "CNY"}
    });
    let r = sp.call("POST", "/v3/pay/partner/transactions/native", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(pay(&alice, r.json()["code_url"].as_str().unwrap()).status, 201);
    let event = sp.open_notification(&notify.next(Duration::from_secs(10)));
    let resource = &event["resource"];
    assert_eq!(
        (resource["sp_mchid"].as_str(), resource["sub_mchid"].as_str()),
        (Some(sp.mchid.as_str()), Some(sub.as_str())),
        "{resource}"
    );
    assert_eq!(resource["sp_appid"], sp.appid.as_str());
    assert!(resource["payer"]["sp_openid"].is_string(), "{resource}");
    assert!(resource.get("mchid").is_none());

    let query = format!("/v3/pay/partner/transactions/out-trade-no/S2026000001?sp_mchid={}&sub_mchid={sub}", sp.mchid);
    let q = sp.call("GET", &query, "");
    assert_eq!(q.json()["trade_state"], "SUCCESS", "{}", q.body);
    // Another provider can neither see nor refund it, whichever way it asks.
    let theirs = other_sp.call(
        "GET",
        &format!("/v3/pay/partner/transactions/out-trade-no/S2026000001?sp_mchid={}&sub_mchid={sub}", other_sp.mchid),
        "",
    );
    assert_eq!((theirs.status, theirs.json()["code"].as_str()), (403, Some("NO_AUTH")), "{}", theirs.body);
    let refund = |m: &TestMerchant, no: &str| {
        let body = serde_json::json!({"sub_mchid": sub, "out_trade_no": "S2026000001", "out_refund_no": no, "amount": {"refund": 200, "total": 600, "currency": "CNY"}});
        m.call("POST", "/v3/refund/domestic/refunds", &body.to_string())
    };
    assert_eq!(refund(&other_sp, "SR1").status, 403);
    assert_eq!(sp.refund("S2026000001", "SR2", 200, 600).status, 404, "without sub_mchid it is not the provider's own order");
    let r = refund(&sp, "SR3");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sp.open_notification(&notify.next(Duration::from_secs(10)))["event_type"], "REFUND.SUCCESS");
    // The provider downloads its sub-merchant's bill; another provider may not.
    let (_, day) = today(server.port);
    let other_day = next_day(server.port);
    assert_ne!(day, other_day);
    let link = sp.call("GET", &format!("/v3/bill/tradebill?bill_date={day}&sub_mchid={sub}"), "");
    assert_eq!(link.status, 200, "{}", link.body);
    let bill = download(&sp, link.json()["download_url"].as_str().unwrap()).body;
    assert!(bill.contains("`S2026000001") && bill.lines().count() == 5, "{bill}");
    assert_eq!(other_sp.call("GET", &format!("/v3/bill/tradebill?bill_date={day}&sub_mchid={sub}"), "").status, 403);
    assert_eq!(sp.call("GET", &format!("/v3/refund/domestic/refunds/SR3?sub_mchid={sub}"), "").json()["amount"]["refund"], 200);
    assert_eq!(alice.available("CNY"), "996.00");

    let second = serde_json::json!({
        "sp_appid": sp.appid, "sp_mchid": sp.mchid, "sub_mchid": sub, "description": "to close", "out_trade_no": "S2026000002",
        "notify_url": notify.url, "amount": {"total": 100, "currency": "CNY"}
    });
    assert_eq!(sp.call("POST", "/v3/pay/partner/transactions/native", &second.to_string()).status, 200);
    let close = serde_json::json!({"sp_mchid": sp.mchid, "sub_mchid": sub}).to_string();
    assert_eq!(sp.call("POST", "/v3/pay/partner/transactions/out-trade-no/S2026000002/close", &close).status, 204);
    let own_sub_elsewhere = serde_json::json!({
        "sp_appid": other_sp.appid, "sp_mchid": other_sp.mchid, "sub_mchid": sub, "description": "not mine", "out_trade_no": "S2026000003",
        "notify_url": notify.url, "amount": {"total": 100, "currency": "CNY"}
    });
    assert_eq!(other_sp.call("POST", "/v3/pay/partner/transactions/native", &own_sub_elsewhere.to_string()).status, 403);
}

fn a_card_paid_order_is_refunded_to_the_card_and_a_balance_paid_one_to_the_balance(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let bob = Wallet::register(server.port, &format!("+86{}", PHONE.fetch_add(1, Ordering::SeqCst)), "Bob");
    bob.set_pin("135790");
    let card = bob.post("/api/v1/cards", r#"{"number":"4242 4242 4242 4242","exp_month":12,"exp_year":2099}"#).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let code_url = merchant.native_order("T2026000401", 5_000, "https://merchant.example/notify");
    let paid =
        bob.post("/api/v1/merchant-payments", &serde_json::json!({"code_url": code_url, "pin": "135790", "card_id": card}).to_string());
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(bob.available("CNY"), "0.00", "the card paid, not the balance");
    let r = merchant.refund("T2026000401", "R2026000401a", 2_000, 5_000);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.json()["channel"].as_str(), r.json()["user_received_account"].as_str()),
        (Some("ORIGINAL"), Some("原支付卡")),
        "{}",
        r.body
    );
    assert_eq!(merchant.refund("T2026000401", "R2026000401b", 3_000, 5_000).json()["channel"], "ORIGINAL");
    assert_eq!(bob.available("CNY"), "0.00", "the money went back to the card, not the wallet");

    let alice = payer(server.port);
    assert_eq!(pay(&alice, &merchant.native_order("T2026000402", 1_000, "https://merchant.example/notify")).status, 201);
    let r = merchant.refund("T2026000402", "R2026000402", 1_000, 1_000);
    assert_eq!(r.json()["channel"], "BALANCE", "{}", r.body);
    assert_eq!(alice.available("CNY"), "1000.00");
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn a_static_code_is_paid_with_the_amount_the_person_enters(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let notify = Receiver::start(vec![]);
    let body = serde_json::json!({"appid": merchant.appid, "description": "Till 1", "notify_url": notify.url}).to_string();
    let r = post(server.port, &format!("/admin/api/merchants/{}/static-codes", merchant.mchid), &body);
    assert_eq!(r.status, 201, "{}", r.body);
    let code_url = r.json()["code_url"].as_str().unwrap().to_string();
    let alice = payer(server.port);
    let preview = alice.post("/api/v1/merchant-payments/preview", &serde_json::json!({"code_url": code_url}).to_string()).json();
    assert_eq!((preview["description"].as_str(), preview["enter_amount"].as_bool()), (Some("Till 1"), Some(true)), "{preview}");
    let no_amount = alice.post("/api/v1/merchant-payments", &serde_json::json!({"code_url": code_url, "pin": "135790"}).to_string());
    assert_eq!(no_amount.json()["field"], "amount", "{}", no_amount.body);
    let bad_amount =
        alice.post("/api/v1/merchant-payments", &serde_json::json!({"code_url": code_url, "pin": "135790", "amount": "1.234"}).to_string());
    assert_eq!(bad_amount.status, 400, "{}", bad_amount.body);
    let paid =
        alice.post("/api/v1/merchant-payments", &serde_json::json!({"code_url": code_url, "pin": "135790", "amount": "12.50"}).to_string());
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(alice.available("CNY"), "987.50");
    let event = merchant.open_notification(&notify.next(Duration::from_secs(10)));
    assert_eq!(event["resource"]["amount"]["total"], 1_250);
    let out_trade_no = event["resource"]["out_trade_no"].as_str().unwrap();
    assert_eq!(merchant.query(out_trade_no).json()["trade_state"], "SUCCESS");
    let forged = code_url.replace("sr=", "sr=0");
    let r =
        alice.post("/api/v1/merchant-payments", &serde_json::json!({"code_url": forged, "pin": "135790", "amount": "1.00"}).to_string());
    assert_eq!(r.status, 400, "{}", r.body);
}

fn an_undelivered_notification_survives_a_crash_and_is_delivered_after_restart(env: Env) {
    let mut server = start(&env);
    let mut merchant = TestMerchant::onboard(server.port, 0);
    let notify = Receiver::start(vec![503]);
    let alice = payer(server.port);
    assert_eq!(pay(&alice, &merchant.native_order("T2026000501", 100, &notify.url)).status, 201);
    let first = notify.next(Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    let server = start(&env);
    merchant.port = server.port;
    advance_clock(server.port, 20);
    let again = notify.next(Duration::from_secs(10));
    let id = |r: &Received| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"].clone();
    assert_eq!(id(&first), id(&again));
    assert_eq!(merchant.open_notification(&again)["event_type"], "TRANSACTION.SUCCESS");
}

fn a_cover_a_merchant_published_dresses_a_red_packet(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let body = r#"{"title":"新春快乐","image_url":"https://cdn.merchant.example/covers/spring.png"}"#;
    let r = post(server.port, &format!("/admin/api/merchants/{}/covers", merchant.mchid), body);
    assert_eq!(r.status, 201, "{}", r.body);
    let bad = post(
        server.port,
        &format!("/admin/api/merchants/{}/covers", merchant.mchid),
        r#"{"title":"x","image_url":"http://plain.example/a.png"}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let (alice, bob) = (payer(server.port), payer(server.port));
    alice.befriend(&bob);
    let covers = alice.get("/api/v1/red-packet-covers").json();
    assert_eq!(covers.as_array().unwrap().len(), 1, "{covers}");
    let cover = covers[0]["id"].as_str().unwrap().to_string();
    assert_eq!(covers[0]["merchant"], format!("Shop {}", merchant.mchid));
    let send = |cover: &str| {
        let body = serde_json::json!({"split": "single", "to_person_id": bob.id, "currency": "CNY", "amount": "8.88", "shares": 1, "cover": cover, "pin": "135790"});
        alice.post("/api/v1/red-packets", &body.to_string())
    };
    assert_eq!(send("12345").json()["field"], "cover", "an unpublished cover is refused");
    assert_eq!(alice.available("CNY"), "1000.00");
    let packet = send(&cover);
    assert_eq!(packet.status, 201, "{}", packet.body);
    assert_eq!(packet.json()["cover"], cover.as_str());
}

fn an_h5_order_opens_a_page_that_hands_it_to_the_wallet(env: Env) {
    let server = start(&env);
    let merchant = TestMerchant::onboard(server.port, 0);
    let mut body: serde_json::Value =
        serde_json::from_str(&merchant.order_body("T2026000601", 1_999, "https://merchant.example/notify")).unwrap();
    body["description"] = "<script>alert(1)</script>".into();
    body["scene_info"] = serde_json::json!({"payer_client_ip": "203.0.113.7", "h5_info": {"type": "Wap"}});
    let r = merchant.call("POST", "/v3/pay/transactions/h5", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    let h5_url = r.json()["h5_url"].as_str().unwrap().to_string();
    let path = h5_url.split_once("127.0.0.1").map(|(_, rest)| rest.split_once('/').unwrap().1).map(|p| format!("/{p}")).unwrap();
    let page = request(server.port, "GET", &path, None, None).unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.body.contains("CNY 19.99") && page.body.contains("qianbao://pay?prepay_id="), "{}", page.body);
    assert!(!page.body.contains("<script>"), "merchant text is escaped");
    let prepay_id = path.split("prepay_id=").nth(1).unwrap();
    let alice = payer(server.port);
    let paid = alice.post("/api/v1/merchant-payments", &serde_json::json!({"prepay_id": prepay_id, "pin": "135790"}).to_string());
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert!(request(server.port, "GET", &path, None, None).unwrap().body.contains("Paid."));
    assert_eq!(request(server.port, "GET", "/pay/h5?prepay_id=wx0000", None, None).unwrap().status, 404);
    let missing_scene =
        merchant.call("POST", "/v3/pay/transactions/h5", &merchant.order_body("T2026000602", 100, "https://merchant.example/notify"));
    assert_eq!(missing_scene.json()["detail"]["field"], "/scene_info/payer_client_ip", "{}", missing_scene.body);
}

fn a_merchant_past_its_request_rate_is_told_to_slow_down_and_nothing_happens(env: Env) {
    let mut settings = WALLET_ENV.to_vec();
    settings.push(("QIANBAO_MERCHANT_REQUESTS_PER_S_MAX", "5"));
    let server = env.serve_with(&[], &settings);
    let merchant = TestMerchant::onboard(server.port, 0);
    let answers: Vec<(String, Response)> = (0..15)
        .map(|i| {
            let no = format!("L20260007{i:02}");
            let r = merchant.call("POST", "/v3/pay/transactions/native", &merchant.order_body(&no, 100, "https://merchant.example/notify"));
            (no, r)
        })
        .collect();
    let limited: Vec<&String> = answers.iter().filter(|(_, r)| r.status == 429).map(|(no, _)| no).collect();
    assert!(limited.len() >= 5, "{:?}", answers.iter().map(|(_, r)| r.status).collect::<Vec<_>>());
    assert_eq!(answers.iter().find(|(_, r)| r.status == 429).unwrap().1.json()["code"], "RATELIMIT_EXCEEDED");
    for no in limited {
        std::thread::sleep(Duration::from_millis(250)); // within the rate
        assert_eq!(merchant.query(no).json()["code"], "ORDER_NOT_EXIST", "a refused request placed nothing");
    }
}

fn notifications_are_not_sent_into_private_networks_by_default(env: Env) {
    let mut settings = WALLET_ENV.to_vec();
    settings.retain(|(k, _)| *k != "QIANBAO_NOTIFY_PRIVATE_ADDRESSES");
    let server = env.serve_with(&[], &settings);
    let merchant = TestMerchant::onboard(server.port, 0);
    let notify = Receiver::start(vec![]);
    let alice = payer(server.port);
    assert_eq!(pay(&alice, &merchant.native_order("T2026000801", 100, &notify.url)).status, 201);
    assert!(notify.rx.recv_timeout(Duration::from_secs(2)).is_err(), "nothing reached the loopback address");
    let seen = get(server.port, &format!("/admin/api/notifications?mchid={}", merchant.mchid)).json();
    assert!(seen[0]["last_error"].as_str().unwrap_or("").contains("non-public address"), "{seen}");
    assert_eq!(seen[0]["state"], "pending", "it stays in the outbox, visible to the operator");
}
