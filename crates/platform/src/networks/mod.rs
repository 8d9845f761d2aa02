//! Partner networks: the wallets and acquirers of other countries (a PromptPay or PayNow acquirer, a
//! LINE Pay-like wallet), reached through one [`NetworkConnector`] trait, both ways:
//! - *out*: a Qianbao wallet pays a network's merchant by scanning its code. The payer's money is held
//!   (pending transfers: the payer's wallet, through the FX positions when the currencies differ, to
//!   the network's settlement account) with the payment's row in one commit; only then is the network
//!   asked, with the payment's id as its idempotency key and an expiry (twice the network's timeout
//!   after the hold, ten seconds at least, by the wall clock) past which the network must refuse it. Its answer posts or voids the hold; a
//!   network that did not answer is asked again on a retry (a new pay call while the payment has not
//!   expired, an inquiry after) and by the sweep; only an inquiry after the expiry and a further
//!   timeout that finds nothing voids it. So there is exactly one outcome, whoever asks.
//! - *in*: the network's wallet pays a Qianbao merchant's code (identify, then pay, Alipay+ style). The
//!   pay call is idempotent on the network's payment id (the same id with another code or amount is
//!   refused): the order is paid from the network's
//!   settlement account in one commit with the payment's row and the merchant's notification (whose
//!   `bank_type` names the network).
//! - each day, per network and currency, what Qianbao booked against what the network reports.

mod inbound;
mod outbound;
mod reconciliation;
mod store;

pub use inbound::CODE_CHARS_MAX;
pub use inbound::{Identification, InboundPay};
pub use outbound::{NetworkPay, NetworkScan};
pub use reconciliation::{CurrencyDay, Reconciliation, ReconciliationLine, Verdict};

use crate::core::Core;
use crate::payments::Payments;
use crate::people::People;
use crate::{PersonId, PlatformError, Result, chart};
use ledger::{AccountFlags, NewAccount};
use money::{Currency, Money};
use std::sync::{Arc, RwLock};

/// A partner network as the operator configured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// `[a-z0-9-]`, 1 to 32: in URLs, rows and the `bank_type` merchants see.
    pub id: String,
    /// The network's number in the chart of accounts (1 to 65535, unique).
    pub number: u16,
    pub name: String,
    /// The currency its merchants are paid in and it settles in.
    pub currency: Currency,
    /// The EMV identifiers (GUIDs of templates 26–51) of its merchants' codes.
    pub guids: Vec<String>,
    /// Its API.
    pub url: String,
    /// The key both sides sign requests with (HMAC-SHA256), at least 32 characters.
    pub key: String,
    /// How long Qianbao waits for one of its answers.
    pub timeout_ms: u64,
}

impl NetworkConfig {
    /// What a merchant's notification says paid (`bank_type`).
    pub fn bank_type(&self) -> String {
        self.id.to_ascii_uppercase().replace('-', "_")
    }

    /// Whether this network claims an EMV code (by its templates' identifiers).
    pub fn claims(&self, payload: &emvqr::Payload) -> bool {
        (26..=51u8)
            .filter_map(|id| payload.template(id))
            .filter_map(|t| t.into_iter().find(|o| o.id == 0))
            .any(|guid| self.guids.iter().any(|g| g.eq_ignore_ascii_case(&guid.value)))
    }

    pub fn check(&self) -> std::result::Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 32
            && self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(format!("network id {:?}: 1 to 32 characters of [a-z0-9-]", self.id));
        }
        if self.number == 0 || self.key.len() < 32 || self.guids.is_empty() || !(100..=60_000).contains(&self.timeout_ms) {
            return Err(format!("network {}: a number 1-65535, a key of 32+ characters, one GUID or more, timeout_ms 100-60000", self.id));
        }
        Ok(())
    }
}

/// What a network says one of its codes is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    pub merchant_name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub mcc: String,
    /// Fixed by a dynamic code; `None`: the payer enters it.
    pub amount: Option<Money>,
    pub currency: Currency,
}

/// A network's answer to a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkOutcome {
    Succeeded {
        reference: String,
    },
    Declined {
        reason: String,
    },
    /// No answer in time, or an answer that says nothing yet: ask again.
    Unknown {
        why: String,
    },
}

/// One payment in a network's daily settlement report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementLine {
    pub request_id: String,
    /// "out": a Qianbao wallet paid the network's merchant; "in": the network's wallet paid Qianbao's.
    pub direction: String,
    pub amount: Money,
}

/// A partner network's API, as Qianbao calls it. Calls block (run them off the async runtime); every
/// payment call is idempotent on the request id, and `inquire` answers what the network did with one.
pub trait NetworkConnector: Send + Sync {
    fn config(&self) -> &NetworkConfig;
    /// What the network says a code is; `Ok(None)` when it does not know the code.
    fn identify(&self, code: &str) -> std::result::Result<Option<Identified>, String>;
    /// The network must refuse (and not record) a payment it processes after `expires_at_ms`: past
    /// then, Qianbao may give the payer's money back on hearing the network never had it.
    fn pay(&self, request_id: &str, code: &str, amount: Money, expires_at_ms: i64) -> NetworkOutcome;
    /// `None`: the network never heard of `request_id`.
    fn inquire(&self, request_id: &str) -> std::result::Result<Option<NetworkOutcome>, String>;
    /// The network's settlement report of a day (`YYYY-MM-DD`, UTC).
    fn settlement(&self, day: &str) -> std::result::Result<Vec<SettlementLine>, String>;
}

text_enum! {
    pub enum Direction {
        Out => "out",
        In => "in",
    }
}

text_enum! {
    pub enum NetworkState {
        Pending => "pending",
        Succeeded => "succeeded",
        Declined => "declined",
    }
}

/// A payment with a partner network, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPayment {
    pub id: i64,
    pub network: String,
    pub direction: Direction,
    pub request_id: String,
    pub code_digest: String,
    pub state: NetworkState,
    pub person: Option<PersonId>,
    pub order: Option<i64>,
    pub merchant_name: String,
    pub amount: Money,
    pub payer_amount: Money,
    pub cross_border: bool,
    pub network_reference: Option<String>,
    pub failure: Option<String>,
    pub created_at_ms: i64,
    /// Out: when the network must refuse the pay call, by the wall clock (the network's own clock,
    /// whatever the platform's business clock says in a sandbox).
    pub expires_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

/// The network's settlement account in a currency: what Qianbao owes it (out) less what it owes
/// Qianbao (in), settled each day.
pub fn settlement_account(number: u16, currency: Currency) -> u128 {
    chart::system_account(chart::account::NETWORK_SETTLEMENT, currency) | (u128::from(number) << 16)
}

pub struct Networks {
    core: Arc<Core>,
    people: Arc<People>,
    payments: Arc<Payments>,
    connectors: RwLock<Vec<Arc<dyn NetworkConnector>>>,
    sanctions: Arc<crate::risk::Sanctions>,
}

impl Networks {
    pub(crate) fn new(core: Arc<Core>, people: Arc<People>, payments: Arc<Payments>, sanctions: Arc<crate::risk::Sanctions>) -> Networks {
        Networks { core, people, payments, connectors: RwLock::new(Vec::new()), sanctions }
    }

    /// Connect a network: its settlement accounts (one per enabled currency) are opened first.
    pub async fn register(&self, connector: Arc<dyn NetworkConnector>) -> Result<()> {
        let config = connector.config().clone();
        config.check().map_err(PlatformError::Internal)?;
        if self.connectors().iter().any(|c| c.config().id == config.id || c.config().number == config.number) {
            return Err(PlatformError::Internal(format!("network {} (number {}) is registered twice", config.id, config.number)));
        }
        let accounts = self
            .core
            .config
            .currencies()
            .into_iter()
            .map(|c| NewAccount {
                id: settlement_account(config.number, c),
                currency: c,
                code: chart::account::NETWORK_SETTLEMENT,
                flags: AccountFlags::empty(),
                user_data: u128::from(config.number),
            })
            .collect();
        self.core.accounts(accounts).await?;
        self.connectors.write().expect("networks").push(connector);
        Ok(())
    }

    pub fn connectors(&self) -> Vec<Arc<dyn NetworkConnector>> {
        self.connectors.read().expect("networks").clone()
    }

    /// Until when a payment held now may be paid by the network: twice its timeout, ten seconds at
    /// least (by the wall clock, which is the network's).
    pub fn expiry_ms(config: &NetworkConfig) -> i64 {
        wall_clock_ms() + (2 * config.timeout_ms as i64).max(PAY_EXPIRY_MS_MIN)
    }

    pub fn connector(&self, id: &str) -> Result<Arc<dyn NetworkConnector>> {
        self.connectors().into_iter().find(|c| c.config().id == id).ok_or(PlatformError::NotFound("network"))
    }

    /// The network that claims an EMV code, if one does.
    pub fn claiming(&self, payload: &emvqr::Payload) -> Option<Arc<dyn NetworkConnector>> {
        self.connectors().into_iter().find(|c| c.config().claims(payload))
    }

    /// Run a blocking network call off the runtime.
    async fn call<T: Send + 'static>(
        &self,
        connector: &Arc<dyn NetworkConnector>,
        f: impl FnOnce(&dyn NetworkConnector) -> T + Send + 'static,
    ) -> Result<T> {
        let c = connector.clone();
        tokio::task::spawn_blocking(move || f(c.as_ref()))
            .await
            .map_err(|e| PlatformError::Internal(format!("a network call panicked: {e}")))
    }

    pub async fn payment(&self, id: i64) -> Result<NetworkPayment> {
        self.core.read(move |c| store::by_id(c, id)).await?.ok_or(PlatformError::NotFound("network payment"))
    }
}

/// The shortest time a network is given to take a payment.
const PAY_EXPIRY_MS_MIN: i64 = 10_000;

/// Milliseconds since 1970 by the system clock: payment expiries are agreed with the network by it.
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// SHA-256 of a code, hex: rows keep the digest, never the code.
fn digest(code: &str) -> String {
    crate::crypto::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, code.as_bytes()).as_ref())
}
