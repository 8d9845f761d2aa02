//! Top-ups from a linked card. The operation is recorded as pending before the card is charged (its id
//! is the charge's idempotency key); the credit (card rail → wallet, behind the person's money-in limit
//! legs) commits in one transaction with the operation's end. A charge the ledger then refuses is given
//! back. An interrupted top-up is finished by the sweep: the rail says what it did with the key.

use super::{INTERRUPTED_AFTER_MS, Operation, RailKind, RailOperation, RailOutcome, RailState, SWEEP_OPERATIONS_MAX, Wallet, store};
use crate::core::{Commit, Committed};
use crate::people::Direction;
use crate::{Conflict, PersonId, PlatformError, Result, chart};
use ledger::{NewTransfer, TransferFlags};
use money::Currency;

/// What a person asks for.
#[derive(Debug, Clone, Copy)]
pub struct TopUp<'a> {
    pub card: i64,
    /// Decimal in major units of `currency`.
    pub amount: &'a str,
    pub currency: &'a str,
    pub pin: Option<&'a str>,
}

/// Money in from a card: card rail → the person's wallet, `kind` saying why (a top-up, a card payment's
/// funding), its id derived from the rail operation.
/// A top-up as the risk engine sees it: money from a card.
fn card_attempt(op: &Operation) -> crate::risk::Attempt {
    let kind = crate::risk::engine::Kind::TopUp;
    crate::risk::Attempt { card: Some(op.instrument), ..crate::risk::Attempt::of(kind, op.person, op.currency.numeric(), op.amount_minor) }
}

pub(crate) fn card_in(op: i64, kind: u16, person: PersonId, currency: Currency, amount: u64) -> NewTransfer {
    NewTransfer {
        id: chart::derived(op, kind, 0),
        debit_account_id: chart::system_account(chart::account::CARD_RAIL, currency),
        credit_account_id: chart::wallet(person, currency),
        amount,
        pending_id: 0,
        currency: Some(currency),
        code: kind,
        flags: TransferFlags::empty(),
        timeout_s: 0,
        user_data: op as u128,
    }
}

impl Wallet {
    /// Top up the wallet from a linked card. Approved at once, declined, or pending until the rail
    /// answers (the sweep asks again). The same key is the same top-up, however late it is retried.
    pub async fn top_up(&self, person: PersonId, request: TopUp<'_>, key: Option<&str>) -> Result<RailOperation> {
        let currency = super::parse_currency(request.currency)?;
        let amount = super::parse_amount("amount", request.amount, currency)?;
        self.require_currency(person, currency).await?;
        let token = self.card_token(person, request.card).await?;
        let now = self.core.now_ms();
        let op = Operation {
            id: self.core.request_id("top-up", person, key),
            person,
            kind: RailKind::TopUp,
            instrument: request.card,
            currency,
            amount_minor: amount.minor(),
            state: RailState::Pending,
            rail_reference: None,
            failure: None,
            created_at_ms: now,
        };
        if let Some(existing) = self.existing(&op).await? {
            return match existing.state {
                RailState::Pending => self.charge_top_up(existing, token).await,
                _ => Ok(existing.view()),
            };
        }
        let judged = card_attempt(&op);
        self.people.assess(&judged, request.pin).await?;
        self.people.authorize_payment(person, op.amount_minor, request.pin).await?;
        // The single-payment limit is checked before the card is charged.
        self.top_up_chain(&op).await?;
        let intent = store::insert_operation(&op);
        self.core.write(move |c| store::run(c, &intent)).await?;
        self.charge_top_up(op, token).await
    }

    /// The operation a retried request made before, if any; a different request under the same key is
    /// refused.
    pub(crate) async fn existing(&self, op: &Operation) -> Result<Option<Operation>> {
        let id = op.id;
        let Some(found) = self.core.read(move |c| store::operation(c, id)).await? else { return Ok(None) };
        let same = found.person == op.person && found.kind == op.kind && found.instrument == op.instrument;
        if !same || found.currency != op.currency || found.amount_minor != op.amount_minor {
            return Err(PlatformError::conflict(Conflict::IdempotencyKeyReused, "this Idempotency-Key was used for a different request"));
        }
        Ok(Some(found))
    }

    async fn charge_top_up(&self, op: Operation, token: String) -> Result<RailOperation> {
        let (currency, minor, key) = (op.currency, op.amount_minor, op.id.to_string());
        let outcome = self.rail(move |r| r.charge(&token, currency, minor, &key)).await?;
        self.settle_top_up(op, outcome).await
    }

    async fn top_up_chain(&self, op: &Operation) -> Result<crate::people::LimitedPayment> {
        let amount = chart::ledger_amount(op.amount_minor, op.currency)?;
        let credit = card_in(op.id, chart::transfer::TOP_UP, op.person, op.currency, amount);
        self.people.limited(op.person, Direction::In, op.currency, op.amount_minor, None, credit).await
    }

    /// Apply what the rail said; the credit and the operation's end commit together.
    async fn settle_top_up(&self, op: Operation, outcome: RailOutcome) -> Result<RailOperation> {
        let now = self.core.now_ms();
        let reference = match outcome {
            RailOutcome::Pending { reference } => {
                let id = op.id;
                self.core.write(move |c| store::record_reference(c, id, &reference, now)).await?;
                return self.operation(op.person, op.id, RailKind::TopUp).await;
            }
            RailOutcome::Declined { reason } => {
                // Declines are what card testing looks like: the risk engine counts them per card.
                self.people.risk.record(&card_attempt(&op), true);
                self.finish(op.id, RailState::Failed, Some(&reason), None).await?;
                return self.operation(op.person, op.id, RailKind::TopUp).await;
            }
            RailOutcome::Approved { reference } => reference,
        };
        let refused = match self.top_up_chain(&op).await {
            Ok(chain) => {
                let guard = store::finish_operation(op.id, RailState::Succeeded, None, Some(&reference), now);
                match self.core.commit(Commit { guards: vec![guard], transfers: chain.chain.clone(), effects: Vec::new() }).await? {
                    Committed::Applied(results) => chain.outcome(&results).err(),
                    Committed::GuardFailed(_) => None, // another instance's sweep finished it
                }
            }
            Err(e) => Some(e),
        };
        if let Some(e) = refused {
            // The ledger will not take the money: give the charge back, and say why.
            let (r, key) = (reference.clone(), format!("{}-refund", op.id));
            self.rail(move |rail| rail.refund(&r, &key)).await?;
            self.finish(op.id, RailState::Failed, Some(&format!("refused: {}", e.code())), Some(&reference)).await?;
            return Err(e);
        }
        self.operation(op.person, op.id, RailKind::TopUp).await
    }

    /// End a pending operation (once).
    pub(crate) async fn finish(&self, id: i64, state: RailState, failure: Option<&str>, reference: Option<&str>) -> Result<bool> {
        let effect = store::finish_operation(id, state, failure, reference, self.core.now_ms());
        Ok(self.core.write(move |c| store::run(c, &effect)).await? == 1)
    }

    pub async fn top_up_status(&self, person: PersonId, id: i64) -> Result<RailOperation> {
        self.operation(person, id, RailKind::TopUp).await
    }

    /// Pending top-ups: ask the rail again (by reference, or by key for one interrupted before its answer).
    pub(crate) async fn sweep_top_ups(&self) -> Result<usize> {
        let pending = self.core.read(|c| store::pending_operations(c, RailKind::TopUp, SWEEP_OPERATIONS_MAX)).await?;
        let now = self.core.now_ms();
        let mut settled = 0;
        for op in pending {
            let outcome = match (&op.rail_reference, now - op.created_at_ms >= INTERRUPTED_AFTER_MS) {
                (Some(reference), _) => {
                    let reference = reference.clone();
                    self.rail(move |r| r.status(&reference)).await?
                }
                (None, true) => {
                    let key = op.id.to_string();
                    match self.rail(move |r| r.lookup(&key)).await? {
                        Some(outcome) => outcome,
                        None => RailOutcome::Declined { reason: "interrupted before the card was charged".into() },
                    }
                }
                (None, false) => continue,
            };
            if !matches!(outcome, RailOutcome::Pending { .. }) || op.rail_reference.is_none() {
                match self.settle_top_up(op, outcome).await {
                    Ok(_) | Err(PlatformError::Conflict { .. } | PlatformError::InsufficientBalance) => settled += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(settled)
    }
}
