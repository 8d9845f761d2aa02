//! Wallets: balances per currency, linked cards and bank accounts, and money in from and out to the
//! rails (top-ups, withdrawals, payments straight from a card). Every rail operation is recorded as
//! pending *before* the rail is asked (its id is the rail's idempotency key), and ends in one database
//! transaction with the ledger transfer it causes; the deadline sweep finishes any that were interrupted,
//! asking the rail what it did with the key (see `rail`).

mod bank_accounts;
mod card_payments;
mod cards;
mod dates;
mod rail;
mod store;
mod top_ups;
mod withdrawals;

pub(crate) use card_payments::{CardCharge, ChargeFor};
pub use cards::{card_brand, luhn_valid};
pub use dates::{civil_year_month, iso_utc, ms_of_date};
pub use rail::{RailConnector, RailOutcome, SandboxRail, TestCard};
pub use top_ups::TopUp;
pub use withdrawals::Withdrawal;

use crate::core::Core;
use crate::history::{HistoryItem, HistoryKind, Window};
use crate::people::People;
use crate::{PersonId, PlatformError, Result};
use money::{Currency, Money};
use serde::Serialize;
use std::sync::Arc;

text_enum! {
    pub enum RailKind {
        TopUp => "top_up",
        Withdrawal => "withdrawal",
        /// A payment funded straight from a card (no balance needed).
        CardPayment => "card_payment",
    }
}

text_enum! {
    pub enum RailState {
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
        /// A card payment whose payment did not happen: the charge was given back.
        Refunded => "refunded",
        /// A withdrawal held for a risk review: the money is held, the bank not yet asked.
        Held => "held",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Balance {
    pub currency: Currency,
    /// What may be spent now (posted credits − posted debits − reserved), as a decimal string.
    pub available: String,
    /// Money sent and not yet accepted (held on the way out).
    pub outgoing_pending: String,
    /// Money sent to this person that they have not accepted yet.
    pub incoming_pending: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub brand: &'static str,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BankAccount {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub bank: String,
    pub holder_name: String,
    pub last4: String,
}

/// A rail operation as stored.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub id: i64,
    pub person: PersonId,
    pub kind: RailKind,
    /// The card or bank account.
    pub instrument: i64,
    pub currency: Currency,
    pub amount_minor: i64,
    pub state: RailState,
    pub rail_reference: Option<String>,
    pub failure: Option<String>,
    pub created_at_ms: i64,
}

/// A top-up or a withdrawal, as its person sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RailOperation {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub currency: Currency,
    pub amount: String,
    pub state: RailState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl Operation {
    fn view(&self) -> RailOperation {
        RailOperation {
            id: self.id,
            currency: self.currency,
            amount: decimal(self.amount_minor, self.currency),
            state: self.state,
            failure: self.failure.clone(),
        }
    }
}

/// Parse a positive amount of a currency from a decimal string, as a person types it.
pub fn parse_amount(field: &'static str, text: &str, currency: Currency) -> Result<Money> {
    Money::parse_positive(text, currency).map_err(|e| PlatformError::invalid(field, e.to_string()))
}

pub fn parse_currency(text: &str) -> Result<Currency> {
    let c = Currency::from_code(text).map_err(|e| PlatformError::invalid("currency", e.to_string()))?;
    c.minor_units().ok_or_else(|| PlatformError::invalid("currency", format!("{c} cannot hold money")))?;
    Ok(c)
}

/// Minor units as a decimal string of the currency ("12.34"); what every view shows.
pub fn decimal(minor: i64, currency: Currency) -> String {
    Money::from_minor(minor, currency).map(|m| m.to_decimal_string()).unwrap_or_else(|_| minor.to_string())
}

/// Operations past this age without an answer were interrupted: the sweep asks the rail about them.
pub(crate) const INTERRUPTED_AFTER_MS: i64 = 60_000;
/// Pending operations the sweep looks at per kind and round.
const SWEEP_OPERATIONS_MAX: i64 = 1000;

pub struct Wallet {
    core: Arc<Core>,
    people: Arc<People>,
    rail: Arc<dyn RailConnector>,
}

impl Wallet {
    pub(crate) fn new(core: Arc<Core>, people: Arc<People>, rail: Arc<dyn RailConnector>) -> Wallet {
        Wallet { core, people, rail }
    }

    /// The currencies a person's wallet holds (their region's).
    pub async fn currencies(&self, person: PersonId) -> Result<Vec<Currency>> {
        let p = self.people.person(person).await?;
        Ok(self.core.config.region(&p.region).map(|r| r.currencies.clone()).unwrap_or_default())
    }

    pub async fn require_currency(&self, person: PersonId, currency: Currency) -> Result<()> {
        if !self.currencies(person).await?.contains(&currency) {
            return Err(PlatformError::invalid("currency", format!("{currency} is not enabled for this wallet's region")));
        }
        Ok(())
    }

    /// Whether any of the person's wallets holds money or has money on its way in or out (read off the
    /// ledger's balances in minor units).
    pub async fn holds_money(&self, person: PersonId) -> Result<bool> {
        for currency in self.currencies(person).await? {
            if let Some(a) = self.core.account(crate::chart::wallet(person, currency)).await?
                && (a.credits_posted != a.debits_posted || a.debits_pending != 0 || a.credits_pending != 0)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub async fn balances(&self, person: PersonId) -> Result<Vec<Balance>> {
        let currencies = self.currencies(person).await?;
        let ids: Vec<u128> = currencies.iter().map(|c| crate::chart::wallet(person, *c)).collect();
        let mut out = Vec::with_capacity(currencies.len());
        for (c, id) in currencies.into_iter().zip(ids) {
            let account = self.core.account(id).await?;
            let (dp, dpo, cp, cpo) =
                account.map(|a| (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)).unwrap_or_default();
            let available = i128::from(cpo) - i128::from(dpo) - i128::from(dp);
            out.push(Balance {
                currency: c,
                available: decimal(i64::try_from(available).unwrap_or(i64::MAX), c),
                outgoing_pending: decimal(i64::try_from(dp).unwrap_or(i64::MAX), c),
                incoming_pending: decimal(i64::try_from(cp).unwrap_or(i64::MAX), c),
            });
        }
        Ok(out)
    }

    /// A person's own rail operation of a kind.
    pub(crate) async fn operation(&self, person: PersonId, id: i64, kind: RailKind) -> Result<RailOperation> {
        let what = match kind {
            RailKind::TopUp => "top-up",
            RailKind::Withdrawal => "withdrawal",
            RailKind::CardPayment => "card payment",
        };
        let found = self.core.read(move |c| store::operation(c, id)).await?;
        found.filter(|op| op.person == person && op.kind == kind).map(|op| op.view()).ok_or(PlatformError::NotFound(what))
    }

    /// A person's rail operations of one history kind, newest first.
    pub(crate) async fn history(&self, person: PersonId, kind: HistoryKind, window: Window) -> Result<Vec<HistoryItem>> {
        let (rail_kind, sign) = match kind {
            HistoryKind::TopUp => (RailKind::TopUp, 1),
            HistoryKind::Withdrawal => (RailKind::Withdrawal, -1),
            _ => (RailKind::CardPayment, 1),
        };
        let ops = self.core.read(move |c| store::operations_of(c, person, rail_kind, window)).await?;
        Ok(ops
            .into_iter()
            .map(|op| HistoryItem {
                kind,
                id: op.id,
                currency: op.currency,
                amount_minor: sign * op.amount_minor,
                counterparty_id: None,
                state: op.state.as_str(),
                created_at_ms: op.created_at_ms,
            })
            .collect())
    }

    /// Give back part of a card charge (a merchant's refund of a card-funded payment).
    pub(crate) async fn rail_refund_amount(&self, reference: String, amount_minor: i64, key: String) -> Result<RailOutcome> {
        self.rail(move |r| r.refund_amount(&reference, amount_minor, &key)).await
    }

    /// The rail, off the async runtime.
    async fn rail<T: Send + 'static>(&self, f: impl FnOnce(&dyn RailConnector) -> T + Send + 'static) -> Result<T> {
        let rail = self.rail.clone();
        self.core.blocking(move || f(rail.as_ref())).await
    }

    /// Finish every rail operation the rail has answered, and those interrupted (see each kind).
    pub(crate) async fn sweep(&self) -> Result<(usize, usize, usize)> {
        Ok((self.sweep_top_ups().await?, self.sweep_withdrawals().await?, self.sweep_card_payments().await?))
    }
}
