//! The global merchant API (`/v3/global/...`) and paying across currencies, black-box: a Hong Kong
//! merchant's HKD order paid by a mainland wallet in CNY, queried with `payer_total`/`exchange_rate`,
//! notified, partly refunded at the original rate; institution mode and its limits; the FX operator API.

use crate::support::merchant::*;
use crate::support::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

both_backends!(
    a_global_hkd_order_paid_by_a_cny_wallet_answers_payer_total_and_exchange_rate,
    global_orders_name_trade_type_and_merchant_category_code,
    a_global_order_in_another_currency_than_the_merchants_is_a_param_error,
    a_global_refund_gives_back_the_payers_share_at_the_original_rate,
    an_institution_acts_only_for_its_own_sub_merchants,
    the_wallet_preview_shows_both_amounts_and_the_rate_before_the_pin,
    a_rate_that_is_not_a_decimal_is_a_param_error_and_changes_nothing,
    a_global_payment_code_charge_converts_and_its_reversal_returns_the_payers_money,
    the_global_statement_lists_the_payers_amounts_and_both_exchange_rates_with_its_sha1,
    the_global_settlement_query_answers_a_settled_day_in_the_merchants_currency,
    an_institution_onboards_a_sub_merchant_once_however_often_it_asks,
    the_v2_rate_query_answers_signed_xml_and_refuses_a_bad_signature,
    the_v3_rate_endpoint_answers_the_rate_with_its_reference_and_markup,
    a_static_code_abroad_previews_the_entered_amount_in_both_currencies_and_pays_in_the_merchants,
);

static PHONE: AtomicU64 = AtomicU64::new(13_600_000_000);

fn start(env: &Env) -> Server {
    env.serve_with(&[], WALLET_ENV)
}

/// A mainland wallet with 1000.00 CNY and PIN 135790.
fn payer(port: u16) -> Wallet {
    let w = Wallet::register(port, &format!("+86{}", PHONE.fetch_add(1, Ordering::SeqCst)), "Payer");
    w.set_pin("135790");
    w.top_up("1000.00", "135790");
    w
}

/// The operator publishes 1 HKD = 0.9200 CNY.
fn hkd_cny(port: u16) {
    let r = operator_request(port, "PUT", "/admin/api/fx/rates", Some(r#"{"base":"HKD","quote":"CNY","rate":"0.9200","source":"desk"}"#));
    assert_eq!(r.status, 200, "{}", r.body);
}

fn global_body(m: &TestMerchant, out_trade_no: &str, total: i64, notify_url: &str) -> String {
    serde_json::json!({
        "appid": m.appid, "mchid": m.mchid, "description": "Dim sum", "out_trade_no": out_trade_no, "notify_url": notify_url,
        "trade_type": "NATIVE", "merchant_category_code": "5812", "amount": {"total": total, "currency": "HKD"}
    })
    .to_string()
}

fn global_native(m: &TestMerchant, out_trade_no: &str, total: i64, notify_url: &str) -> String {
    let r = m.call("POST", "/v3/global/transactions/native", &global_body(m, out_trade_no, total, notify_url));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["code_url"].as_str().unwrap().to_string()
}

fn pay(w: &Wallet, code_url: &str) -> Response {
    w.post("/api/v1/merchant-payments", &serde_json::json!({"code_url": code_url, "pin": "135790"}).to_string())
}

fn a_global_hkd_order_paid_by_a_cny_wallet_answers_payer_total_and_exchange_rate(env: Env) {
    let server = start(&env);
    hkd_cny(server.port);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let notify = Receiver::start(vec![]);
    let alice = payer(server.port);
    let code_url = global_native(&hk, "G2026000001", 10_000, &notify.url);
    let paid = pay(&alice, &code_url);
    assert_eq!(paid.status, 201, "{}", paid.body);
    // 100.00 HKD × 0.9200 × 1.005 = 92.46 CNY.
    assert_eq!(
        (paid.json()["payer_amount"].as_str(), paid.json()["payer_currency"].as_str()),
        (Some("92.46"), Some("CNY")),
        "{}",
        paid.body
    );
    assert_eq!(alice.available("CNY"), "907.54");
    let q = hk.call("GET", &format!("/v3/global/transactions/out-trade-no/G2026000001?mchid={}", hk.mchid), "");
    assert_eq!(q.status, 200, "{}", q.body);
    let amount = &q.json()["amount"];
    assert_eq!((amount["total"].as_i64(), amount["currency"].as_str()), (Some(10_000), Some("HKD")), "{}", q.body);
    assert_eq!((amount["payer_total"].as_i64(), amount["payer_currency"].as_str()), (Some(9_246), Some("CNY")));
    assert_eq!(
        (amount["exchange_rate"]["type"].as_str(), amount["exchange_rate"]["rate"].as_i64()),
        (Some("USERPAYMENT_RATE"), Some(92_460_000))
    );
    let id = q.json()["id"].as_str().unwrap().to_string();
    let by_id = hk.call("GET", &format!("/v3/global/transactions/id/{id}?mchid={}", hk.mchid), "");
    assert_eq!(by_id.json()["out_trade_no"], "G2026000001", "{}", by_id.body);
    let event = hk.open_notification(&notify.next(Duration::from_secs(10)));
    assert_eq!(event["resource"]["amount"]["payer_total"], 9_246, "{event}");
    assert_eq!(event["resource"]["amount"]["exchange_rate"]["rate"], 92_460_000);
}

fn global_orders_name_trade_type_and_merchant_category_code(env: Env) {
    let server = start(&env);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let base: serde_json::Value = serde_json::from_str(&global_body(&hk, "G2026000002", 100, "https://merchant.example/notify")).unwrap();
    for (field, change) in [("/trade_type", "trade_type"), ("/merchant_category_code", "merchant_category_code")] {
        let mut missing = base.clone();
        missing.as_object_mut().unwrap().remove(change);
        let r = hk.call("POST", "/v3/global/transactions/native", &missing.to_string());
        assert_eq!((r.status, r.json()["detail"]["field"].as_str()), (400, Some(field)), "{}", r.body);
    }
    let mut wrong = base.clone();
    wrong["trade_type"] = "JSAPI".into();
    let r = hk.call("POST", "/v3/global/transactions/native", &wrong.to_string());
    assert_eq!((r.status, r.json()["detail"]["field"].as_str()), (400, Some("/trade_type")), "{}", r.body);
    let mut mcc = base.clone();
    mcc["merchant_category_code"] = "58".into();
    assert_eq!(hk.call("POST", "/v3/global/transactions/native", &mcc.to_string()).status, 400);
    let mut mweb = base;
    mweb["trade_type"] = "MWEB".into();
    mweb["scene_info"] = serde_json::json!({"payer_client_ip": "127.0.0.1", "h5_info": {"type": "Wap"}});
    let r = hk.call("POST", "/v3/global/transactions/mweb", &mweb.to_string());
    assert!(r.json()["mweb_url"].as_str().is_some_and(|u| u.contains("/pay/h5?prepay_id=")), "{}", r.body);
}

fn a_global_order_in_another_currency_than_the_merchants_is_a_param_error(env: Env) {
    let server = start(&env);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let body = global_body(&hk, "G2026000003", 100, "https://merchant.example/notify").replace("\"HKD\"", "\"EUR\"");
    let r = hk.call("POST", "/v3/global/transactions/native", &body);
    assert_eq!((r.status, r.json()["detail"]["field"].as_str()), (400, Some("/amount/currency")), "{}", r.body);
    let onboard = post(
        server.port,
        "/admin/api/merchants",
        r#"{"kind":"direct","name":"Paris","mcc":"5311","country":"FR","settlement_currency":"CNY","fee_bps":0,"settlement_account":"FR76"}"#,
    );
    assert_eq!(onboard.status, 400, "a French merchant settles in EUR: {}", onboard.body);
    assert!(onboard.body.contains("EUR"), "{}", onboard.body);
}

fn a_global_refund_gives_back_the_payers_share_at_the_original_rate(env: Env) {
    let server = start(&env);
    hkd_cny(server.port);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let alice = payer(server.port);
    pay(&alice, &global_native(&hk, "G2026000004", 10_000, "https://merchant.example/notify"));
    let r = operator_request(server.port, "PUT", "/admin/api/fx/rates", Some(r#"{"base":"HKD","quote":"CNY","rate":"0.9900"}"#));
    assert_eq!(r.status, 200, "the rate moves: {}", r.body);
    let body = serde_json::json!({"out_trade_no": "G2026000004", "out_refund_no": "GR1", "amount": {"refund": 3_000, "total": 10_000, "currency": "HKD"}});
    let refund = hk.call("POST", "/v3/global/refunds", &body.to_string());
    assert_eq!(refund.status, 200, "{}", refund.body);
    let amount = &refund.json()["amount"];
    // 92.46 CNY × 30.00 / 100.00 = 27.738, half up: 27.74 CNY, at the payment's rate.
    assert_eq!(
        (amount["payer_refund"].as_i64(), amount["payer_currency"].as_str(), amount["exchange_rate"]["rate"].as_i64()),
        (Some(2_774), Some("CNY"), Some(92_460_000)),
        "{}",
        refund.body
    );
    assert_eq!(refund.json()["status"], "SUCCESS");
    assert!(refund.json()["id"].is_string());
    assert_eq!(alice.available("CNY"), "935.28");
    let again = hk.call("GET", &format!("/v3/global/refunds/out-refund-no/GR1?mchid={}", hk.mchid), "");
    assert_eq!(again.json()["amount"]["payer_refund"], 2_774, "{}", again.body);
    let over = serde_json::json!({"out_trade_no": "G2026000004", "out_refund_no": "GR2", "amount": {"refund": 7_001, "total": 10_000, "currency": "HKD"}});
    assert_eq!(hk.call("POST", "/v3/global/refunds", &over.to_string()).json()["code"], "NOT_ENOUGH");
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn an_institution_acts_only_for_its_own_sub_merchants(env: Env) {
    let server = start(&env);
    let bank = TestMerchant::onboard_in(server.port, 0, "service_provider", "FR", "EUR");
    let other = TestMerchant::onboard_in(server.port, 0, "service_provider", "FR", "EUR");
    let store = bank.sub_merchant_in("FR", "EUR");
    let theirs = other.sub_merchant_in("FR", "EUR");
    let body = |sub: &str| {
        serde_json::json!({"sp_appid": bank.appid, "sp_mchid": bank.mchid, "sub_mchid": sub, "description": "Parfum", "out_trade_no": format!("I{sub}"),
            "notify_url": "https://bank.example/notify", "trade_type": "NATIVE", "merchant_category_code": "5311", "amount": {"total": 5_000, "currency": "EUR"}})
        .to_string()
    };
    let ok = bank.call("POST", "/v3/global/transactions/native", &body(&store));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let refused = bank.call("POST", "/v3/global/transactions/native", &body(&theirs));
    assert_eq!((refused.status, refused.json()["code"].as_str()), (403, Some("NO_AUTH")), "{}", refused.body);
    let q = bank.call("GET", &format!("/v3/global/transactions/out-trade-no/I{store}?sp_mchid={}&sub_mchid={store}", bank.mchid), "");
    assert_eq!((q.status, q.json()["trade_state"].as_str()), (200, Some("NOTPAY")), "{}", q.body);
}

fn the_wallet_preview_shows_both_amounts_and_the_rate_before_the_pin(env: Env) {
    let server = start(&env);
    hkd_cny(server.port);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let alice = payer(server.port);
    let code_url = global_native(&hk, "G2026000005", 10_000, "https://merchant.example/notify");
    let preview = alice.post("/api/v1/merchant-payments/preview", &serde_json::json!({"code_url": code_url}).to_string());
    let (view, payment) = (preview.json(), preview.json()["payment"].clone());
    assert_eq!((view["amount"].as_str(), view["currency"].as_str()), (Some("100.00"), Some("HKD")), "{}", preview.body);
    assert_eq!(
        (payment["amount"].as_str(), payment["currency"].as_str(), payment["rate"].as_str()),
        (Some("92.46"), Some("CNY"), Some("0.92460000")),
        "{}",
        preview.body
    );
    assert_eq!((payment["reference_rate"].as_str(), payment["markup_bps"].as_i64()), (Some("0.9200"), Some(50)));
    let quote = payment["quote_id"].as_str().unwrap();
    assert_eq!(alice.available("CNY"), "1000.00", "a preview pays nothing");
    let r = operator_request(server.port, "PUT", "/admin/api/fx/rates", Some(r#"{"base":"HKD","quote":"CNY","rate":"1.5000"}"#));
    assert_eq!(r.status, 200);
    let paid =
        alice.post("/api/v1/merchant-payments", &serde_json::json!({"code_url": code_url, "pin": "135790", "quote_id": quote}).to_string());
    assert_eq!(paid.json()["payer_amount"], "92.46", "the quoted price, though the rate moved: {}", paid.body);
    let op = get(server.port, &format!("/admin/api/fx/quotes/{quote}"));
    assert_eq!((op.json()["used"].as_bool(), op.json()["person_id"].as_str()), (Some(true), Some(alice.id.as_str())), "{}", op.body);
}

fn a_rate_that_is_not_a_decimal_is_a_param_error_and_changes_nothing(env: Env) {
    let server = start(&env);
    for body in [
        r#"{"base":"HKD","quote":"CNY","rate":"-1"}"#,
        r#"{"base":"HKD","quote":"HKD","rate":"1"}"#,
        r#"{"base":"XYZ","quote":"CNY","rate":"1"}"#,
    ] {
        let r = operator_request(server.port, "PUT", "/admin/api/fx/rates", Some(body));
        assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("PARAM_ERROR")), "{body}: {}", r.body);
    }
    let rates = get(server.port, "/admin/api/fx/rates?base=HKD&quote=CNY");
    assert_eq!(rates.json().as_array().map(Vec::len), Some(0), "{}", rates.body);
}

fn payment_code(w: &Wallet) -> String {
    let r = w.post("/api/v1/payment-codes", "{}");
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["code"].as_str().unwrap().to_string()
}

fn a_global_payment_code_charge_converts_and_its_reversal_returns_the_payers_money(env: Env) {
    let server = start(&env);
    hkd_cny(server.port);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let alice = payer(server.port);
    let body = serde_json::json!({"appid": hk.appid, "mchid": hk.mchid, "description": "Milk tea", "out_trade_no": "G2026GM1",
        "merchant_category_code": "5814", "payer": {"auth_code": payment_code(&alice)}, "amount": {"total": 5_000, "currency": "HKD"}});
    let waiting = hk.call("POST", "/v3/global/micropay/transactions/pay", &body.to_string());
    assert_eq!((waiting.status, waiting.json()["trade_state"].as_str()), (202, Some("USERPAYING")), "{}", waiting.body);
    let order_id = alice.get("/api/v1/payment-codes/awaiting").json()[0]["order_id"].as_str().unwrap().to_string();
    let confirmed = alice.post("/api/v1/merchant-payments", &serde_json::json!({"order_id": order_id, "pin": "135790"}).to_string());
    assert_eq!(confirmed.status, 201, "{}", confirmed.body);
    let id = waiting.json()["id"].as_str().unwrap().to_string();
    let paid = hk.call("GET", &format!("/v3/global/transactions/id/{id}?mchid={}", hk.mchid), "");
    assert_eq!(paid.json()["trade_state"], "SUCCESS", "{}", paid.body);
    // 50.00 HKD × 0.9246 = 46.23 CNY.
    assert_eq!(
        (paid.json()["amount"]["payer_total"].as_i64(), paid.json()["amount"]["payer_currency"].as_str()),
        (Some(4_623), Some("CNY"))
    );
    assert_eq!(alice.available("CNY"), "953.77");
    let reversed =
        hk.call("POST", &format!("/v3/global/micropay/transactions/id/{id}/reverse"), &serde_json::json!({"mchid": hk.mchid}).to_string());
    assert_eq!((reversed.status, reversed.json()["trade_state"].as_str()), (200, Some("REVOKED")), "{}", reversed.body);
    assert_eq!(alice.available("CNY"), "1000.00", "reversed at the payment's rate: all of it back");
    let mut missing = body.clone();
    missing.as_object_mut().unwrap().remove("merchant_category_code");
    let r = hk.call("POST", "/v3/global/micropay/transactions/pay", &missing.to_string());
    assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("PARAM_ERROR")), "{}", r.body);
}

/// `yyyyMMdd` of an RFC 3339 time (its own offset's day).
fn wire_day(rfc3339: &str) -> String {
    rfc3339[..10].replace('-', "")
}

fn the_global_statement_lists_the_payers_amounts_and_both_exchange_rates_with_its_sha1(env: Env) {
    let server = start(&env);
    hkd_cny(server.port);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let alice = payer(server.port);
    pay(&alice, &global_native(&hk, "G2026GS1", 10_000, "https://merchant.example/notify"));
    let refund = serde_json::json!({"out_trade_no": "G2026GS1", "out_refund_no": "G2026GSR1", "amount": {"refund": 3_000, "total": 10_000, "currency": "HKD"}});
    assert_eq!(hk.call("POST", "/v3/global/refunds", &refund.to_string()).status, 200);
    let q = hk.call("GET", &format!("/v3/global/transactions/out-trade-no/G2026GS1?mchid={}", hk.mchid), "");
    let day = wire_day(q.json()["success_time"].as_str().unwrap());
    let target = format!("/v3/global/statements?date={day}&mchid={}", hk.mchid);
    let early = hk.call("GET", &target, "");
    assert_eq!((early.status, early.json()["detail"]["field"].as_str()), (400, Some("date")), "not before the day is over: {}", early.body);
    advance_clock(server.port, 2 * 86_400);
    let statement = hk.call("GET", &target, "");
    assert_eq!(statement.status, 200, "{}", statement.body);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, statement.body.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(statement.header("wechatpay-statement-sha1"), Some(hex.as_str()));
    let lines: Vec<&str> = statement.body.lines().collect();
    assert!(lines[0].contains("Exchange Rate,Refund Exchange Rate"), "{}", lines[0]);
    let payment = lines.iter().find(|l| l.contains("`SUCCESS")).expect("the payment's line");
    for cell in ["`HKD", "`100.00", "`CNY", "`92.46", "`92460000"] {
        assert!(payment.contains(cell), "{cell} in {payment}");
    }
    let refunded = lines.iter().find(|l| l.contains("`G2026GSR1")).expect("the refund's line");
    for cell in ["`30.00", "`27.74", "`92460000"] {
        assert!(refunded.contains(cell), "{cell} in {refunded}");
    }
}

fn the_global_settlement_query_answers_a_settled_day_in_the_merchants_currency(env: Env) {
    let server = start(&env);
    hkd_cny(server.port);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let alice = payer(server.port);
    pay(&alice, &global_native(&hk, "G2026GT1", 10_000, "https://merchant.example/notify"));
    let q = hk.call("GET", &format!("/v3/global/transactions/out-trade-no/G2026GT1?mchid={}", hk.mchid), "");
    let day = wire_day(q.json()["success_time"].as_str().unwrap());
    let target = |state: &str| {
        format!("/v3/global/settle/settlements?settle_state={state}&settle_start_date={day}&settle_end_date={day}&limit=10&offset=0")
    };
    let unsettled = hk.call("GET", &target("UNSETTLE"), "");
    assert_eq!(unsettled.status, 200, "{}", unsettled.body);
    assert_eq!(unsettled.json()["data"][0]["amount"]["unsettle"], 10_000, "{}", unsettled.body);
    advance_clock(server.port, 2 * 86_400);
    let settled = (0..50)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            hk.call("GET", &target("SETTLED"), "")
        })
        .find(|r| r.json()["total_count"].as_i64().unwrap_or(0) > 0)
        .expect("the day settles once it is over");
    let batch = &settled.json()["data"][0];
    assert_eq!(
        (batch["amount"]["settled"].as_i64(), batch["amount"]["currency"].as_str()),
        (Some(10_000), Some("HKD")),
        "{}",
        settled.body
    );
    assert_eq!(batch["wallet_region"], "CHINA_MAINLAND");
    let bad =
        hk.call("GET", "/v3/global/settle/settlements?settle_state=SETTLED&settle_start_date=2026-12-01&settle_end_date=20261201", "");
    assert_eq!(bad.status, 400, "{}", bad.body);
}

fn application(bank: &TestMerchant, name: &str, country: &str) -> String {
    serde_json::json!({"sp_appid": bank.appid, "sp_mchid": bank.mchid, "name": name, "shortname": "Lafayette", "office_phone": "+33 1 42 82 34 56",
        "contact": {"name": "Claire Martin", "email": "claire@example.fr"}, "business_category": 343, "merchant_country_code": country,
        "merchant_type": "ENTERPRISE", "business": {"business_type": "OFFLINE", "mcc": "5311", "store_address": "40 Bd Haussmann, Paris"},
        "settlement_bank_number": "FR7630006000011234567890189"})
    .to_string()
}

fn an_institution_onboards_a_sub_merchant_once_however_often_it_asks(env: Env) {
    let server = start(&env);
    let bank = TestMerchant::onboard_in(server.port, 0, "service_provider", "FR", "EUR");
    let first = bank.call("POST", "/v3/global/merchants", &application(&bank, "Galeries Lafayette Haussmann", "250"));
    assert_eq!((first.status, first.json()["verification_status"].as_str()), (200, Some("APPROVED")), "{}", first.body);
    let again = bank.call("POST", "/v3/global/merchants", &application(&bank, "Galeries Lafayette Haussmann", "250"));
    assert_eq!(again.json()["sub_mchid"], first.json()["sub_mchid"], "a retried onboarding makes no second merchant");
    let sub = first.json()["sub_mchid"].as_str().unwrap().to_string();
    let shown = get(server.port, &format!("/admin/api/merchants/{sub}"));
    assert_eq!(
        (shown.json()["settlement_currency"].as_str(), shown.json()["parent_mchid"].as_str()),
        (Some("EUR"), Some(bank.mchid.as_str())),
        "{}",
        shown.body
    );
    let order = serde_json::json!({"sp_appid": bank.appid, "sp_mchid": bank.mchid, "sub_mchid": sub, "description": "Parfum", "out_trade_no": "G2026GL1",
        "notify_url": "https://bank.example/notify", "trade_type": "NATIVE", "merchant_category_code": "5311", "amount": {"total": 5_000}});
    assert_eq!(bank.call("POST", "/v3/global/transactions/native", &order.to_string()).status, 200);
    let nowhere = bank.call("POST", "/v3/global/merchants", &application(&bank, "Nowhere", "999"));
    assert_eq!((nowhere.status, nowhere.json()["detail"]["field"].as_str()), (400, Some("/merchant_country_code")), "{}", nowhere.body);
    let mut no_account: serde_json::Value = serde_json::from_str(&application(&bank, "No account", "250")).unwrap();
    no_account.as_object_mut().unwrap().remove("settlement_bank_number");
    let r = bank.call("POST", "/v3/global/merchants", &no_account.to_string());
    assert_eq!((r.status, r.json()["detail"]["field"].as_str()), (400, Some("/settlement_bank_number")), "{}", r.body);
    let direct = TestMerchant::onboard_in(server.port, 0, "direct", "FR", "EUR");
    let refused = direct.call("POST", "/v3/global/merchants", &application(&direct, "Not mine", "250"));
    assert_eq!((refused.status, refused.json()["code"].as_str()), (403, Some("NO_AUTH")), "{}", refused.body);
}

/// Today in China Standard Time, `yyyyMMdd` (the manual clock starts at the system's).
fn cst_today() -> String {
    let t = wxpay::time::civil(now_s() + wxpay::time::CST_OFFSET_S);
    format!("{:04}{:02}{:02}", t.year, t.month, t.day)
}

fn v2_call(port: u16, fields: &wxpay::v2::Fields) -> wxpay::v2::Fields {
    let r = request(port, "POST", "/pay/queryexchagerate", None, Some(&wxpay::v2::to_xml(fields))).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    wxpay::v2::parse_xml(r.body.as_bytes()).unwrap()
}

fn the_v2_rate_query_answers_signed_xml_and_refuses_a_bad_signature(env: Env) {
    let server = start(&env);
    hkd_cny(server.port);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let today = cst_today();
    for sign_type in [wxpay::v2::SignType::Md5, wxpay::v2::SignType::HmacSha256] {
        let mut fields: wxpay::v2::Fields = [
            ("appid", hk.appid.as_str()),
            ("mch_id", hk.mchid.as_str()),
            ("fee_type", "HKD"),
            ("date", today.as_str()),
            ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if sign_type == wxpay::v2::SignType::HmacSha256 {
            fields.insert("sign_type".into(), "HMAC-SHA256".into());
        }
        fields.insert("sign".into(), wxpay::v2::sign(&fields, hk.apiv3_key.as_bytes(), sign_type));
        let answer = v2_call(server.port, &fields);
        assert_eq!((answer["return_code"].as_str(), answer["rate"].as_str()), ("SUCCESS", "92460000"), "{answer:?}");
        assert!(wxpay::v2::verify(&answer, hk.apiv3_key.as_bytes(), sign_type), "the answer is signed: {answer:?}");
        fields.insert("fee_type".into(), "USD".into());
        let forged = v2_call(server.port, &fields);
        assert_eq!(forged["return_code"], "FAIL", "{forged:?}");
        assert!(forged["return_msg"].contains("sign"), "{forged:?}");
    }
    let r = request(server.port, "POST", "/pay/queryexchagerate", None, Some("<xml><a>")).unwrap();
    assert!(r.body.contains("FAIL"), "{}", r.body);
}

fn the_v3_rate_endpoint_answers_the_rate_with_its_reference_and_markup(env: Env) {
    let server = start(&env);
    hkd_cny(server.port);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let q = hk.call("GET", "/v3/global/exchange-rates?fee_type=HKD&date=20991231", "");
    assert_eq!((q.status, q.json()["detail"]["field"].as_str()), (400, Some("date")), "a future day has no rate yet: {}", q.body);
    let today = cst_today();
    let r = hk.call("GET", &format!("/v3/global/exchange-rates?fee_type=HKD&date={today}"), "");
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert_eq!(
        (a["rate"].as_u64(), a["reference_rate"].as_str(), a["markup_bps"].as_u64()),
        (Some(92_460_000), Some("0.9200"), Some(50)),
        "{a}"
    );
    let none = hk.call("GET", &format!("/v3/global/exchange-rates?fee_type=JPY&date={today}"), "");
    assert_eq!((none.status, none.json()["code"].as_str()), (400, Some("INVALID_REQUEST")), "no JPY/CNY rate: {}", none.body);
}

fn a_static_code_abroad_previews_the_entered_amount_in_both_currencies_and_pays_in_the_merchants(env: Env) {
    let server = start(&env);
    hkd_cny(server.port);
    let hk = TestMerchant::onboard_in(server.port, 0, "direct", "HK", "HKD");
    let body = serde_json::json!({"appid": hk.appid, "description": "Till 1", "notify_url": "https://merchant.example/notify"}).to_string();
    let r = post(server.port, &format!("/admin/api/merchants/{}/static-codes", hk.mchid), &body);
    assert_eq!(r.status, 201, "{}", r.body);
    let code_url = r.json()["code_url"].as_str().unwrap().to_string();
    let alice = payer(server.port);
    let preview =
        alice.post("/api/v1/merchant-payments/preview", &serde_json::json!({"code_url": code_url, "amount": "50.00"}).to_string());
    let (view, payment) = (preview.json(), preview.json()["payment"].clone());
    assert_eq!(
        (view["currency"].as_str(), payment["amount"].as_str(), payment["currency"].as_str()),
        (Some("HKD"), Some("46.23"), Some("CNY")),
        "{}",
        preview.body
    );
    let wrong = alice.post(
        "/api/v1/merchant-payments/preview",
        &serde_json::json!({"code_url": code_url, "amount": "50.00", "currency": "CNY"}).to_string(),
    );
    assert_eq!((wrong.status, wrong.json()["field"].as_str()), (400, Some("currency")), "{}", wrong.body);
    let quote = payment["quote_id"].as_str().unwrap();
    let paid = alice.post(
        "/api/v1/merchant-payments",
        &serde_json::json!({"code_url": code_url, "amount": "50.00", "pin": "135790", "quote_id": quote}).to_string(),
    );
    assert_eq!(
        (paid.status, paid.json()["currency"].as_str(), paid.json()["payer_amount"].as_str()),
        (201, Some("HKD"), Some("46.23")),
        "{}",
        paid.body
    );
    assert_eq!(alice.available("CNY"), "953.77");
}
