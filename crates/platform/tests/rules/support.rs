//! A platform on a temporary SQLite file (and, when `QIANBAO_TEST_DATABASE_URL` is set, on a PostgreSQL
//! schema of its own), with the manual clock and the sandbox rail: the business rules are tested here,
//! without HTTP.

use platform::merchants::{MerchantAuth, MerchantSetup};
use platform::payments::{NewOrder, Order, OrderReference, PayOrder, TradeType};
use platform::wallet::{SandboxRail, TopUp};
use platform::{Parts, PersonId, Platform, PlatformConfig, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use store::{CommitterConfig, DatabaseUrl, Db, ManualClock, Store};

pub const PIN: &str = "135790";
/// The sandbox's card that approves every charge at once.
pub const VISA: &str = "4242424242424242";

pub struct Harness {
    pub platform: Arc<Platform>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<Store>,
    _dir: Option<TempDir>,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{name}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// 2026-06-15 10:00 China time: mid-day, mid-month, mid-year (a test's day and year stay put).
const START_NS: u64 = 1_781_488_800 * 1_000_000_000;

impl Harness {
    pub async fn sqlite(name: &str) -> Harness {
        let dir = std::env::temp_dir().join(unique(&format!("qianbao_rules_{name}")));
        std::fs::create_dir_all(&dir).unwrap();
        Harness::start(DatabaseUrl::Sqlite(dir.join("qianbao.db")), Some(TempDir(dir))).await
    }

    pub async fn postgres(name: &str) -> Option<Harness> {
        let base = std::env::var("QIANBAO_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
        let schema = unique(&format!("r_{name}")).to_lowercase();
        // The PostgreSQL client blocks (on a runtime of its own): outside the test's runtime.
        tokio::task::block_in_place(|| {
            let admin = Db::open(&DatabaseUrl::parse(&base).unwrap(), 1).unwrap();
            admin.with(|c| c.batch(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))).unwrap();
        });
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = DatabaseUrl::Postgres(format!("{base}{sep}options=-csearch_path%3D{schema}"));
        Some(Harness::start(url, None).await)
    }

    async fn start(url: DatabaseUrl, dir: Option<TempDir>) -> Harness {
        let clock = Arc::new(ManualClock::new(START_NS));
        let (store, db, committer) = tokio::task::block_in_place(|| {
            let store = Arc::new(Store::open(&url).unwrap());
            let db = Arc::new(Db::open(&url, 8).unwrap());
            let committer = store.start_committer(CommitterConfig::default(), clock.clone()).unwrap();
            (store, db, committer)
        });
        let rail = Arc::new(SandboxRail::new(clock.clone(), 2_000, db.clone()));
        let config = PlatformConfig { password_memory_kib: 64, ..PlatformConfig::default() };
        let parts = Parts { store: store.clone(), db, committer, clock: clock.clone(), config, rail, secret: vec![7; 32] };
        let platform = Arc::new(Platform::start(parts).await.unwrap());
        Harness { platform, clock, store, _dir: dir }
    }

    /// Move the clock on and run every timed job, as the server's deadline loop does.
    pub async fn advance_s(&self, seconds: u64) {
        self.clock.advance_s(seconds);
        self.platform.run_deadlines().await.unwrap();
    }

    /// A registered person of `region` with PIN 135790 and a linked card.
    pub async fn person(&self, region: &str) -> (PersonId, i64) {
        static PHONE: AtomicU32 = AtomicU32::new(0);
        let n = PHONE.fetch_add(1, Ordering::SeqCst);
        let phone = if region == "HK" { format!("+852{:08}", 60_000_000 + n) } else { format!("+86139{:08}", n) };
        let p = self.platform.people.register(&phone, "correct horse battery", region, "Someone").await.unwrap();
        self.platform.people.set_pin(p.id, PIN, None).await.unwrap();
        let card = self.platform.wallet.add_card(p.id, VISA, 12, 2099).await.unwrap();
        (p.id, card.id)
    }

    /// A CN person holding `amount` CNY (topped up from their card).
    pub async fn funded(&self, amount: &str) -> PersonId {
        let (p, card) = self.person("CN").await;
        self.top_up(p, card, amount).await.unwrap();
        p
    }

    pub async fn top_up(&self, person: PersonId, card: i64, amount: &str) -> Result<()> {
        self.top_up_in(person, card, amount, "CNY").await
    }

    pub async fn top_up_in(&self, person: PersonId, card: i64, amount: &str, currency: &str) -> Result<()> {
        let request = TopUp { card, amount, currency, pin: Some(PIN) };
        self.platform.wallet.top_up(person, request, None).await.map(|_| ())
    }

    /// A Hong Kong person holding `amount` HKD.
    pub async fn funded_hk(&self, amount: &str) -> PersonId {
        let (p, card) = self.person("HK").await;
        self.top_up_in(p, card, amount, "HKD").await.unwrap();
        p
    }

    /// Available balance in `currency` as a decimal string.
    pub async fn available_in(&self, person: PersonId, currency: &str) -> String {
        let balances = self.platform.wallet.balances(person).await.unwrap();
        balances.into_iter().find(|b| b.currency.code() == currency).unwrap().available
    }

    pub async fn befriend(&self, a: PersonId, b: PersonId) {
        self.platform.social.request_friend(a, b).await.unwrap();
        self.platform.social.accept_friend(b, a).await.unwrap();
    }

    /// Available CNY as a decimal string.
    pub async fn available(&self, person: PersonId) -> String {
        let balances = self.platform.wallet.balances(person).await.unwrap();
        balances.into_iter().find(|b| b.currency.code() == "CNY").unwrap().available
    }

    /// A direct merchant (fee 0.6%) with one app id.
    pub async fn merchant(&self) -> MerchantAuth {
        self.merchant_in("CN", "CNY").await
    }

    /// A direct merchant of `country`, settled in `currency`.
    pub async fn merchant_in(&self, country: &str, currency: &str) -> MerchantAuth {
        let setup = MerchantSetup {
            mchid: None,
            kind: "direct".into(),
            parent_mchid: None,
            name: "Test Shop".into(),
            mcc: "5411".into(),
            country: country.into(),
            settlement_currency: currency.into(),
            fee_bps: 60,
            settlement_account: "6222020000000000000".into(),
            public_key_mode: false,
            licence: None,
        };
        let (m, _) = self.platform.merchants.onboard(setup).await.unwrap();
        static APP: AtomicU32 = AtomicU32::new(1);
        let appid = format!("wx{:016}", APP.fetch_add(1, Ordering::SeqCst));
        self.platform.merchants.register_app(&m.mchid, &appid, "mini_program", "Shop", None).await.unwrap();
        (*self.platform.merchants.merchant(&m.mchid).await.unwrap()).clone()
    }

    /// A Native order of `total_minor` fen.
    pub async fn order(&self, merchant: &MerchantAuth, out_trade_no: &str, total_minor: i64) -> Order {
        self.order_in(merchant, out_trade_no, total_minor, "CNY").await
    }

    /// A Native order of `total_minor` minor units of `currency`.
    pub async fn order_in(&self, merchant: &MerchantAuth, out_trade_no: &str, total_minor: i64, currency: &str) -> Order {
        let new = NewOrder {
            trade_type: TradeType::Native,
            appid: merchant.appids[0].clone(),
            description: "Goods".into(),
            out_trade_no: out_trade_no.into(),
            time_expire_s: None,
            attach: None,
            notify_url: "http://127.0.0.1:9/notify".into(),
            goods_tag: None,
            total_minor,
            currency: currency.into(),
            payer_openid: None,
            scene_info: None,
            sub_appid: None,
        };
        self.platform.payments.create_order(merchant, None, new).await.unwrap()
    }

    /// `person` pays `order` from their balance, as a wallet that scanned its code_url would.
    pub async fn pay(&self, person: PersonId, order: &Order) -> Result<Order> {
        let url = self.platform.payments.code_url(order);
        let found = self.platform.payments.resolve_order(person, OrderReference::CodeUrl(&url)).await?;
        self.platform
            .payments
            .pay_order(person, found, PayOrder { pin: Some(PIN), card: None, balance_currency: None, quote: None }, None)
            .await
    }

    /// The books balance: every balance recomputed from the journal, every invariant checked.
    pub fn verify(&self) {
        let report = tokio::task::block_in_place(|| self.store.verify()).unwrap();
        assert!(report.problems.is_empty(), "ledger verify: {:?}", report.problems);
    }
}

/// Run each test body once on SQLite and once on PostgreSQL (when `QIANBAO_TEST_DATABASE_URL` is set).
/// The harness is made and dropped outside the runtime: the PostgreSQL client blocks on its own.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                let runtime = crate::support::runtime();
                let h = runtime.block_on(crate::support::Harness::sqlite(stringify!($name)));
                runtime.block_on(super::$name(&h));
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                let runtime = crate::support::runtime();
                match runtime.block_on(crate::support::Harness::postgres(stringify!($name))) {
                    Some(h) => runtime.block_on(super::$name(&h)),
                    None => eprintln!("QIANBAO_TEST_DATABASE_URL not set: PostgreSQL run of {} skipped", stringify!($name)),
                }
            })*
        }
    };
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}
