//! Withdrawals to a linked bank account. The money is held (a ledger pending transfer from the wallet
//! to the bank rail behind the money-out limit legs, no timeout: it waits for the bank) in the same
//! transaction as the operation's pending row; only then is the bank asked, with the operation's id as
//! the payout's idempotency key. The bank's confirmation posts the hold, a refusal voids it. A withdrawal
//! interrupted before the bank answered is settled by the sweep with what the bank says it did with the
//! key; one the bank never heard of is voided.
//!
//! A withdrawal the risk engine holds for review is held alike but waits, `held`, without asking the
//! bank, until a reviewer releases it (then the bank is asked) or returns it (the hold is voided); the
//! deadline sweep returns one not reviewed in time (see [`crate::risk::reviews`]).

use super::{INTERRUPTED_AFTER_MS, Operation, RailKind, RailOperation, RailOutcome, RailState, SWEEP_OPERATIONS_MAX, Wallet, store};
use crate::core::{Chain, Commit, Committed, chain_outcome};
use crate::people::{Direction, leg_ids};
use crate::risk::reviews::{Decision, Review, ReviewKind, WITHDRAWAL_REVIEW_MS};
use crate::{PersonId, PlatformError, Result, chart};
use ledger::{NewTransfer, TransferError, TransferFlags};

/// What a person asks for.
#[derive(Debug, Clone, Copy)]
pub struct Withdrawal<'a> {
    pub bank_account: i64,
    /// Decimal in major units of `currency`.
    pub amount: &'a str,
    pub currency: &'a str,
    pub pin: Option<&'a str>,
}

fn hold_id(op: i64) -> u128 {
    chart::derived(op, chart::transfer::WITHDRAWAL, 0)
}

impl Wallet {
    pub async fn withdraw(&self, person: PersonId, request: Withdrawal<'_>, key: Option<&str>) -> Result<RailOperation> {
        let currency = super::parse_currency(request.currency)?;
        let amount = super::parse_amount("amount", request.amount, currency)?;
        self.require_currency(person, currency).await?;
        let account = request.bank_account;
        let token =
            self.core.read(move |c| store::bank_account_token(c, person, account)).await?.ok_or(PlatformError::NotFound("bank account"))?;
        let op = Operation {
            id: self.core.request_id("withdrawal", person, key),
            person,
            kind: RailKind::Withdrawal,
            instrument: account,
            currency,
            amount_minor: amount.minor(),
            state: RailState::Pending,
            rail_reference: None,
            failure: None,
            created_at_ms: self.core.now_ms(),
        };
        if let Some(existing) = self.existing(&op).await? {
            return match existing.state {
                RailState::Pending => self.pay_out(existing, token).await,
                _ => Ok(existing.view()),
            };
        }
        let judged = crate::risk::Attempt::of(crate::risk::engine::Kind::Withdrawal, person, currency.numeric(), op.amount_minor);
        let held = self.people.assess(&judged, request.pin).await?;
        self.people.authorize_payment(person, op.amount_minor, request.pin).await?;
        let (mut op, mut effects) = (op, Vec::new());
        if let Some(held) = &held {
            let (now, kind) = (op.created_at_ms, ReviewKind::Withdrawal);
            effects.push(Review::waiting(kind, op.id, &judged, currency, held, now, now + WITHDRAWAL_REVIEW_MS).open());
            op.state = RailState::Held;
        }
        let hold = NewTransfer {
            id: hold_id(op.id),
            debit_account_id: chart::wallet(person, currency),
            credit_account_id: chart::system_account(chart::account::BANK_RAIL, currency),
            amount: chart::ledger_amount(op.amount_minor, currency)?,
            pending_id: 0,
            currency: Some(currency),
            code: chart::transfer::WITHDRAWAL,
            flags: TransferFlags::PENDING,
            timeout_s: 0,
            user_data: op.id as u128,
        };
        let chain = self.people.limited(person, Direction::Out, currency, op.amount_minor, None, hold).await?;
        let commit = Commit { guards: vec![store::insert_operation(&op)], transfers: chain.chain.clone(), effects };
        match self.core.commit(commit).await? {
            Committed::Applied(results) => {
                chain.outcome(&results)?;
                self.people.risk.record(&judged, false);
            }
            // The same request raced in: it holds the money; follow it.
            Committed::GuardFailed(_) => return Box::pin(self.withdraw(person, request, key)).await,
        }
        if op.state == RailState::Held {
            return Ok(op.view());
        }
        self.pay_out(op, token).await
    }

    /// A reviewer let a held withdrawal go: the bank is asked now. `false`: decided already.
    pub(crate) async fn release_held_withdrawal(&self, id: i64, decision: Decision) -> Result<bool> {
        let mut op = self.core.read(move |c| store::operation(c, id)).await?.ok_or(PlatformError::NotFound("withdrawal"))?;
        let mut guards = decision.guards;
        guards.push(store::change_operation(id, RailState::Held, RailState::Pending, None, None, self.core.now_ms()));
        if !self.core.commit_rows(guards, vec![decision.audit]).await? {
            return Ok(false);
        }
        op.state = RailState::Pending;
        let (person, account) = (op.person, op.instrument);
        match self.core.read(move |c| store::bank_account_token(c, person, account)).await? {
            Some(token) => self.pay_out(op, token).await.map(|_| true),
            None => {
                let gone = RailOutcome::Declined { reason: "the bank account was removed".into() };
                self.settle_withdrawal(&op, gone).await.map(|_| true)
            }
        }
    }

    /// A reviewer (or the deadline) gave a held withdrawal's money back. `false`: decided already.
    pub(crate) async fn return_held_withdrawal(&self, id: i64, decision: Decision) -> Result<bool> {
        let mut guards = decision.guards;
        let failure = Some("returned by a risk review");
        guards.push(store::change_operation(id, RailState::Held, RailState::Failed, failure, None, self.core.now_ms()));
        let transfers = resolution(id, TransferFlags::VOID_PENDING, chart::transfer::WITHDRAWAL_VOID, true);
        match self.core.commit(Commit { guards, transfers, effects: vec![decision.audit] }).await? {
            Committed::GuardFailed(_) => Ok(false),
            Committed::Applied(results) => chain_outcome(&results)
                .map(|_| true)
                .map_err(|e| PlatformError::Internal(format!("returning held withdrawal {id}: {}", e.code()))),
        }
    }

    async fn pay_out(&self, op: Operation, token: String) -> Result<RailOperation> {
        let (currency, minor, key) = (op.currency, op.amount_minor, op.id.to_string());
        let outcome = self.rail(move |r| r.payout(&token, currency, minor, &key)).await?;
        self.settle_withdrawal(&op, outcome).await?;
        self.operation(op.person, op.id, RailKind::Withdrawal).await
    }

    /// Apply what the bank said: confirmed posts the hold, refused voids it; pending records the reference.
    async fn settle_withdrawal(&self, op: &Operation, outcome: RailOutcome) -> Result<()> {
        let now = self.core.now_ms();
        let (flags, kind, state, failure, reference) = match outcome {
            RailOutcome::Pending { reference } => {
                let id = op.id;
                return self.core.write(move |c| store::record_reference(c, id, &reference, now)).await;
            }
            RailOutcome::Approved { reference } => {
                (TransferFlags::POST_PENDING, chart::transfer::WITHDRAWAL_POST, RailState::Succeeded, None, Some(reference))
            }
            RailOutcome::Declined { reason } => {
                (TransferFlags::VOID_PENDING, chart::transfer::WITHDRAWAL_VOID, RailState::Failed, Some(reason), None)
            }
        };
        let guard = store::finish_operation(op.id, state, failure.as_deref(), reference.as_deref(), now);
        let chain = resolution(op.id, flags, kind, true);
        let results = match self.core.commit(Commit { guards: vec![guard.clone()], transfers: chain, effects: Vec::new() }).await? {
            Committed::Applied(results) => results,
            Committed::GuardFailed(_) => return Ok(()), // ended before
        };
        match chain_outcome(&results) {
            Ok(Chain::Created | Chain::Repeated) => Ok(()),
            // A hold made by an older release, without limit legs: resolve it alone.
            Err(TransferError::PendingTransferNotFound) => {
                let alone = resolution(op.id, flags, kind, false);
                match self.core.commit(Commit { guards: vec![guard], transfers: alone, effects: Vec::new() }).await? {
                    Committed::Applied(r) => {
                        chain_outcome(&r).map(|_| ()).map_err(|e| PlatformError::Internal(format!("resolving a withdrawal: {}", e.code())))
                    }
                    Committed::GuardFailed(_) => Ok(()),
                }
            }
            Err(e) => Err(PlatformError::Internal(format!("resolving a withdrawal: {}", e.code()))),
        }
    }

    pub async fn withdrawal_status(&self, person: PersonId, id: i64) -> Result<RailOperation> {
        self.operation(person, id, RailKind::Withdrawal).await
    }

    /// Pending withdrawals: ask the bank again; one interrupted before the bank answered is settled with
    /// what the bank did with its key, or voided if the bank never heard of it.
    pub(crate) async fn sweep_withdrawals(&self) -> Result<usize> {
        let pending = self.core.read(|c| store::pending_operations(c, RailKind::Withdrawal, SWEEP_OPERATIONS_MAX)).await?;
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
                    self.rail(move |r| r.lookup(&key))
                        .await?
                        .unwrap_or(RailOutcome::Declined { reason: "interrupted before the bank was asked".into() })
                }
                (None, false) => continue,
            };
            if matches!(outcome, RailOutcome::Pending { .. }) && op.rail_reference.is_some() {
                continue;
            }
            self.settle_withdrawal(&op, outcome).await?;
            settled += 1;
        }
        Ok(settled)
    }
}

/// The hold's post or void, with its limit legs' (as one linked chain) unless `with_legs` is false.
fn resolution(op: i64, flags: TransferFlags, kind: u16, with_legs: bool) -> Vec<NewTransfer> {
    let id = chart::derived(op, kind, 0);
    let mut pairs: Vec<(u128, u128)> = if with_legs { leg_ids(id).into_iter().zip(leg_ids(hold_id(op))).collect() } else { Vec::new() };
    pairs.push((id, hold_id(op)));
    crate::core::resolve_pending(&pairs, flags.contains(TransferFlags::POST_PENDING), op as u128)
}
