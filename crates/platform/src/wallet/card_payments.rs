//! Payments straight from a linked card (to a friend, to a merchant): the card is charged first (the
//! operation recorded as pending before, its id the charge's idempotency key); the payment's chain then
//! starts with the money coming in from the card, and its commit ends the operation (a guard), so the
//! charge, the payment and their records agree. If the payment does not happen, the charge is given back.
//! Only an immediate approval pays: a charge the issuer answers later is given back at once.

use super::top_ups::card_in;
use super::{INTERRUPTED_AFTER_MS, Operation, RailKind, RailOutcome, RailState, SWEEP_OPERATIONS_MAX, Wallet, store};
use crate::{PersonId, PlatformError, Result, chart};
use ::store::Effect;
use ledger::NewTransfer;
use money::Currency;

/// An approved charge waiting for its payment to commit.
#[derive(Debug, Clone)]
pub(crate) struct CardCharge {
    pub op: i64,
    pub reference: String,
    /// Card rail → the payer's wallet: the first link of the payment's chain.
    pub funding: NewTransfer,
}

impl CardCharge {
    /// The guard that ends the operation with the payment's commit.
    pub fn guard(&self, now_ms: i64) -> Effect {
        store::finish_operation(self.op, RailState::Succeeded, None, Some(&self.reference), now_ms)
    }
}

/// A payment to charge to a card.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChargeFor<'a> {
    pub person: PersonId,
    pub card: i64,
    pub currency: Currency,
    pub amount_minor: i64,
    pub pin: Option<&'a str>,
    /// The operation's id: derived from the payment, so a retried payment finds its charge.
    pub op: i64,
    /// The code of the funding transfer.
    pub funding_kind: u16,
    /// The payer's authority was checked already: a standing mandate (a monthly donation), not a PIN.
    pub mandated: bool,
}

impl Wallet {
    /// Charge a person's card for a payment (the PIN rules apply).
    pub(crate) async fn charge_for_payment(&self, payment: ChargeFor<'_>) -> Result<CardCharge> {
        let ChargeFor { person, card, currency, amount_minor, pin, op, funding_kind, mandated } = payment;
        let token = self.card_token(person, card).await?;
        let record = Operation {
            id: op,
            person,
            kind: RailKind::CardPayment,
            instrument: card,
            currency,
            amount_minor,
            state: RailState::Pending,
            rail_reference: None,
            failure: None,
            created_at_ms: self.core.now_ms(),
        };
        match self.existing(&record).await? {
            Some(found) if found.state != RailState::Pending => {
                return Err(PlatformError::Declined(format!(
                    "this payment's card charge ended ({}): pay again with a new request",
                    found.state
                )));
            }
            Some(_) => {}
            None => {
                if !mandated {
                    self.people.authorize_payment(person, amount_minor, pin).await?;
                }
                let intent = store::insert_operation(&record);
                self.core.write(move |c| store::run(c, &intent)).await?;
            }
        }
        let key = op.to_string();
        let outcome = self.rail(move |r| r.charge(&token, currency, amount_minor, &key)).await?;
        match outcome {
            RailOutcome::Approved { reference } => {
                let funding = card_in(op, funding_kind, person, currency, chart::ledger_amount(amount_minor, currency)?);
                Ok(CardCharge { op, reference, funding })
            }
            RailOutcome::Declined { reason } => {
                self.finish(op, RailState::Failed, Some(&reason), None).await?;
                Err(PlatformError::Declined(reason))
            }
            RailOutcome::Pending { reference } => {
                self.give_back(op, &reference).await?;
                Err(PlatformError::Declined("this card needs the issuer's later confirmation: top up with it instead".into()))
            }
        }
    }

    /// The payment did not happen: give the charge back (once; the rail refund is idempotent).
    pub(crate) async fn give_back(&self, op: i64, reference: &str) -> Result<()> {
        let (r, key) = (reference.to_string(), format!("{op}-refund"));
        match self.rail(move |rail| rail.refund(&r, &key)).await? {
            RailOutcome::Approved { .. } => self.finish(op, RailState::Refunded, None, Some(reference)).await.map(|_| ()),
            RailOutcome::Declined { reason } => {
                self.finish(op, RailState::Failed, Some(&format!("refund refused: {reason}")), Some(reference)).await.map(|_| ())
            }
            RailOutcome::Pending { .. } => Ok(()), // asked again by the sweep
        }
    }

    /// Give a card charge back in full (a refund the ledger already booked to the card rail), idempotent
    /// on `key`: what the issuer answered.
    pub(crate) async fn refund_card_charge(&self, reference: &str, key: &str) -> Result<RailOutcome> {
        let (r, k) = (reference.to_string(), key.to_string());
        self.rail(move |rail| rail.refund(&r, &k)).await
    }

    /// Card payments interrupted before their payment committed (else they would have ended with it):
    /// a charge the rail made is given back; one it never made ends as failed.
    pub(crate) async fn sweep_card_payments(&self) -> Result<usize> {
        let pending = self.core.read(|c| store::pending_operations(c, RailKind::CardPayment, SWEEP_OPERATIONS_MAX)).await?;
        let now = self.core.now_ms();
        let mut settled = 0;
        for op in pending.into_iter().filter(|op| now - op.created_at_ms >= INTERRUPTED_AFTER_MS) {
            let key = op.id.to_string();
            match self.rail(move |r| r.lookup(&key)).await? {
                None => {
                    self.finish(op.id, RailState::Failed, Some("interrupted before the card was charged"), None).await?;
                }
                Some(RailOutcome::Declined { reason }) => {
                    self.finish(op.id, RailState::Failed, Some(&reason), None).await?;
                }
                Some(RailOutcome::Approved { reference } | RailOutcome::Pending { reference }) => self.give_back(op.id, &reference).await?,
            }
            settled += 1;
        }
        Ok(settled)
    }
}
