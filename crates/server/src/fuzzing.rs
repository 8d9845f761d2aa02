//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz, nightly) and for the stable test that
//! replays their corpus (`tests/fuzz_corpus.rs`). Each takes arbitrary bytes and panics only on a real
//! defect: a parser that panics, a round trip that does not hold, or an API that answers hostile input
//! with an internal error or an undocumented error shape.
//!
//! The API targets drive the real router in-process on a temporary SQLite platform with the manual
//! clock and the sandbox rail: a signed-in person with a PIN, money and a friend, and a merchant whose
//! requests the harness signs (so fuzzed merchant bodies get past authentication to the parsers).

use crate::AppState;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use platform::merchants::MerchantSetup;
use platform::wallet::{SandboxRail, TopUp};
use platform::{Parts, Platform, PlatformConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// `Authorization` header parsing: never panics, and what parses writes back to what parses the same.
pub fn authorization(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(a) = wxpay::Authorization::parse(text) {
        let again = wxpay::Authorization::parse(&a.to_header()).expect("a written header parses");
        assert_eq!(
            (again.mchid, again.nonce, again.timestamp, again.serial_no, again.signature),
            (a.mchid, a.nonce, a.timestamp, a.serial_no, a.signature)
        );
    }
}

/// Amount parsing in every currency: never panics, and a parsed amount prints back to itself.
pub fn amount(data: &[u8]) {
    let Some((&selector, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let codes = ["CNY", "HKD", "JPY", "KWD", "USD", "EUR", "BHD", "KRW"];
    let currency = money::Currency::from_code(codes[usize::from(selector) % codes.len()]).expect("known");
    if let Ok(m) = money::Money::parse(text, currency) {
        let printed = m.to_decimal_string();
        assert_eq!(money::Money::parse(&printed, currency), Ok(m), "{text:?} printed as {printed:?}");
    }
}

/// Notification opening: never panics on any body; a body sealed here opens to what was sealed.
pub fn notification(data: &[u8]) {
    const KEY: &[u8; 32] = b"fuzz-apiv3-key-0123456789abcdef!";
    let _ = wxpay::open_notification(data, KEY);
    let nonce = "fuzz-nonce12";
    if let Ok(sealed) = wxpay::aead_encrypt(KEY, nonce.as_bytes(), b"transaction", data) {
        let body = serde_json::json!({"resource_type": "encrypt-resource", "resource": {"algorithm": "AEAD_AES_256_GCM",
            "ciphertext": wxpay::base64::encode(&sealed), "nonce": nonce, "associated_data": "transaction"}});
        let opened = wxpay::open_notification(body.to_string().as_bytes(), KEY).expect("a sealed notification opens");
        assert_eq!(opened.resource, data);
    }
}

/// EMV QR payloads: parsing, validating, decoding schemes and the JSON view never panic; a payload
/// that parses rebuilds (canonical order) into one that parses to the same objects.
pub fn emv_qr(data: &[u8]) {
    // Consumer-presented: any bytes as BER-TLV; what decodes re-encodes (shortest lengths) to the same tree.
    if let Ok(objects) = emvqr::cpm::decode_ber(data) {
        let mut bytes = Vec::new();
        objects.iter().for_each(|o| o.encode(&mut bytes));
        assert_eq!(emvqr::cpm::decode_ber(&bytes).expect("an encoded tree decodes"), objects);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = crate::qr::decode(text);
    if let Ok(p) = emvqr::parse(text) {
        let _ = emvqr::validate(&p);
        let rebuilt = emvqr::parse(&p.build()).expect("a parsed payload rebuilds into one that parses");
        let sorted = |p: &emvqr::Payload| {
            let mut o = p.objects.clone();
            o.sort_by_key(|o| o.id);
            o
        };
        assert_eq!(sorted(&rebuilt), sorted(&p));
    }
}

/// Wallet API bodies: the first byte picks an operation, the rest is its body.
pub fn wallet_body(data: &[u8]) {
    App::get().wallet(data);
}

/// Merchant API bodies (signed by the harness): the first byte picks an operation, the rest is its body.
pub fn merchant_body(data: &[u8]) {
    App::get().merchant(data);
}

const PIN: &str = "135790";
const MCHID: &str = "1900009191";
const APPID: &str = "wxd678efh567hg6787";
const SERIAL: &str = "5E57F09EFDC096DE15EBE81A47057A7232F1B8E1";

/// The wallet operations fuzzed: method and path (placeholders filled in).
const WALLET_OPERATIONS: [(&str, &str); 23] = [
    ("POST", "/api/v1/people"),
    ("POST", "/api/v1/sessions"),
    ("PUT", "/api/v1/me/pin"),
    ("POST", "/api/v1/me/kyc"),
    ("POST", "/api/v1/friends"),
    ("POST", "/api/v1/groups"),
    ("POST", "/api/v1/groups/$group/members"),
    ("POST", "/api/v1/cards"),
    ("POST", "/api/v1/bank-accounts"),
    ("POST", "/api/v1/top-ups"),
    ("POST", "/api/v1/withdrawals"),
    ("POST", "/api/v1/transfers"),
    ("POST", "/api/v1/transfers/$incoming/accept"),
    ("POST", "/api/v1/transfers/$incoming/decline"),
    ("POST", "/api/v1/red-packets"),
    ("POST", "/api/v1/red-packets/$packet/claims"),
    ("POST", "/api/v1/merchant-payments/preview"),
    ("POST", "/api/v1/merchant-payments"),
    ("POST", "/api/v1/payment-codes"),
    ("POST", "/admin/api/ledger/transfers"),
    ("POST", "/api/v1/scans"),
    ("POST", "/api/v1/network-payments"),
    ("POST", "/api/v1/qr/decode"),
];

/// The merchant operations fuzzed (`{no}` filled in with an order number).
const MERCHANT_OPERATIONS: [&str; 10] = [
    "/v3/pay/transactions/native",
    "/v3/pay/transactions/jsapi",
    "/v3/pay/transactions/app",
    "/v3/pay/transactions/h5",
    "/v3/pay/transactions/codepay",
    "/v3/pay/transactions/out-trade-no/{no}/close",
    "/v3/pay/transactions/out-trade-no/{no}/reverse",
    "/v3/refund/domestic/refunds",
    "/v3/pay/partner/transactions/native",
    "/v3/qianbao/emv-codes",
];

struct App {
    runtime: tokio::runtime::Runtime,
    router: Router,
    clock: Arc<store::ManualClock>,
    token: String,
    /// Another person's session, for changing the PIN (so the PIN the inputs use stays the seeded one).
    pin_token: String,
    /// A finance operator's session, for the operator routes fuzzed.
    operator: String,
    /// Placeholders an input may use (`$card`, `$friend` ...) and the seeded ids they stand for, so the
    /// fuzzer reaches past "no such card" into the rules.
    fills: Vec<(&'static str, String)>,
    key: wxpay::SigningKey,
    requests: AtomicU64,
}

impl App {
    fn filled(&self, text: &[u8]) -> Vec<u8> {
        let mut out = String::from_utf8_lossy(text).into_owned();
        if !out.contains('$') {
            return text.to_vec();
        }
        for (name, value) in &self.fills {
            out = out.replace(name, value);
        }
        out.into_bytes()
    }
}

impl App {
    fn get() -> &'static App {
        static APP: std::sync::OnceLock<App> = std::sync::OnceLock::new();
        APP.get_or_init(App::start)
    }

    fn start() -> App {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
        let dir = std::env::temp_dir().join(format!("qianbao-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let url = store::DatabaseUrl::Sqlite(dir.join("fuzz.db"));
        let store = Arc::new(store::Store::open(&url).expect("the store opens"));
        let clock = Arc::new(store::ManualClock::new(1_781_488_800_000_000_000));
        let db = Arc::new(store::Db::open(&url, 4).expect("the database opens"));
        let committer = store.start_committer(store::CommitterConfig::default(), clock.clone()).expect("the committer starts");
        let rail = Arc::new(SandboxRail::new(clock.clone(), 1_000, db.clone()));
        let config = PlatformConfig { password_memory_kib: 64, ..PlatformConfig::default() };
        let key = wxpay::SigningKey::generate();
        let (platform, seeded) = runtime.block_on(async {
            let parts = Parts { store, db, committer, clock: clock.clone(), config, rail, secret: vec![9; 32] };
            let platform = Arc::new(Platform::start(parts).await.expect("the platform starts"));
            let seeded = seed(&platform, &key).await;
            let operator = seed_operator(&platform).await;
            (platform, (seeded, operator))
        });
        let state = Arc::new(AppState {
            platform,
            admin_token: "fuzz-operator-token-0123456789".into(),
            manual_clock: Some(clock.clone()),
            merchant_rate: crate::merchant::RateLimiter::new(1_000_000),
            metrics: Default::default(),
            in_flight: Default::default(),
            live_streams: crate::wallet::live_slots(),
            web: Default::default(),
        });
        let ((token, pin_token, fills), operator) = seeded;
        App { runtime, router: crate::router(state), clock, token, pin_token, operator, fills, key, requests: AtomicU64::new(0) }
    }

    fn send(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        self.runtime.block_on(async {
            let response = tower::ServiceExt::oneshot(self.router.clone(), request).await.expect("the router answers");
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
            (status, body.to_vec())
        })
    }

    fn wallet(&self, data: &[u8]) {
        let Some((&selector, body)) = data.split_first() else { return };
        let (method, path) = WALLET_OPERATIONS[usize::from(selector) % WALLET_OPERATIONS.len()];
        let path = String::from_utf8(self.filled(path.as_bytes())).expect("UTF-8");
        let body = &self.filled(body)[..];
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let token = match path.as_str() {
            p if p.starts_with("/admin/") => &self.operator,
            "/api/v1/me/pin" => &self.pin_token,
            _ => &self.token,
        };
        let request = Request::builder()
            .method(method)
            .uri(&path)
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", format!("fuzz-{n}"))
            .header("qianbao-reason", "fuzzing")
            .body(Body::from(body.to_vec()))
            .expect("a request");
        let (status, answer) = self.send(request);
        check(&format!("{method} {path}"), status, &answer, body, &["code", "message"]);
        if status == StatusCode::LOCKED {
            // Wrong PINs locked payments for hours: move past the lock (and today's limits) so later
            // inputs reach the rules again.
            self.clock.advance_s(4 * 3_600);
        }
    }

    fn merchant(&self, data: &[u8]) {
        let Some((&selector, body)) = data.split_first() else { return };
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let path = MERCHANT_OPERATIONS[usize::from(selector) % MERCHANT_OPERATIONS.len()].replace("{no}", &format!("FUZZ{n:08}"));
        let body = &self.filled(body)[..];
        // The merchant API checks signatures against the real clock, as WeChat Pay does.
        let timestamp =
            i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs()).expect("fits");
        let nonce = format!("fuzz{n}");
        let message = wxpay::request_message("POST", &path, timestamp, &nonce, body);
        let authorization =
            wxpay::Authorization { mchid: MCHID.into(), nonce, timestamp, serial_no: SERIAL.into(), signature: self.key.sign(&message) };
        let request = Request::builder()
            .method("POST")
            .uri(&path)
            .header("authorization", authorization.to_header())
            .header("content-type", "application/json")
            .body(Body::from(body.to_vec()))
            .expect("a request");
        let (status, answer) = self.send(request);
        check(&format!("POST {path}"), status, &answer, body, &["code", "message"]);
    }
}

/// No internal error for any input, and every error is the documented JSON shape.
fn check(what: &str, status: StatusCode, answer: &[u8], body: &[u8], fields: &[&str]) {
    let shown = || format!("{what} with {:?} answered {status}: {}", String::from_utf8_lossy(body), String::from_utf8_lossy(answer));
    if std::env::var_os("QIANBAO_FUZZ_TRACE").is_some() {
        eprintln!("{}", shown());
    }
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{}", shown());
    if status.is_client_error() || status.is_server_error() {
        let error: serde_json::Value = serde_json::from_slice(answer).unwrap_or_else(|_| panic!("an error is JSON: {}", shown()));
        assert!(fields.iter().all(|f| error[*f].is_string()), "an error has {fields:?}: {}", shown());
    }
}

/// A person with a PIN, 1,000.00 CNY, a card, a bank account, a friend (who sent a transfer and a red
/// packet), a group; the merchant with a key, an app, an open order and a paid one. Returns the session
/// token and the placeholders.
/// The first admin adds a finance operator, who signs in.
async fn seed_operator(platform: &Platform) -> String {
    let ops = &platform.operators;
    let admin = ops.create_first_admin("fuzz-admin", "fuzz-operator-password", "fuzzing").await.expect("the first admin");
    let acting = platform::operators::Acting { by: &admin, reason: "fuzzing" };
    ops.create(acting, "fuzz-finance", "fuzz-operator-password", vec![platform::operators::Role::Finance]).await.expect("an operator");
    ops.sign_in("fuzz-finance", "fuzz-operator-password", None, None).await.expect("signed in").0
}

async fn seed(platform: &Platform, key: &wxpay::SigningKey) -> (String, String, Vec<(&'static str, String)>) {
    let people = &platform.people;
    let me = people.register("+8613900090001", "correct horse battery", "CN", "Fuzz").await.expect("registered");
    let friend = people.register("+8613900090002", "correct horse battery", "CN", "Friend").await.expect("registered");
    let mut cards = Vec::new();
    for p in [me.id, friend.id] {
        people.set_pin(p, PIN, None).await.expect("a PIN");
        let card = platform.wallet.add_card(p, "4242424242424242", 12, 2099).await.expect("a card");
        platform
            .wallet
            .top_up(p, TopUp { card: card.id, amount: "1000.00", currency: "CNY", pin: Some(PIN) }, None)
            .await
            .expect("topped up");
        cards.push(card.id);
    }
    let bank = platform.wallet.add_bank_account(me.id, "ICBC", "Fuzz", "6222021234567890123").await.expect("a bank account");
    platform.social.request_friend(me.id, friend.id).await.expect("asked");
    platform.social.accept_friend(friend.id, me.id).await.expect("friends");
    let group = platform.social.create_group(me.id, "Fuzz", &[friend.id]).await.expect("a group");
    let send = platform::p2p::SendTransfer { to: me.id, amount: "1.00", currency: "CNY", note: "", pin: Some(PIN), card: None };
    let incoming = platform.p2p.send(friend.id, send, None).await.expect("sent");
    let packet = platform::red_packets::SendRedPacket {
        split: platform::red_packets::Split::Lucky,
        to_person: None,
        to_group: Some(group.id),
        currency: "CNY",
        amount: "10.00",
        shares: 2,
        title: None,
        cover: None,
        pin: Some(PIN),
    };
    let packet = platform.red_packets.send(friend.id, packet, None).await.expect("a red packet");
    let session = people.sign_in("+8613900090001", "correct horse battery", None).await.expect("signed in");
    people.register("+8613900090003", "correct horse battery", "CN", "Pin").await.expect("registered");
    let pin_session = people.sign_in("+8613900090003", "correct horse battery", None).await.expect("signed in");
    let (code_url, paid) = seed_merchant(platform, key, me.id).await;
    let emv = platform.payments.emv_payload(&code_url).await.expect("the open order's EMV payload");
    let fills = vec![
        ("$emv", emv),
        ("$card", cards[0].to_string()),
        ("$bank", bank.id.to_string()),
        ("$friend", friend.id.to_string()),
        ("$group", group.id.to_string()),
        ("$incoming", incoming.id.to_string()),
        ("$packet", packet.id.to_string()),
        ("$code_url", code_url),
        ("$paid", paid),
    ];
    (session.token, pin_session.token, fills)
}

/// The merchant (a service provider, so partner calls work too), its key and app; an open Native order
/// (its code_url) and one `payer` paid (its out_trade_no, for refunds).
async fn seed_merchant(platform: &Platform, key: &wxpay::SigningKey, payer: platform::PersonId) -> (String, String) {
    let setup = MerchantSetup {
        mchid: Some(MCHID.into()),
        kind: "service_provider".into(),
        parent_mchid: None,
        name: "Fuzz Shop".into(),
        mcc: "5411".into(),
        country: "CN".into(),
        settlement_currency: "CNY".into(),
        fee_bps: 60,
        settlement_account: "6222020000000000000".into(),
        public_key_mode: false,
        licence: None,
    };
    platform.merchants.onboard(setup).await.expect("onboarded");
    platform.merchants.register_key(MCHID, &key.public_key_pem(), Some(SERIAL)).await.expect("a key");
    platform.merchants.register_app(MCHID, APPID, "mini_program", "Fuzz", None).await.expect("an app");
    let profile =
        platform::merchants::qr::QrProfile::parse("Fuzz Shop", "Shenzhen", None, Some("zh"), Some("模糊商店"), None).expect("a profile");
    platform.merchants.set_qr_profile(MCHID, profile, None).await.expect("a QR profile");
    let auth = platform.merchants.merchant(MCHID).await.expect("the merchant");
    let order = |no: &str| platform::payments::NewOrder {
        trade_type: platform::payments::TradeType::Native,
        appid: APPID.into(),
        description: "Fuzz".into(),
        out_trade_no: no.into(),
        time_expire_s: None,
        attach: None,
        notify_url: "https://merchant.example/notify".into(),
        goods_tag: None,
        total_minor: 100,
        currency: "CNY".into(),
        payer_openid: None,
        scene_info: None,
        sub_appid: None,
    };
    let open = platform.payments.create_order(&auth, None, order("SEEDOPEN01")).await.expect("an order");
    let paid = platform.payments.create_order(&auth, None, order("SEEDPAID01")).await.expect("an order");
    let url = platform.payments.code_url(&paid);
    let found = platform.payments.resolve_order(payer, platform::payments::OrderReference::CodeUrl(&url)).await.expect("found");
    let how = platform::payments::PayOrder { pin: Some(PIN), card: None, balance_currency: None, quote: None };
    platform.payments.pay_order(payer, found, how, None).await.expect("paid");
    (platform.payments.code_url(&open), paid.out_trade_no)
}
