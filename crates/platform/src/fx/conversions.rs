//! Converting between a person's own balances at a quote: one linked chain, the person's wallet in the
//! sold currency to the FX position in it, the FX position in the bought currency to the wallet in it,
//! committed with the quote's use and the exchange's record. A retry finds the exchange its quote made.

use super::{Amount, Channel, Execution, ExecutionKind, Fx, Quote, pricing, store};
use crate::core::{Commit, Committed};
use crate::{Conflict, PersonId, PlatformError, Result, chart};
use ledger::{NewTransfer, TransferError, TransferFlags};
use serde::Serialize;

/// A conversion done.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub quote_id: i64,
    pub sold: Amount,
    pub bought: Amount,
    /// One unit bought cost this much sold.
    pub rate: String,
    pub created_at_ms: i64,
}

impl Conversion {
    fn of(e: &Execution) -> Conversion {
        Conversion {
            id: e.id,
            quote_id: e.quote.unwrap_or(0),
            sold: Amount { currency: e.sell.currency(), amount: e.sell.to_decimal_string() },
            bought: Amount { currency: e.buy.currency(), amount: e.buy.to_decimal_string() },
            rate: e.rate.decimal(),
            created_at_ms: e.created_at_ms,
        }
    }
}

/// The two legs: sold currency into its FX position, the FX position of the bought one out.
fn legs(id: i64, person: PersonId, q: &Quote) -> Result<[NewTransfer; 2]> {
    let leg = |code, debit, credit, amount: money::Money, flags| -> Result<NewTransfer> {
        Ok(NewTransfer {
            id: chart::derived(id, code, 0),
            debit_account_id: debit,
            credit_account_id: credit,
            amount: chart::ledger_amount(amount.minor(), amount.currency())?,
            pending_id: 0,
            currency: Some(amount.currency()),
            code,
            flags,
            timeout_s: 0,
            user_data: id as u128,
        })
    };
    let position = |c| chart::system_account(chart::account::FX_POSITION, c);
    let (sell, buy) = (q.sell.currency(), q.buy.currency());
    Ok([
        leg(chart::transfer::FX_CONVERT_IN, chart::wallet(person, sell), position(sell), q.sell, TransferFlags::LINKED)?,
        leg(chart::transfer::FX_CONVERT_OUT, position(buy), chart::wallet(person, buy), q.buy, TransferFlags::empty())?,
    ])
}

impl Fx {
    /// Convert at a conversion quote of this person's (the PIN rules of a payment apply to what is sold).
    pub async fn convert(&self, person: PersonId, quote_id: i64, pin: Option<&str>, key: Option<&str>) -> Result<Conversion> {
        if let Some(done) = self.core.read(move |c| store::execution_by_quote(c, quote_id)).await? {
            return if done.person == person { Ok(Conversion::of(&done)) } else { Err(PlatformError::NotFound("quote")) };
        }
        let q = self.usable_quote(person, quote_id, Channel::Conversion).await?;
        self.people.authorize_payment(person, q.sell.minor(), pin).await?;
        let region = self.people.person(person).await?.region;
        let now = self.core.now_ms();
        let id = self.core.request_id("fx-convert", person, key);
        let execution = Execution {
            id,
            kind: ExecutionKind::Conversion,
            person,
            order: None,
            quote: Some(q.id),
            sell: q.sell,
            buy: q.buy,
            rate: q.rate,
            mid: q.mid,
            mid_source: q.mid_source.clone(),
            markup_bps: q.markup_bps,
            rounding: q.rounding,
            spread_minor: pricing::spread_minor(&q.mid, q.buy, q.sell).map_err(|e| PlatformError::Internal(e.to_string()))?,
            cross_border: false,
            payer_region: region,
            merchant_country: None,
            mcc: None,
            purpose_code: None,
            created_at_ms: now,
        };
        let commit = Commit {
            guards: vec![store::use_quote(q.id, person, id, now)],
            transfers: legs(id, person, &q)?.to_vec(),
            effects: vec![store::insert_execution(&execution)],
        };
        match self.core.commit(commit).await? {
            Committed::Applied(results) => match crate::core::chain_outcome(&results) {
                Ok(_) => Ok(Conversion::of(&execution)),
                Err(TransferError::ExceedsCredits) => Err(PlatformError::InsufficientBalance),
                Err(e) => Err(PlatformError::Internal(format!("ledger refused a conversion: {}", e.code()))),
            },
            // The quote was used meanwhile: by this very request's twin (answer it), or it is spent.
            Committed::GuardFailed(_) => match self.core.read(move |c| store::execution_by_quote(c, quote_id)).await? {
                Some(done) if done.person == person => Ok(Conversion::of(&done)),
                _ => Err(match self.usable_quote(person, quote_id, Channel::Conversion).await {
                    Err(why) => why,
                    Ok(_) => {
                        PlatformError::conflict(Conflict::QuoteExpired, "this quote expired while it was being used: ask for a new one")
                    }
                }),
            },
        }
    }
}
