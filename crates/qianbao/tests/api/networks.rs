//! One QR code for every wallet, black-box over real HTTP against the sandbox partner network (a Thai
//! network on its own port, PromptPay codes in THB): Qianbao's wallets paying its merchants (out), its
//! wallet paying Qianbao's merchants (in), scans of every kind of code, merchants' EMV codes and their
//! images, and the day's reconciliation.

use crate::support::merchant::{Receiver, TestMerchant};
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

struct Interop {
    server: Server,
    network_port: u16,
    env: Env,
}

fn start(env: Env) -> Interop {
    let network_port = free_port();
    let listen = format!("127.0.0.1:{network_port}");
    let mut envs: Vec<(&str, &str)> = WALLET_ENV.to_vec();
    envs.extend([
        ("QIANBAO_SANDBOX_NETWORK_LISTEN", listen.as_str()),
        ("QIANBAO_SANDBOX_NETWORK_TIMEOUT_MS", "400"),
        ("QIANBAO_SANDBOX_NETWORK_SLOW_MS", "1500"),
    ]);
    let server = env.serve_with(&[], &envs);
    let r = operator_request(server.port, "PUT", "/admin/api/fx/rates", Some(r#"{"base":"THB","quote":"CNY","rate":"0.2000"}"#));
    assert_eq!(r.status, 200, "{}", r.body);
    Interop { server, network_port, env }
}

/// An amount in CNY as the API writes it, exactly (never through a float).
fn cny(text: &str) -> money::Money {
    money::Money::parse(text, money::Currency::from_code("CNY").unwrap()).unwrap()
}

/// What is left of 1,000.00 CNY after `spent`, as the API writes it.
fn left_of_1000(spent: money::Money) -> String {
    money::Money::from_minor(100_000 - spent.minor(), spent.currency()).unwrap().to_decimal_string()
}

/// A mainland person with 1,000 CNY, KYC tier 1 (spending abroad), PIN 135790.
fn payer(port: u16, phone: &str) -> Wallet {
    let w = Wallet::register(port, phone, "Traveller");
    w.set_pin("135790");
    w.top_up("1000.00", "135790");
    let r = post(port, &format!("/admin/api/people/{}/kyc", w.id), r#"{"tier":1}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    w
}

/// A sandbox merchant's PromptPay code for `amount` THB (the sandbox's own builder).
fn thai_code(amount: &str) -> String {
    let m = &server::network::sandbox::MERCHANTS[0];
    let thb = money::Currency::from_code("THB").unwrap();
    server::network::sandbox::promptpay_code(m, Some(money::Money::parse(amount, thb).unwrap()))
}

fn pay_out(w: &Wallet, code: &str, key: &str) -> Response {
    w.post_keyed("/api/v1/network-payments", &json!({"payload": code, "pin": "135790"}).to_string(), key)
}

fn a_wallet_pays_a_partner_networks_merchant_in_its_own_currency(env: Env) {
    let net = start(env);
    let w = payer(net.server.port, "+8613800000101");
    let code = thai_code("100.00");
    let scan = w.post("/api/v1/scans", &json!({"payload": code}).to_string());
    assert_eq!(scan.status, 200, "{}", scan.body);
    let s = scan.json();
    assert_eq!(
        (s["kind"].as_str(), s["network"].as_str(), s["merchant"].as_str()),
        (Some("network"), Some("sandbox-th"), Some("Som Tam Nong Bee"))
    );
    assert_eq!((s["amount"].as_str(), s["currency"].as_str()), (Some("100.00"), Some("THB")));
    assert_eq!(s["payment"]["currency"], "CNY", "the person pays in CNY at a quoted price: {s}");
    let paid = pay_out(&w, &code, "out-1");
    assert_eq!((paid.status, paid.json()["state"].as_str()), (201, Some("succeeded")), "{}", paid.body);
    let spent = cny(paid.json()["payer_amount"].as_str().unwrap());
    assert!(spent.minor() > 2_000 && spent.minor() < 2_100, "100 THB at 0.20 plus the markup: {spent:?}");
    assert_eq!(w.available("CNY"), left_of_1000(spent));
    let history = w.get("/api/v1/history?type=network_payment").json();
    assert_eq!(
        (history[0]["amount"].as_str(), history[0]["currency"].as_str()),
        (Some(format!("-{}", spent.to_decimal_string()).as_str()), Some("CNY")),
        "{history}"
    );
}

fn a_payment_to_a_listed_partner_merchant_waits_for_a_screening_review(env: Env) {
    let net = start(env);
    let port = net.server.port;
    let sdn = "9101,\"SOM TAM NONG BEE\",-0- ,\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n";
    let imported = operator_request(port, "POST", "/admin/api/screening/lists/ofac_sdn", Some(sdn));
    assert_eq!(imported.status, 200, "{}", imported.body);
    let w = payer(port, "+8613800000151");
    let code = thai_code("100.00");
    let refused = pay_out(&w, &code, "listed-1");
    assert_eq!((refused.status, refused.json()["code"].as_str()), (409, Some("SCREENING_REVIEW")), "{}", refused.body);
    assert_eq!(w.available("CNY"), "1000.00", "nothing moved");
    let hits = get(port, "/admin/api/screening/hits?state=pending").json();
    let hit =
        hits.as_array().unwrap().iter().find(|h| h["subject"] == "network:sandbox-th:Som Tam Nong Bee").expect("a hit for review").clone();
    assert_eq!(hit["reference"], "9101");
    assert_eq!(pay_out(&w, &code, "listed-2").json()["code"], "SCREENING_REVIEW", "still refused while pending");
    let cleared = post(port, &format!("/admin/api/screening/hits/{}", hit["id"].as_str().unwrap()), r#"{"state":"cleared"}"#);
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    let paid = pay_out(&w, &code, "listed-3");
    assert_eq!((paid.status, paid.json()["state"].as_str()), (201, Some("succeeded")), "cleared by a reviewer: {}", paid.body);
}

fn a_declined_network_payment_gives_the_money_back(env: Env) {
    let net = start(env);
    let w = payer(net.server.port, "+8613800000102");
    let paid = pay_out(&w, &thai_code("100.13"), "out-declined");
    assert_eq!((paid.status, paid.json()["state"].as_str()), (201, Some("declined")), "{}", paid.body);
    assert!(paid.json()["failure"].as_str().unwrap().contains("MERCHANT_LIMIT_EXCEEDED"), "{}", paid.body);
    assert_eq!(w.available("CNY"), "1000.00");
}

fn a_network_that_times_out_after_debiting_has_one_outcome_after_retries(env: Env) {
    let net = start(env);
    let w = payer(net.server.port, "+8613800000103");
    let code = thai_code("100.99");
    let first = pay_out(&w, &code, "out-slow");
    assert_eq!((first.status, first.json()["state"].as_str()), (202, Some("pending")), "the network answered late: {}", first.body);
    let held = cny(first.json()["payer_amount"].as_str().unwrap());
    assert_eq!(w.available("CNY"), left_of_1000(held), "the money is held while the network decides");
    let retried = pay_out(&w, &code, "out-slow");
    assert_eq!(retried.json()["state"], "succeeded", "{}", retried.body);
    let again = pay_out(&w, &code, "out-slow");
    assert_eq!((again.json()["id"].clone(), again.json()["state"].clone()), (retried.json()["id"].clone(), json!("succeeded")));
    assert_eq!(w.available("CNY"), left_of_1000(held), "paid once");
}

/// A Qianbao merchant with its QR profile, and a static code notifying `receiver`.
fn static_code(port: u16, receiver: &Receiver) -> (TestMerchant, String) {
    let m = TestMerchant::onboard(port, 60);
    let r = operator_request(
        port,
        "PUT",
        &format!("/admin/api/merchants/{}/qr-profile", m.mchid),
        Some(r#"{"name":"Lucky Noodles","city":"Shenzhen","language":"zh","local_name":"幸运面馆"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let body = json!({"appid": m.appid, "description": "Noodles", "notify_url": receiver.url}).to_string();
    let r = post(port, &format!("/admin/api/merchants/{}/static-codes", m.mchid), &body);
    assert_eq!(r.status, 201, "{}", r.body);
    let emv = r.json()["emv"].as_str().expect("an EMV payload once the merchant has a QR profile").to_string();
    (m, emv)
}

fn sandbox_wallet_pays(network_port: u16, code: &str, amount: &str, request_id: &str) -> Value {
    let body = json!({"code": code, "amount": amount, "paymentRequestId": request_id}).to_string();
    let r = request(network_port, "POST", "/sandbox/v1/wallet/pay", None, Some(&body)).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn a_partner_wallet_pays_a_qianbao_merchant_and_the_notification_names_the_network(env: Env) {
    let net = start(env);
    let receiver = Receiver::start(vec![200]);
    let (m, emv) = static_code(net.server.port, &receiver);
    let decoded = emvqr::parse(&emv).unwrap();
    assert!(emvqr::validate(&decoded).is_empty(), "{:?}", emvqr::validate(&decoded));
    let answer = sandbox_wallet_pays(net.network_port, &emv, "1234", "in-1");
    assert_eq!(answer["identified"]["merchant"]["mchid"], m.mchid.as_str(), "{answer}");
    assert_eq!(answer["identified"]["amount"], Value::Null, "a static code: the payer enters the amount");
    assert_eq!(answer["paid"]["result"]["resultStatus"], "S", "{answer}");
    let notification = m.open_notification(&receiver.next(Duration::from_secs(10)));
    let paid = &notification["resource"];
    assert_eq!((paid["bank_type"].as_str(), paid["amount"]["total"].as_i64()), (Some("SANDBOX_TH"), Some(1234)), "{notification}");
    let refund = m.refund(paid["out_trade_no"].as_str().unwrap(), "rf-network-1", 100, 1234);
    assert_eq!(refund.status, 400, "{}", refund.body);
    assert!(refund.body.contains("partner network"), "refused with why, before anything is recorded: {}", refund.body);
}

fn a_duplicate_pay_call_pays_once_and_a_reused_id_is_refused(env: Env) {
    let net = start(env);
    let receiver = Receiver::start(vec![200, 200]);
    let (m, emv) = static_code(net.server.port, &receiver);
    let first = sandbox_wallet_pays(net.network_port, &emv, "500", "in-dup");
    let second = sandbox_wallet_pays(net.network_port, &emv, "500", "in-dup");
    assert_eq!(first["paid"]["paymentId"], second["paid"]["paymentId"], "{first} {second}");
    assert_eq!(first["paid"]["transactionId"], second["paid"]["transactionId"]);
    let other = sandbox_wallet_pays(net.network_port, &emv, "600", "in-dup");
    assert_eq!(other["paid"]["result"]["resultCode"], "NETWORK_REQUEST_REUSED", "{other}");
    m.open_notification(&receiver.next(Duration::from_secs(10)));
    assert!(receiver.rx.recv_timeout(Duration::from_millis(1500)).is_err(), "one payment, one notification");
}

/// Today's date (UTC), YYYY-MM-DD.
/// The server's day (UTC), read off its own clock: the test's may have passed midnight since.
fn server_today(port: u16) -> String {
    let r = post(port, "/admin/api/sandbox/clock", r#"{"advance_s":0}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let t = wxpay::time::civil(r.json()["now_ms"].as_i64().unwrap() / 1_000);
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

fn the_days_reconciliation_finds_what_one_side_booked_differently(env: Env) {
    let net = start(env);
    let w = payer(net.server.port, "+8613800000104");
    assert_eq!(pay_out(&w, &thai_code("10.00"), "r1").json()["state"], "succeeded");
    assert_eq!(pay_out(&w, &thai_code("10.77"), "r2").json()["state"], "succeeded");
    let extra =
        json!({"paymentRequestId": "only-at-network", "direction": "out", "amount": {"currency": "THB", "value": "500"}}).to_string();
    assert_eq!(request(net.network_port, "POST", "/sandbox/v1/report-lines", None, Some(&extra)).unwrap().status, 201);
    let day = server_today(net.server.port);
    let early = get(net.server.port, &format!("/admin/api/networks/sandbox-th/reconciliations/{day}"));
    assert_eq!(early.status, 400, "a day is reconciled once it has ended: {}", early.body);
    // A day later, and past the ten minutes the network has to finish its report.
    advance_clock(net.server.port, 86_400 + 900);
    let r = get(net.server.port, &format!("/admin/api/networks/sandbox-th/reconciliations/{day}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let report = r.json();
    assert_eq!(
        (report["matched"].as_u64(), report["amount_differs"].as_u64(), report["missing_at_qianbao"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(report["currencies"][0]["net_owed_to_network"], "20.77", "{report}");
    let settled = post(net.server.port, &format!("/admin/api/networks/sandbox-th/settlements/{day}"), "{}");
    assert_eq!(settled.status, 200, "{}", settled.body);
    let again = post(net.server.port, &format!("/admin/api/networks/sandbox-th/settlements/{day}"), "{}");
    assert_eq!(again.status, 200, "settling again books nothing twice: {}", again.body);
    // The books balance after the day's payments and its settlement.
    let verify = net.env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn scanning_tells_every_kind_of_code_apart(env: Env) {
    let net = start(env);
    let receiver = Receiver::start(vec![200]);
    let (_, emv) = static_code(net.server.port, &receiver);
    let w = payer(net.server.port, "+8613800000105");
    let kind = |payload: &str| {
        let r = w.post("/api/v1/scans", &json!({"payload": payload}).to_string());
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let ours = kind(&emv);
    assert_eq!(
        (ours["kind"].as_str(), ours["enter_amount"].as_bool(), ours["description"].as_str()),
        (Some("qianbao_static_code"), Some(true), Some("Noodles")),
        "{ours}"
    );
    assert_eq!(kind(&thai_code("12.00"))["kind"], "network");
    let code = w.post("/api/v1/payment-codes", "{}").json();
    assert_eq!(kind(code["code"].as_str().unwrap())["kind"], "payment_code");
    assert_eq!(kind(code["emv_cpm"].as_str().unwrap())["kind"], "payment_code");
    let mut fps = emvqr::Payload::default();
    for (id, value) in [
        (0u8, "01".to_string()),
        (1, "11".into()),
        (26, emvqr::template(&[(0, "hk.com.hkicl"), (2, "1234567")])),
        (52, "0000".into()),
        (53, "344".into()),
        (58, "HK".into()),
        (59, "NA".into()),
        (60, "HK".into()),
    ] {
        fps.set(id, Some(value));
    }
    let fps = fps.build();
    let unknown = kind(&fps);
    assert_eq!(unknown["kind"], "unknown");
    assert!(unknown["reason"].as_str().unwrap().contains("hk.com.hkicl"), "{unknown}");
    assert_eq!(kind("hello, world")["kind"], "unknown");
}

fn a_native_orders_emv_code_pays_like_its_code_url_and_renders_as_an_image(env: Env) {
    let net = start(env);
    let m = TestMerchant::onboard(net.server.port, 60);
    let r = operator_request(
        net.server.port,
        "PUT",
        &format!("/admin/api/merchants/{}/qr-profile", m.mchid),
        Some(r#"{"name":"Test Merchant","city":"Shanghai"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let code_url = m.native_order("emv-order-1", 2500, "https://merchant.example/notify");
    let r = m.call("POST", "/v3/qianbao/emv-codes", &json!({"code_url": code_url}).to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    m.check_signed(&r);
    let emv = r.json()["emv_payload"].as_str().unwrap().to_string();
    let p = emvqr::parse(&emv).unwrap();
    assert_eq!((p.get(1), p.get(53), p.get(54)), (Some("12"), Some("156"), Some("25.00")));
    let svg = request(net.server.port, "GET", r.json()["svg_url"].as_str().unwrap(), None, None).unwrap();
    assert_eq!((svg.status, svg.header("content-type")), (200, Some("image/svg+xml")));
    assert!(svg.body.contains("<svg"), "{}", &svg.body[..svg.body.len().min(200)]);
    let png = request(net.server.port, "GET", r.json()["png_url"].as_str().unwrap(), None, None).unwrap();
    assert_eq!((png.status, png.header("content-type")), (200, Some("image/png")));
    let w = payer(net.server.port, "+8613800000106");
    let paid = w.post("/api/v1/merchant-payments", &json!({"code_url": emv, "pin": "135790"}).to_string());
    assert_eq!((paid.status, paid.json()["state"].as_str()), (201, Some("SUCCESS")), "{}", paid.body);
    assert_eq!(w.available("CNY"), "975.00");
}

fn a_static_partner_code_is_paid_with_the_amount_the_person_enters(env: Env) {
    let net = start(env);
    let w = payer(net.server.port, "+8613800000107");
    let code = server::network::sandbox::promptpay_code(&server::network::sandbox::MERCHANTS[1], None);
    let scan = w.post("/api/v1/scans", &json!({"payload": code}).to_string()).json();
    assert_eq!((scan["enter_amount"].as_bool(), scan["payment"].clone()), (Some(true), Value::Null), "{scan}");
    let priced = w.post("/api/v1/scans", &json!({"payload": code, "amount": "50.00"}).to_string()).json();
    assert_eq!(priced["payment"]["currency"], "CNY", "{priced}");
    assert!(priced["payment"]["quote_id"].is_string(), "the preview locks a quote: {priced}");
    let no_amount = pay_out(&w, &code, "static-none");
    assert_eq!((no_amount.status, no_amount.json()["field"].as_str()), (400, Some("amount")), "{}", no_amount.body);
    let body = json!({"payload": code, "amount": "50.00", "pin": "135790", "quote_id": priced["payment"]["quote_id"]}).to_string();
    let paid = w.post_keyed("/api/v1/network-payments", &body, "static-paid");
    assert_eq!(
        (paid.status, paid.json()["state"].as_str(), paid.json()["amount"].as_str()),
        (201, Some("succeeded"), Some("50.00")),
        "{}",
        paid.body
    );
    assert_eq!(paid.json()["payer_amount"], priced["payment"]["amount"], "paid at the quoted price");
}

/// A call to Qianbao's network API signed as the sandbox network (its published sandbox key).
fn as_network(port: u16, path: &str, body: &Value) -> Response {
    let body = body.to_string();
    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let key = "sandbox-network-key-not-a-secret-0123456789";
    let signature = server::network::signature_header(&server::network::signature(key, "POST", path, "sandbox-th", time, body.as_bytes()));
    let time = time.to_string();
    let headers = [("Client-Id", "sandbox-th"), ("Request-Time", time.as_str()), ("Signature", signature.as_str())];
    request_with(port, "POST", path, None, Some(&body), &headers).unwrap()
}

fn a_partner_wallet_pays_in_the_codes_currency_or_not_at_all(env: Env) {
    let net = start(env);
    let receiver = Receiver::start(vec![200]);
    let (_, emv) = static_code(net.server.port, &receiver);
    let path = "/networks/v1/sandbox-th/payments/pay";
    let thb = json!({"paymentRequestId": "in-thb", "codeValue": emv, "paymentAmount": {"currency": "THB", "value": "1000"}});
    let r = as_network(net.server.port, path, &thb);
    assert_eq!((r.status, r.json()["result"]["resultCode"].as_str()), (400, Some("PARAM_ILLEGAL")), "{}", r.body);
    assert!(r.body.contains("CNY"), "the refusal names the code's currency: {}", r.body);
    let cny = json!({"paymentRequestId": "in-thb", "codeValue": emv, "paymentAmount": {"currency": "CNY", "value": "1000"}});
    let r = as_network(net.server.port, path, &cny);
    assert_eq!((r.status, r.json()["paymentStatus"].as_str()), (200, Some("SUCCESS")), "a refused call recorded nothing: {}", r.body);
    let inquiry = as_network(net.server.port, "/networks/v1/sandbox-th/payments/inquiry", &json!({"paymentRequestId": "in-thb"}));
    assert_eq!(inquiry.json()["paymentId"], r.json()["paymentId"], "{}", inquiry.body);
    let unsigned = request(net.server.port, "POST", path, None, Some(r#"{"paymentRequestId":"x"}"#)).unwrap();
    assert_eq!((unsigned.status, unsigned.json()["result"]["resultCode"].as_str()), (401, Some("INVALID_SIGNATURE")), "{}", unsigned.body);
    let unknown = request(net.server.port, "POST", "/networks/v1/nowhere/payments/pay", None, Some("{}")).unwrap();
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

fn a_payment_codes_emv_form_pays_at_the_merchants_till(env: Env) {
    let net = start(env);
    let m = TestMerchant::onboard(net.server.port, 0);
    let w = payer(net.server.port, "+8613800000108");
    let code = w.post("/api/v1/payment-codes", "{}").json();
    let cpm = code["emv_cpm"].as_str().unwrap();
    let decoded = emvqr::cpm::parse(cpm).expect("a consumer-presented payload");
    assert_eq!(decoded[0].bytes(), Some(&b"CPV01"[..]));
    let body = json!({
        "appid": m.appid, "mchid": m.mchid, "description": "POS sale", "out_trade_no": "CPM0001",
        "payer": {"auth_code": cpm}, "amount": {"total": 2500, "currency": "CNY"},
        "scene_info": {"store_info": {"id": "S1"}, "device_id": "POS-1", "device_ip": "10.0.0.8"}
    });
    let r = m.call("POST", "/v3/pay/transactions/codepay", &body.to_string());
    assert_eq!((r.status, r.json()["trade_state"].as_str()), (202, Some("USERPAYING")), "{}", r.body);
    let order_id = w.get("/api/v1/payment-codes/awaiting").json()[0]["order_id"].as_str().unwrap().to_string();
    let paid = w.post("/api/v1/merchant-payments", &json!({"order_id": order_id, "pin": "135790"}).to_string());
    assert_eq!(paid.status, 201, "{}", paid.body);
    let mut forged = emvqr::cpm::parse(cpm).unwrap();
    if let emvqr::cpm::Value::Constructed(children) = &mut forged[1].value {
        children[2] = emvqr::cpm::Tlv::primitive(0x5A, emvqr::cpm::bcd("134567890123456789"));
    }
    let forged_body = body.to_string().replace(cpm, &emvqr::cpm::build(&forged)).replace("CPM0001", "CPM0002");
    let refused = m.call("POST", "/v3/pay/transactions/codepay", &forged_body);
    assert_eq!(refused.status, 400, "a code whose cryptogram does not match is refused: {}", refused.body);
}

both_backends!(
    a_wallet_pays_a_partner_networks_merchant_in_its_own_currency,
    a_declined_network_payment_gives_the_money_back,
    a_payment_to_a_listed_partner_merchant_waits_for_a_screening_review,
    a_network_that_times_out_after_debiting_has_one_outcome_after_retries,
    a_partner_wallet_pays_a_qianbao_merchant_and_the_notification_names_the_network,
    a_duplicate_pay_call_pays_once_and_a_reused_id_is_refused,
    the_days_reconciliation_finds_what_one_side_booked_differently,
    scanning_tells_every_kind_of_code_apart,
    a_native_orders_emv_code_pays_like_its_code_url_and_renders_as_an_image,
    a_static_partner_code_is_paid_with_the_amount_the_person_enters,
    a_partner_wallet_pays_in_the_codes_currency_or_not_at_all,
    a_payment_codes_emv_form_pays_at_the_merchants_till,
);
