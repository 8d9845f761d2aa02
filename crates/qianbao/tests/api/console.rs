//! The merchant console over HTTP, as a browser without JavaScript uses it: a merchant's own users sign
//! in, find orders, read an order's timeline, and refund (owners only, after a confirmation page).

use crate::support::merchant::TestMerchant;
use crate::support::*;
use serde_json::json;

/// A signed-in user of one of the web consoles, as a browser without JavaScript: the session cookie.
pub(crate) struct Console {
    port: u16,
    cookie: String,
}

/// Sign in through a console's form at `page` (its pre-session cookie `pre`), with `fields`: the session
/// cookie `session` on success, else the refused page.
pub(crate) fn sign_in_form(port: u16, page: &str, (pre, session): (&str, &str), fields: &[(&str, &str)]) -> Result<Console, Response> {
    let form_page = request(port, "GET", page, None, None).unwrap();
    let pre_value = cookie_of(&form_page, pre).expect("a pre-session cookie");
    let csrf = field(&form_page.body, "csrf");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    let r = request_with(port, "POST", page, None, Some(&form(&all)), &[("Cookie", &format!("{pre}={pre_value}"))]).unwrap();
    match cookie_of(&r, session) {
        Some(value) if r.status == 303 => Ok(Console { port, cookie: format!("{session}={value}") }),
        _ => Err(r),
    }
}

/// `name="csrf" value="..."` on a page.
pub(crate) fn field(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} field in {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

pub(crate) fn cookie_of(r: &Response, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")).map(|v| v.split(';').next().unwrap().to_string()))
}

/// `application/x-www-form-urlencoded`: every byte but letters and digits percent-encoded.
pub(crate) fn form(fields: &[(&str, &str)]) -> String {
    let encode = |v: &str| {
        v.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect::<String>()
    };
    fields.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

impl Console {
    /// Sign in through the merchant console's form; `Err` with the refused page.
    pub(crate) fn sign_in(port: u16, mchid: &str, username: &str, password: &str) -> Result<Console, Response> {
        let fields = [("mchid", mchid), ("username", username), ("password", password)];
        sign_in_form(port, "/merchant/sign-in", ("qb_mpre", "qb_merchant"), &fields)
    }

    /// The session cookie, as a `Cookie` header's value.
    pub(crate) fn cookie(&self) -> String {
        self.cookie.clone()
    }

    pub(crate) fn get(&self, path: &str) -> Response {
        request_with(self.port, "GET", path, None, None, &[("Cookie", &self.cookie)]).unwrap()
    }

    /// Post a form of the page at `from` (its CSRF token added).
    pub(crate) fn post(&self, from: &str, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = field(&self.get(from).body, "csrf");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        request_with(self.port, "POST", path, None, Some(&form(&all)), &[("Cookie", &self.cookie)]).unwrap()
    }
}

pub(crate) fn add_user(port: u16, mchid: &str, username: &str, role: &str) {
    let r = post(
        port,
        &format!("/admin/api/merchants/{mchid}/users"),
        &json!({"username": username, "password": "console-pass-1", "role": role}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

/// A merchant with an owner and a cashier, and a payer who paid order PAID0001 (12.34); order OPEN0001 is unpaid.
pub(crate) fn shop(env: &Env) -> (Server, TestMerchant) {
    let server = env.serve_with(&[], WALLET_ENV);
    let m = TestMerchant::onboard(server.port, 60);
    add_user(server.port, &m.mchid, "owner", "owner");
    add_user(server.port, &m.mchid, "cashier", "cashier");
    let paid = m.native_order("PAID0001", 1234, "http://127.0.0.1:9/notify");
    m.native_order("OPEN0001", 500, "http://127.0.0.1:9/notify");
    let w = Wallet::register(server.port, "+8613900000811", "Payer");
    w.set_pin("135790");
    w.top_up("100.00", "135790");
    let r = w.post("/api/v1/merchant-payments", &json!({"code_url": paid, "pin": "135790"}).to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    (server, m)
}

fn a_console_user_finds_the_merchants_orders_by_reference_and_state(env: Env) {
    let (server, m) = shop(&env);
    let cashier = Console::sign_in(server.port, &m.mchid, "cashier", "console-pass-1").unwrap();
    let all = cashier.get("/merchant");
    assert!(all.body.contains("PAID0001") && all.body.contains("OPEN0001"), "{}", all.body);
    let one = cashier.get("/merchant?q=PAID0001");
    assert!(one.body.contains("PAID0001") && !one.body.contains("OPEN0001"), "{}", one.body);
    let unpaid = cashier.get("/merchant?state=NOTPAY");
    assert!(unpaid.body.contains("OPEN0001") && !unpaid.body.contains("PAID0001"), "{}", unpaid.body);
    let other = TestMerchant::onboard(server.port, 60);
    add_user(server.port, &other.mchid, "owner", "owner");
    let stranger = Console::sign_in(server.port, &other.mchid, "owner", "console-pass-1").unwrap();
    assert!(stranger.get("/merchant").body.contains(r#"id="no-orders""#), "another merchant sees none of them");
    assert_eq!(stranger.get("/merchant/orders/PAID0001").status, 404);
}

fn a_wrong_password_or_another_merchants_id_does_not_sign_in(env: Env) {
    let (server, m) = shop(&env);
    let refused = Console::sign_in(server.port, &m.mchid, "owner", "wrong-password").err().expect("refused");
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("wrong"), "{}", refused.body);
    assert!(Console::sign_in(server.port, "1999999999", "owner", "console-pass-1").is_err());
    assert_eq!(request(server.port, "GET", "/merchant", None, None).unwrap().header("location"), Some("/merchant/sign-in"));
}

fn only_an_owner_refunds_and_only_after_confirming_once(env: Env) {
    let (server, m) = shop(&env);
    let order = "/merchant/orders/PAID0001";
    let cashier = Console::sign_in(server.port, &m.mchid, "cashier", "console-pass-1").unwrap();
    assert!(!cashier.get(order).body.contains(r#"id="refund""#), "a cashier is offered no refund");
    let r = cashier.post(order, "/merchant/orders/PAID0001/refund", &[("amount", "2.00")]);
    assert_eq!(r.status, 403, "{}", r.body);

    let owner = Console::sign_in(server.port, &m.mchid, "owner", "console-pass-1").unwrap();
    let confirm = owner.post(order, "/merchant/orders/PAID0001/refund", &[("amount", "2.00"), ("reason", "broken cup")]);
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains(r#"id="confirm-refund""#) && confirm.body.contains("2.00"), "{}", confirm.body);
    let before = owner.get(order).body;
    assert!(
        before.contains(r#"<dd id="order-refunded">0.00 CNY</dd>"#) && !before.contains(r#"class="refund""#),
        "nothing is refunded before the confirmation: {before}"
    );

    let out_refund_no = field(&confirm.body, "out_refund_no");
    let confirmed = [("amount", "2.00"), ("reason", "broken cup"), ("out_refund_no", out_refund_no.as_str()), ("confirm", "yes")];
    let done = owner.post(order, "/merchant/orders/PAID0001/refund", &confirmed);
    assert_eq!((done.status, done.header("location")), (303, Some(order)), "{}", done.body);
    let again = owner.post(order, "/merchant/orders/PAID0001/refund", &confirmed);
    assert_eq!(again.status, 303, "the same confirmation sent twice: {}", again.body);
    let page = owner.get(order);
    assert_eq!(page.body.matches(r#"class="refund""#).count(), 1, "one refund: {}", page.body);
    assert!(page.body.contains(r#"<dd id="order-refunded">2.00 CNY</dd>"#), "{}", page.body);
    let refunded = m.call("GET", &format!("/v3/refund/domestic/refunds/{out_refund_no}"), "");
    assert_eq!((refunded.status, refunded.json()["amount"]["refund"].as_i64()), (200, Some(200)), "{}", refunded.body);
}

fn an_owner_downloads_the_days_trade_bill_and_a_cashier_cannot(env: Env) {
    let (server, m) = shop(&env);
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let today = wxpay::time::format_rfc3339(now_s)[..10].to_string(); // China Standard Time, as the bills
    let owner = Console::sign_in(server.port, &m.mchid, "owner", "console-pass-1").unwrap();
    let page = owner.get(&format!("/merchant/bills?day={today}"));
    assert!(page.body.contains(r#"id="trade-bill""#), "{}", page.body);
    let bill = owner.get(&format!("/merchant/bills/trade.csv?day={today}"));
    assert_eq!(bill.status, 200, "{}", bill.body);
    assert!(bill.header("content-disposition").is_some_and(|d| d.starts_with("attachment")));
    assert!(bill.body.contains("PAID0001") && !bill.body.contains("OPEN0001"), "the day's payments only: {}", bill.body);
    assert_eq!(owner.get("/merchant/bills/trade.csv?day=2026-02-30").status, 400, "an impossible day");
    let cashier = Console::sign_in(server.port, &m.mchid, "cashier", "console-pass-1").unwrap();
    assert_eq!(cashier.get(&format!("/merchant/bills/trade.csv?day={today}")).status, 403);
    assert_eq!(cashier.get("/merchant/bills").status, 403);
}

fn an_owner_sees_the_days_sales_in_figures_and_charts(env: Env) {
    let (server, m) = shop(&env);
    let owner = Console::sign_in(server.port, &m.mchid, "owner", "console-pass-1").unwrap();
    let page = owner.get("/merchant/sales");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"<dd id="sales-count">1</dd>"#), "one payment today: {}", page.body);
    assert!(page.body.contains(r#"<dd id="sales-gross">12.34 CNY</dd>"#) && page.body.contains(r#"<dd id="sales-average">12.34 CNY</dd>"#));
    assert!(page.body.contains("<td>NATIVE</td><td>1</td><td>12.34</td>"), "by channel: {}", page.body);
    assert_eq!(page.body.matches("<svg").count(), 2, "two charts drawn on the server");
    assert!(owner.get("/merchant/sales?day=2001-01-01").body.contains(r#"<dd id="sales-count">0</dd>"#), "another day has none");
    let cashier = Console::sign_in(server.port, &m.mchid, "cashier", "console-pass-1").unwrap();
    assert_eq!(cashier.get("/merchant/sales").status, 403);
}

fn an_owner_registers_and_revokes_api_keys_and_a_revoked_key_signs_nothing(env: Env) {
    let (server, m) = shop(&env);
    let owner = Console::sign_in(server.port, &m.mchid, "owner", "console-pass-1").unwrap();
    assert!(owner.get("/merchant/keys").body.contains(&m.serial), "the merchant's key is listed");
    let pem = wxpay::SigningKey::generate().public_key_pem();
    let added = owner.post("/merchant/keys", "/merchant/keys", &[("pem", &pem), ("serial_no", "5EC0ND0001")]);
    assert_eq!(added.status, 303, "{}", added.body);
    assert!(owner.get("/merchant/keys").body.contains("5EC0ND0001"));
    let unconfirmed = owner.post("/merchant/keys", &format!("/merchant/keys/{}/revoke", m.serial), &[]);
    assert_eq!(unconfirmed.status, 400, "revoking asks to confirm: {}", unconfirmed.body);
    assert_eq!(m.query("PAID0001").status, 200, "the key still signs");
    let revoked = owner.post("/merchant/keys", &format!("/merchant/keys/{}/revoke", m.serial), &[("confirm", "yes")]);
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(m.query("PAID0001").status, 401, "a request signed with the revoked key is refused");
    let cashier = Console::sign_in(server.port, &m.mchid, "cashier", "console-pass-1").unwrap();
    assert_eq!(cashier.get("/merchant/keys").status, 403);
    let audit = get(server.port, "/admin/api/audit").body;
    assert!(audit.contains("console.revoke_key") && audit.contains(&format!("console:{}/owner", m.mchid)), "{audit}");
}

fn a_console_session_ends_after_twelve_hours(env: Env) {
    let (server, m) = shop(&env);
    let cashier = Console::sign_in(server.port, &m.mchid, "cashier", "console-pass-1").unwrap();
    advance_clock(server.port, 11 * 3_600);
    assert_eq!(cashier.get("/merchant").status, 200, "still signed in after 11 hours");
    advance_clock(server.port, 3_600);
    assert_eq!(cashier.get("/merchant").header("location"), Some("/merchant/sign-in"), "signed out at 12 hours");
}

fn an_owner_sends_a_test_notification_and_reads_its_delivery_in_the_log(env: Env) {
    let (server, m) = shop(&env);
    let receiver = crate::support::merchant::Receiver::start(vec![]);
    let owner = Console::sign_in(server.port, &m.mchid, "owner", "console-pass-1").unwrap();
    let sent = owner.post("/merchant/notifications", "/merchant/notifications/test", &[("notify_url", &receiver.url)]);
    assert_eq!((sent.status, sent.header("location")), (303, Some("/merchant/notifications?sent=1")), "{}", sent.body);
    let arrived = receiver.next(std::time::Duration::from_secs(10));
    let event = m.open_notification(&arrived);
    assert_eq!(event["event_type"], "QIANBAO.TEST", "signed with the platform key, encrypted with the merchant's APIv3 key: {event}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let log = loop {
        let log = owner.get("/merchant/notifications");
        if log.body.contains("QIANBAO.TEST") && log.body.contains("delivered") || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(log.body.contains("QIANBAO.TEST") && log.body.contains("delivered"), "{}", log.body);
    let bad = owner.post("/merchant/notifications", "/merchant/notifications/test", &[("notify_url", "ftp://example.com/x")]);
    assert!(bad.header("location").is_some_and(|l| l.starts_with("/merchant/notifications?error=")), "{:?}", bad.header("location"));
    let cashier = Console::sign_in(server.port, &m.mchid, "cashier", "console-pass-1").unwrap();
    let refused = cashier.post("/merchant/notifications", "/merchant/notifications/test", &[("notify_url", &receiver.url)]);
    assert_eq!(refused.status, 403, "owners only");
}

fn an_owner_makes_a_static_code_and_prints_its_sticker(env: Env) {
    let (server, m) = shop(&env);
    let owner = Console::sign_in(server.port, &m.mchid, "owner", "console-pass-1").unwrap();
    let fields = [("appid", m.appid.as_str()), ("description", "Till 1"), ("notify_url", "http://127.0.0.1:9/notify")];
    let made = owner.post("/merchant/codes", "/merchant/codes", &fields);
    assert_eq!((made.status, made.header("location")), (303, Some("/merchant/codes")), "{}", made.body);
    let list = owner.get("/merchant/codes");
    assert!(list.body.contains("Till 1"), "{}", list.body);
    let start = list.body.find("/merchant/codes/").expect("a sticker link");
    let link: String = list.body[start..].chars().take_while(|c| *c != '"').collect();
    let sticker = owner.get(&link);
    assert_eq!(sticker.status, 200, "{}", sticker.body);
    assert!(sticker.body.contains("<svg") && sticker.body.contains("Till 1"), "{}", sticker.body);
    let entry = get(server.port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!((entry["action"].as_str(), entry["detail"].as_str()), (Some("console.add_static_code"), Some("Till 1")));
    let other = TestMerchant::onboard(server.port, 60);
    add_user(server.port, &other.mchid, "owner", "owner");
    let stranger = Console::sign_in(server.port, &other.mchid, "owner", "console-pass-1").unwrap();
    assert_eq!(stranger.get(&link).status, 404, "another merchant's code is not theirs to print");
}

fn an_owner_registers_an_app_id_and_a_cashier_cannot(env: Env) {
    let (server, m) = shop(&env);
    let owner = Console::sign_in(server.port, &m.mchid, "owner", "console-pass-1").unwrap();
    let app = [("appid", "wxconsole0000001"), ("kind", "mini_program"), ("name", "Noodle House")];
    let made = owner.post("/merchant/keys", "/merchant/apps", &app);
    assert_eq!(made.header("location"), Some("/merchant/keys"), "{}", made.body);
    assert!(owner.get("/merchant/keys").body.contains("<code>wxconsole0000001</code>"), "listed");
    let again = owner.post("/merchant/keys", "/merchant/apps", &app);
    assert!(again.body.contains("already registered"), "an app id is bound once: {}", again.body);
    let bad = owner.post("/merchant/keys", "/merchant/apps", &[("appid", "wx bad id"), ("kind", "mini_program"), ("name", "X")]);
    assert!(bad.body.contains("appid"), "{}", bad.body);
    let entry = get(server.port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!((entry["action"].as_str(), entry["detail"].as_str()), (Some("console.register_app"), Some("wxconsole0000001")));
    let cashier = Console::sign_in(server.port, &m.mchid, "cashier", "console-pass-1").unwrap();
    let refused = cashier.post("/merchant", "/merchant/apps", &[("appid", "wxcashier000001"), ("kind", "web"), ("name", "X")]);
    assert_eq!(refused.status, 403);
}

fn the_console_shows_times_in_the_merchants_own_time_zone(env: Env) {
    let (server, beijing) = shop(&env);
    let owner = Console::sign_in(server.port, &beijing.mchid, "owner", "console-pass-1").unwrap();
    assert!(owner.get("/merchant").body.contains(" CST</td>"), "Beijing time");
    let paris = TestMerchant::onboard_in(server.port, 60, "direct", "FR", "EUR");
    add_user(server.port, &paris.mchid, "owner", "owner");
    let code = json!({"appid": paris.appid, "description": "Comptoir", "notify_url": "https://merchant.example/notify"});
    assert_eq!(post(server.port, &format!("/admin/api/merchants/{}/static-codes", paris.mchid), &code.to_string()).status, 201);
    let owner = Console::sign_in(server.port, &paris.mchid, "owner", "console-pass-1").unwrap();
    let codes = owner.get("/merchant/codes").body;
    assert!(codes.contains(" CET</small>") || codes.contains(" CEST</small>"), "Paris time: {codes}");
}

fn an_owner_publishes_a_red_packet_cover_that_people_can_choose(env: Env) {
    let (server, m) = shop(&env);
    let owner = Console::sign_in(server.port, &m.mchid, "owner", "console-pass-1").unwrap();
    let bad = owner.post("/merchant/covers", "/merchant/covers", &[("title", "Spring"), ("image_url", "http://insecure.example/a.png")]);
    assert!(bad.header("location").is_some_and(|l| l.starts_with("/merchant/covers?error=")), "https only: {:?}", bad.header("location"));
    let made = owner.post("/merchant/covers", "/merchant/covers", &[("title", "Spring"), ("image_url", "https://cdn.example/spring.png")]);
    assert_eq!(made.header("location"), Some("/merchant/covers"), "{}", made.body);
    let listed = owner.get("/merchant/covers").body;
    assert!(listed.contains("<strong>Spring</strong>") && listed.contains("cdn.example"), "{listed}");
    let person = Wallet::register(server.port, "+8613900000821", "Chooser");
    let offered = person.get("/api/v1/red-packet-covers").json();
    assert!(offered.as_array().unwrap().iter().any(|c| c["title"] == "Spring"), "people can choose it: {offered}");
    let cashier = Console::sign_in(server.port, &m.mchid, "cashier", "console-pass-1").unwrap();
    assert_eq!(
        cashier.post("/merchant/covers", "/merchant/covers", &[("title", "X"), ("image_url", "https://cdn.example/x.png")]).status,
        403
    );
}

both_backends!(
    an_owner_registers_an_app_id_and_a_cashier_cannot,
    the_console_shows_times_in_the_merchants_own_time_zone,
    an_owner_publishes_a_red_packet_cover_that_people_can_choose,
    an_owner_sends_a_test_notification_and_reads_its_delivery_in_the_log,
    an_owner_makes_a_static_code_and_prints_its_sticker,
    a_console_session_ends_after_twelve_hours,
    an_owner_registers_and_revokes_api_keys_and_a_revoked_key_signs_nothing,
    an_owner_sees_the_days_sales_in_figures_and_charts,
    an_owner_downloads_the_days_trade_bill_and_a_cashier_cannot,
    a_console_user_finds_the_merchants_orders_by_reference_and_state,
    a_wrong_password_or_another_merchants_id_does_not_sign_in,
    only_an_owner_refunds_and_only_after_confirming_once,
);
