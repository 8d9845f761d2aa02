//! Qianbao's business rules for people and their wallets: registration and sign-in, regions and wallet
//! currencies, the payment PIN, friends and groups, linked cards and top-ups through a rail connector,
//! transfers between friends, red packets, and history.
//!
//! Knows the store, not HTTP. Every movement of money is a ledger transfer whose id is derived from the
//! business object (`ids`), so a retry, a second instance or a restart after a crash can only ever repeat
//! the same transfer, which the ledger answers `exists`. State with a deadline lives in the ledger where it
//! can (a transfer to a friend is a pending transfer with a 24 h timeout, so the ledger's expiry refunds it
//! exactly once); the rest is resolved by [`Platform::run_deadlines`].

mod audit;
mod cache;
mod crypto;
mod error;
mod idempotency;
pub mod ids;
mod kyc;
mod merchants;
mod orders;
mod outbox;
mod people;
mod rail;
mod redpackets;
mod settlement;
mod social;
mod transfers;
mod wallets;
mod withdrawals;

pub use audit::{AUDIT_PAGE_MAX, AuditEntry};
pub use error::PlatformError;
pub use idempotency::{IdempotencyStart, check_key};
pub use kyc::{TierLimits, default_limits, valid_cn_resident_id, valid_hk_id};
pub use merchants::{MERCHANT_APPS_MAX, MERCHANT_KEYS_MAX, Merchant, MerchantAuth, MerchantSetup, PlatformKey, PlatformKeys};
pub use orders::{
    ClientSignature, NewOrder, NewRefund, ORDER_TOTAL_MAX, Order, OrderReference, PAYMENT_CODE_TTL_MS, PayOrder, PaymentCode, Refund,
    TradeType, fee_of, valid_notify_url, valid_out_no, valid_payment_code,
};
pub use outbox::{DeliveryAttempt, LEASE_MS, Notification, RETRY_SCHEDULE_S};
pub use people::{Person, Session};
pub use rail::{RailConnector, RailOutcome, SandboxRail, TestCard};
pub use redpackets::{COVERS_PAGE_MAX, Cover, DeadlineReport, RedPacket, RedPacketClaim, Split, draw_lucky_shares};
pub use settlement::{BILL_LINK_TTL_MS, BillRequest, Settlement, cst_day_bounds};
pub use social::{Friend, Group};
pub use transfers::{P2pTransfer, SendTransfer};
pub use wallets::{Balance, Card, HISTORY_KINDS, HistoryItem, HistoryQuery, RailOperation};
pub use withdrawals::BankAccount;

use money::Currency;
use std::sync::Arc;
use store::{Clock, Committer, Db};

pub type Result<T> = std::result::Result<T, PlatformError>;

/// Where a wallet is held: it fixes the home currency and which currencies its balances may use.
#[derive(Debug, Clone)]
pub struct Region {
    /// "CN", "HK" ...
    pub code: String,
    pub home_currency: Currency,
    pub currencies: Vec<Currency>,
}

/// Operator rules for red packets, in major units of the packet's currency.
#[derive(Debug, Clone)]
pub struct RedPacketRules {
    pub total_max_major: i64,
    pub share_min_minor: i64,
    pub shares_max: u32,
    pub expiry_s: u64,
}

#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub regions: Vec<Region>,
    pub session_ttl_s: u64,
    pub pin_attempts_max: u32,
    pub pin_lockout_s: u64,
    /// Payments at or below this many minor units need no PIN (0: every payment needs it).
    pub no_pin_threshold_minor: i64,
    pub transfer_timeout_s: u32,
    pub red_packets: RedPacketRules,
    pub note_chars_max: usize,
    pub name_chars_max: usize,
    pub group_members_max: usize,
    /// argon2id memory cost for login passwords (KiB); OWASP's floor is 19,456.
    pub password_memory_kib: u32,
    /// Payment limits of KYC tiers 0, 1 and 2.
    pub limits: [TierLimits; 3],
    /// Where people's browsers reach this server (H5 payment links).
    pub public_url: String,
}

impl Default for PlatformConfig {
    fn default() -> PlatformConfig {
        let c = |code| Currency::from_code(code).expect("known currency");
        PlatformConfig {
            regions: vec![
                Region { code: "CN".into(), home_currency: c("CNY"), currencies: vec![c("CNY")] },
                Region { code: "HK".into(), home_currency: c("HKD"), currencies: vec![c("HKD"), c("CNY"), c("USD")] },
            ],
            session_ttl_s: 30 * 86_400,
            pin_attempts_max: 5,
            pin_lockout_s: 3 * 3_600,
            no_pin_threshold_minor: 0,
            transfer_timeout_s: 86_400,
            red_packets: RedPacketRules { total_max_major: 200, share_min_minor: 1, shares_max: 100, expiry_s: 86_400 },
            note_chars_max: 100,
            name_chars_max: 50,
            group_members_max: 500,
            password_memory_kib: 19_456,
            limits: default_limits(),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

impl PlatformConfig {
    pub fn region(&self, code: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.code == code)
    }

    pub fn currencies(&self) -> Vec<Currency> {
        let mut all: Vec<Currency> = self.regions.iter().flat_map(|r| r.currencies.iter().copied()).collect();
        all.sort();
        all.dedup();
        all
    }
}

/// The platform: shared by every request handler.
pub struct Platform {
    pub(crate) db: Arc<Db>,
    pub(crate) ledger: Committer,
    pub(crate) store: Arc<store::Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: PlatformConfig,
    pub(crate) rail: Arc<dyn RailConnector>,
    /// Keys the PIN HMAC; kept outside the database (a stolen database does not give the PINs away).
    pub(crate) secret: Vec<u8>,
    pub(crate) opened: kyc::OpenedPeriods,
    pub(crate) merchants: merchants::MerchantCache,
    /// Sessions and people, briefly (see `cache`).
    pub(crate) caches: cache::Caches,
    /// The last day this instance settled (the deadline task settles each day once).
    pub(crate) last_settled_day: std::sync::Mutex<Option<String>>,
    /// Woken when a notification is queued, so the dispatcher sends it at once.
    pub outbox_wake: Arc<tokio::sync::Notify>,
}

impl Platform {
    /// Set up the platform's own ledger accounts (rails per currency) and return the handle.
    pub async fn start(
        store: Arc<store::Store>,
        db: Arc<Db>,
        ledger: Committer,
        clock: Arc<dyn Clock>,
        config: PlatformConfig,
        rail: Arc<dyn RailConnector>,
        secret: Vec<u8>,
    ) -> Result<Platform> {
        assert!(secret.len() >= 32, "the platform secret has at least 256 bits");
        let platform = Platform {
            db,
            ledger,
            store,
            clock,
            config,
            rail,
            secret,
            opened: Default::default(),
            merchants: Default::default(),
            caches: Default::default(),
            last_settled_day: Default::default(),
            outbox_wake: Default::default(),
        };
        platform.create_system_accounts().await?;
        platform.platform_keys().await?;
        Ok(platform)
    }

    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    pub fn crypto_sha256(data: &[u8]) -> Vec<u8> {
        crypto::sha256(data)
    }

    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ns() / 1_000_000).expect("ms since 1970 fit an i64")
    }

    /// Write business rows through the group committer: the guards and effects of many requests share
    /// one database transaction (one fsync) instead of one each. Guards must change a row (an `INSERT
    /// ... ON CONFLICT DO NOTHING` that inserted, a conditional `UPDATE` that matched) or nothing of the
    /// request is written. Statements here must not fail (see `store::Conditions`).
    pub(crate) async fn commit_rows(
        &self,
        guards: Vec<store::Effect>,
        effects: Vec<store::Effect>,
    ) -> Result<std::result::Result<(), store::GuardFailed>> {
        Ok(self.ledger.create_transfers_guarded(Vec::new(), store::Conditions { guards, effects }).await?.map(|_| ()))
    }

    /// Run blocking database work off the async runtime.
    pub(crate) async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&Db) -> Result<T> + Send + 'static) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db)).await.map_err(|e| PlatformError::Internal(format!("worker panicked: {e}")))?
    }
}
