//! Qianbao's business, one folder per domain. Each domain owns its types, its rules and its storage file
//! (`store.rs`, the only place its SQL lives), and reaches another domain only through that domain's
//! public functions:
//!
//! | domain | what it holds |
//! | --- | --- |
//! | [`people`] | registration, sign-in and sessions, the payment PIN, KYC tiers and the payment limits |
//! | [`social`] | friends and groups |
//! | [`wallet`] | balances, cards and bank accounts, top-ups, withdrawals, card payments, the rail, history, statements |
//! | [`p2p`] | transfers between friends |
//! | [`red_packets`] | red packets, their shares and claims, covers |
//! | [`merchants`] | merchants, their keys and app ids, openids, Qianbao's platform keys |
//! | [`payments`] | orders, payment codes, static codes, refunds, the notifications they raise |
//! | [`settlement`] | daily settlement, fees, bills |
//! | [`outbox`] | notifications waiting for delivery, and every attempt |
//! | [`history`] | a person's history and monthly statements, composed from the domains that moved the money |
//! | [`audit`] | the operator audit log |
//! | [`idempotency`] | the answers kept for `Idempotency-Key` replays |
//!
//! Around them: [`chart`] (every system account and transfer code of the ledger), [`deadlines`] (every
//! timed job), [`ids`] (id types and how ledger ids derive from business objects).
//!
//! Knows the store, not HTTP. Every movement of money is a ledger transfer whose id is derived from the
//! business object, and it commits in one database transaction with the business row that explains it
//! (a committer request's guards and effects), so a retry, a second instance or a crash can only ever
//! repeat the same request, which the ledger and the row's key answer as done.

#[macro_use]
mod macros;

pub mod audit;
pub mod cache;
pub mod charity;
pub mod chart;
mod core;
pub mod crypto;
pub mod deadlines;
mod error;
pub mod fx;
pub mod history;
pub mod idempotency;
pub mod ids;
mod invalidation;
pub mod ledger_admin;
pub mod merchants;
pub mod networks;
pub mod official_accounts;
pub mod operators;
pub mod outbox;
pub mod p2p;
pub mod payments;
pub mod people;
pub mod privacy;
pub mod red_packets;
pub mod risk;
pub mod settlement;
pub mod social;
pub mod wallet;

pub use error::{Conflict, PlatformError};
pub use ids::{MerchantId, OrderId, PersonId};

use money::Currency;
use std::sync::Arc;
use store::{Clock, Committer, Db};

pub type Result<T> = std::result::Result<T, PlatformError>;

/// Where a wallet is held: it fixes the home currency and which currencies its balances may use.
#[derive(Debug, Clone)]
pub struct Region {
    /// "CN", "HK" ... (ISO 3166 alpha-2, as merchants' countries are).
    pub code: String,
    /// What a payment draws on by default (converting when the price is in another currency).
    pub home_currency: Currency,
    /// The currencies its wallets may hold (and pay from).
    pub currencies: Vec<Currency>,
    /// The regions its wallets may send money to (its own only, unless the operator allows more: the
    /// mainland's and Hong Kong's wallets cannot transfer to each other).
    pub p2p_regions: Vec<String>,
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
    /// Payment limits (money out: payments, withdrawals) of KYC tiers 0, 1 and 2.
    pub limits: [people::TierLimits; 3],
    /// Top-up limits (money in) of KYC tiers 0, 1 and 2.
    pub limits_in: [people::TierLimits; 3],
    /// Where people's browsers reach this server (H5 payment links).
    pub public_url: String,
    /// Sign-in attempts per phone number and per client address in a window (see `people::throttle`).
    pub sign_in_attempts_max: u32,
    pub sign_in_window_s: u64,
    /// Caps on cross-border spending (the payer's region is not the merchant's country) of KYC tiers 0,
    /// 1 and 2, in major units of the currency paid in.
    pub limits_cross_border: [people::TierLimits; 3],
    pub fx: fx::FxRules,
    /// The globally unique identifier of Qianbao's template in its EMV codes (reverse domain, ≤ 32).
    pub qr_guid: String,
}

impl Default for PlatformConfig {
    fn default() -> PlatformConfig {
        let c = |code| Currency::from_code(code).expect("known currency");
        PlatformConfig {
            regions: vec![
                Region { code: "CN".into(), home_currency: c("CNY"), currencies: vec![c("CNY")], p2p_regions: vec!["CN".into()] },
                Region {
                    code: "HK".into(),
                    home_currency: c("HKD"),
                    currencies: vec![c("HKD"), c("CNY"), c("USD")],
                    p2p_regions: vec!["HK".into()],
                },
                Region { code: "MO".into(), home_currency: c("MOP"), currencies: vec![c("MOP"), c("HKD")], p2p_regions: vec!["MO".into()] },
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
            limits: people::default_limits(),
            limits_in: people::default_limits_in(),
            public_url: "http://127.0.0.1:8080".into(),
            qr_guid: "com.qianbao".into(),
            sign_in_attempts_max: 10,
            sign_in_window_s: 300,
            limits_cross_border: people::default_limits_cross_border(),
            fx: fx::FxRules::default(),
        }
    }
}

impl PlatformConfig {
    pub fn region(&self, code: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.code == code)
    }

    /// Every currency some region's wallets hold or merchants are priced in, sorted.
    pub fn currencies(&self) -> Vec<Currency> {
        let mut all: Vec<Currency> =
            self.regions.iter().flat_map(|r| r.currencies.iter().copied()).chain(self.fx.currencies.iter().copied()).collect();
        all.sort();
        all.dedup();
        all
    }
}

/// What the platform runs on.
pub struct Parts {
    pub store: Arc<store::Store>,
    pub db: Arc<Db>,
    pub committer: Committer,
    pub clock: Arc<dyn Clock>,
    pub config: PlatformConfig,
    pub rail: Arc<dyn wallet::RailConnector>,
    /// Keys every MAC and seal; kept outside the database (a stolen database gives no PIN away).
    pub secret: Vec<u8>,
}

/// The platform: one service per domain, shared by every request handler.
pub struct Platform {
    pub people: Arc<people::People>,
    pub social: Arc<social::Social>,
    pub wallet: Arc<wallet::Wallet>,
    pub p2p: Arc<p2p::P2p>,
    pub red_packets: Arc<red_packets::RedPackets>,
    pub merchants: Arc<merchants::Merchants>,
    pub payments: Arc<payments::Payments>,
    pub networks: Arc<networks::Networks>,
    pub settlement: Arc<settlement::Settlements>,
    pub fx: Arc<fx::Fx>,
    pub history: history::History,
    pub outbox: Arc<outbox::Outbox>,
    pub audit: Arc<audit::Audit>,
    pub operators: Arc<operators::Operators>,
    pub freezes: risk::Freezes,
    pub reviews: risk::Reviews,
    pub sanctions: Arc<risk::Sanctions>,
    pub privacy: privacy::Privacy,
    pub charity: Arc<charity::Charities>,
    pub official_accounts: Arc<official_accounts::OfficialAccounts>,
    pub idempotency: Arc<idempotency::Idempotency>,
    /// The operator's raw ledger access.
    pub ledger: ledger_admin::LedgerAdmin,
    core: Arc<core::Core>,
}

impl Platform {
    /// Wire the domains together and set up the platform's own ledger accounts and signing keys.
    pub async fn start(parts: Parts) -> Result<Platform> {
        assert!(parts.secret.len() >= 32, "the platform secret has at least 256 bits");
        let core = Arc::new(core::Core::new(parts.db, parts.committer, parts.store, parts.clock, parts.config, parts.secret)?);
        core.listen();
        chart::create_system_accounts(&core).await?;
        let people = Arc::new(people::People::new(core.clone()));
        let social = Arc::new(social::Social::new(core.clone(), people.clone()));
        let wallet = Arc::new(wallet::Wallet::new(core.clone(), people.clone(), parts.rail));
        let p2p = Arc::new(p2p::P2p::new(core.clone(), people.clone(), social.clone(), wallet.clone()));
        let merchants = Arc::new(merchants::Merchants::new(core.clone()));
        let fx = Arc::new(fx::Fx::new(core.clone(), people.clone(), wallet.clone()));
        let red_packets = Arc::new(red_packets::RedPackets::new(core.clone(), people.clone(), social.clone(), merchants.clone()));
        let outbox = Arc::new(outbox::Outbox::new(core.clone(), merchants.clone()));
        let payments =
            Arc::new(payments::Payments::new(core.clone(), people.clone(), wallet.clone(), merchants.clone(), outbox.clone(), fx.clone()));
        let charity = Arc::new(charity::Charities::new(charity::Parts {
            core: core.clone(),
            people: people.clone(),
            merchants: merchants.clone(),
            wallet: wallet.clone(),
            social: social.clone(),
            payments: payments.clone(),
        }));
        let official_accounts = Arc::new(official_accounts::OfficialAccounts::new(core.clone(), merchants.clone()));
        let settlement = Arc::new(settlement::Settlements::new(core.clone(), merchants.clone(), payments.clone(), charity.clone()));
        let audit = Arc::new(audit::Audit::new(core.clone()));
        let sanctions = Arc::new(risk::Sanctions::new(core.clone(), audit.clone()));
        let networks = Arc::new(networks::Networks::new(core.clone(), people.clone(), payments.clone(), sanctions.clone()));
        let operators = Arc::new(operators::Operators::new(core.clone(), audit.clone()));
        let freezes = risk::Freezes::new(core.clone(), audit.clone());
        let reviews = risk::Reviews::new(core.clone(), audit.clone(), p2p.clone(), wallet.clone());
        let privacy = privacy::Privacy::new(people.clone(), wallet.clone(), social.clone(), audit.clone());
        let idempotency = Arc::new(idempotency::Idempotency::new(core.clone()));
        let history = history::History::new(wallet.clone(), p2p.clone(), red_packets.clone(), payments.clone(), networks.clone());
        merchants.platform_keys().await?;
        people.seal_plain_documents().await?;
        let ledger = ledger_admin::LedgerAdmin::new(core.clone());
        Ok(Platform {
            people,
            social,
            wallet,
            p2p,
            red_packets,
            merchants,
            payments,
            networks,
            settlement,
            fx,
            history,
            outbox,
            audit,
            operators,
            freezes,
            reviews,
            sanctions,
            privacy,
            charity,
            official_accounts,
            idempotency,
            ledger,
            core,
        })
    }

    pub fn config(&self) -> &PlatformConfig {
        &self.core.config
    }

    pub fn now_ms(&self) -> i64 {
        self.core.now_ms()
    }

    /// A person's identity submission (KYC), then their screening by the legal name given: a possible
    /// sanctions match goes to review and freezes the wallet meanwhile (the person is not told).
    pub async fn submit_kyc(&self, person: PersonId, legal_name: &str, document_type: &str, document_number: &str) -> Result<i64> {
        let tier = self.people.submit_kyc(person, legal_name, document_type, document_number).await?;
        self.screen_person(person, legal_name).await?;
        Ok(tier)
    }

    /// Screen a person by their legal name (after KYC): the hits found, the person frozen if any.
    pub async fn screen_person(&self, person: PersonId, legal_name: &str) -> Result<Vec<risk::sanctions::Hit>> {
        self.sanctions.screen(&self.freezes, risk::FreezeKind::Person, &person.to_string(), legal_name).await
    }

    /// An operator onboards a merchant (its row committed with the audit row), then its name is screened:
    /// the merchant, its APIv3 key (shown this once) and screening's possible matches.
    pub async fn onboard_merchant(
        &self,
        acting: operators::Acting<'_>,
        setup: merchants::MerchantSetup,
    ) -> Result<(merchants::Merchant, String, Vec<risk::sanctions::Hit>)> {
        let actor = acting.by.actor();
        let audited = |m: &merchants::Merchant| {
            Some(self.audit.effect(&actor, "merchants.onboard", &format!("merchant:{}", m.mchid), &m.name, acting.reason))
        };
        let (merchant, apiv3_key) = self.merchants.onboard_audited(setup, audited).await?;
        let hits = self.screen_merchant(&merchant.mchid, &merchant.name).await?;
        Ok((merchant, apiv3_key, hits))
    }

    /// Screen a merchant by name (at onboarding).
    pub async fn screen_merchant(&self, mchid: &str, name: &str) -> Result<Vec<risk::sanctions::Hit>> {
        self.sanctions.screen(&self.freezes, risk::FreezeKind::Merchant, mchid, name).await
    }

    /// Import a sanctions list, then screen again everyone screened before (people with a legal name,
    /// every merchant), a page at a time. The names imported and the new hits.
    pub async fn import_sanctions_list(
        &self,
        acting: operators::Acting<'_>,
        kind: risk::sanctions::ListKind,
        text: &str,
    ) -> Result<(usize, Vec<risk::sanctions::Hit>)> {
        const PAGE: i64 = 1_000;
        let imported = self.sanctions.import(acting, kind, text).await?;
        let mut hits = Vec::new();
        let mut after = 0;
        loop {
            let page = self.people.legal_names(after, PAGE).await?;
            for (person, name) in &page {
                hits.extend(self.screen_person(*person, name).await?);
            }
            match page.last() {
                Some((last, _)) if page.len() as i64 == PAGE => after = last.get(),
                _ => break,
            }
        }
        let mut after = 0;
        loop {
            let page = self.merchants.names(after, PAGE).await?;
            for (_, mchid, name) in &page {
                hits.extend(self.screen_merchant(mchid, name).await?);
            }
            match page.last() {
                Some((last, _, _)) if page.len() as i64 == PAGE => after = *last,
                _ => break,
            }
        }
        Ok((imported, hits))
    }

    /// Close a person's wallet at their request (see [`privacy::Privacy::close`]).
    pub async fn close_wallet(&self, person: PersonId, pin: &str) -> Result<i64> {
        self.privacy.close(person, pin, self.core.now_ms()).await
    }

    /// Everything held about a person, for them (see [`privacy`]).
    pub async fn export_person(&self, person: PersonId) -> Result<serde_json::Value> {
        self.privacy.export(person, &self.history, self.core.now_ms()).await
    }

    /// Recompute every balance from the journal now and check every invariant (`qianbao ledger verify`).
    pub async fn verify_ledger(&self) -> Result<store::VerifyReport> {
        self.core.verify_ledger().await
    }

    /// A MAC under the platform secret for the web pages' own tokens (CSRF), labelled by purpose.
    pub fn web_mac(&self, label: &str, data: &[u8]) -> Vec<u8> {
        self.core.mac(&format!("web:{label}"), data)
    }

    /// Woken when a notification is queued, so the dispatcher sends it at once.
    pub fn outbox_wake(&self) -> Arc<tokio::sync::Notify> {
        self.core.outbox_wake.clone()
    }

    /// The database answers.
    pub async fn ready(&self) -> Result<()> {
        self.core.ready().await
    }

    /// The store's metrics, in Prometheus' text format.
    pub fn render_metrics(&self, out: &mut String) {
        self.core.render_metrics(out);
    }

    /// Resolve everything with a deadline (see [`deadlines`]).
    pub async fn run_deadlines(&self) -> Result<deadlines::DeadlineReport> {
        deadlines::run(self).await
    }
}
