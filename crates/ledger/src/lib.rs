//! Qianbao's double-entry ledger engine.
//!
//! The model is TigerBeetle's: money moves only as [`Transfer`]s between [`Account`]s of one currency;
//! every account carries four balances (debits and credits, pending and posted); a transfer can reserve
//! money (`pending`) and later post it (fully or partly) or void it, or time out; events flagged `linked`
//! succeed or fail as one chain; a transfer's id is its idempotency key.
//!
//! This crate is pure: no I/O, no async, no clock. The [`Ledger`] holds a working set of accounts and
//! transfers in memory. The store loads into it whatever a batch refers to, calls
//! [`Ledger::create_accounts`] / [`Ledger::create_transfers`] with the batch's timestamp, and writes back
//! what [`Changes`] lists. Tests and `qianbao ledger verify` use the same engine over the full journal.
//!
//! Invariants (asserted by [`Ledger::check_invariants`] and proven by the property tests):
//! - per currency, Σ debits = Σ credits, for pending and posted balances separately;
//! - no account's balance flag is ever violated;
//! - a pending transfer is resolved (posted, voided, expired) at most once;
//! - a committed transfer never changes.

mod accounts;
mod chains;
mod errors;
mod transfers;
mod types;

pub use errors::{AccountError, TransferError};
pub use types::*;

use chains::{AccountEvents, TransferEvents};
use money::Currency;
use std::collections::BTreeMap;

/// Maps keyed by ids. foldhash is several times faster than SipHash on u128 keys and seeded per process,
/// so client-chosen ids cannot be crafted to collide.
pub type IdMap<V> = std::collections::HashMap<Id, V, foldhash::fast::RandomState>;
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A successful event: newly created, or a retry of an identical event already committed (no change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Exists,
}

pub type AccountResult = Result<Outcome, AccountError>;
pub type TransferResult = Result<Outcome, TransferError>;

/// The most events one batch may carry (TigerBeetle's limit for a 1 MiB message of 128-byte events).
pub const BATCH_EVENTS_MAX: usize = 8190;

/// The resolution of a pending transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRecord {
    pub state: PendingState,
    /// When the state last changed (the transfer's own timestamp while `Pending`).
    pub timestamp: u64,
}

/// What a batch changed, for the store to write: ids only, read the values from the [`Ledger`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub accounts_created: Vec<Id>,
    /// Accounts whose balances or flags changed (sorted and de-duplicated by [`Changes::finish`]).
    pub accounts_updated: Vec<Id>,
    pub transfers_created: Vec<Id>,
    /// Transfers that failed with a recorded result.
    pub transfers_failed: Vec<Id>,
    /// Pending transfers created or resolved, with their new state.
    pub pending_changed: Vec<(Id, PendingRecord)>,
}

impl Changes {
    /// Sort and de-duplicate the updated accounts (netting: each account is written once per batch).
    /// Accounts created in this batch are written by their insert, not again as updates.
    pub fn finish(&mut self) {
        self.accounts_updated.sort_unstable();
        self.accounts_updated.dedup();
        if !self.accounts_created.is_empty() {
            let created: std::collections::HashSet<Id> = self.accounts_created.iter().copied().collect();
            self.accounts_updated.retain(|id| !created.contains(id));
        }
        // A pending transfer created and resolved in the same batch appears twice: keep the last state.
        let mut last: HashMap<Id, usize> = HashMap::with_capacity_and_hasher(self.pending_changed.len(), Default::default());
        for (i, (id, _)) in self.pending_changed.iter().enumerate() {
            last.insert(*id, i);
        }
        if last.len() != self.pending_changed.len() {
            let mut i = 0;
            self.pending_changed.retain(|(id, _)| {
                let keep = last[id] == i;
                i += 1;
                keep
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.accounts_created.is_empty()
            && self.accounts_updated.is_empty()
            && self.transfers_created.is_empty()
            && self.transfers_failed.is_empty()
            && self.pending_changed.is_empty()
    }
}

/// A transfer that failed for a reason that depends on the ledger's state at the time (an account missing
/// or closed, not enough money, no such pending transfer): its id keeps that result forever, so a retry
/// can never turn a failed payment into a successful one later. As TigerBeetle since 0.16.4, only these
/// *transient* failures are recorded; a failure of the request's own fields is answered again the same
/// way by any identical retry, so it needs no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedTransfer {
    pub transfer: NewTransfer,
    pub error: TransferError,
    pub timestamp: u64,
}

/// How to undo one step of a linked chain that fails part-way, or of a tentative request.
#[derive(Clone, Copy)]
enum Undo {
    Account(Id, Option<Account>),
    Transfer(Id),
    Pending(Id, Option<PendingRecord>),
    /// A failure recorded (tentative requests only: a chain's rollback keeps its failure).
    Failed(Id),
}

/// Where a tentative request began: the change lists' lengths (see [`Ledger::begin_tentative`]).
#[derive(Debug, Clone, Copy)]
#[must_use = "a tentative request is kept or undone"]
pub struct Tentative(Marks);

/// The ledger's working set and its state machine.
#[derive(Default)]
pub struct Ledger {
    accounts: IdMap<Account>,
    transfers: IdMap<Transfer>,
    pending: IdMap<PendingRecord>,
    failed: IdMap<FailedTransfer>,
    undo: Vec<Undo>,
    in_chain: bool,
    /// Every step since `begin_tentative`, while a tentative request runs.
    tentative: Option<Vec<Undo>>,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    // ----- loading (the store puts committed state here; trusted) -----

    pub fn load_account(&mut self, account: Account) {
        self.accounts.insert(account.id, account);
    }

    pub fn load_failed(&mut self, failed: FailedTransfer) {
        self.failed.insert(failed.transfer.id, failed);
    }

    pub fn load_transfer(&mut self, transfer: Transfer, pending: Option<PendingRecord>) {
        if let Some(record) = pending {
            self.pending.insert(transfer.id, record);
        }
        self.transfers.insert(transfer.id, transfer);
    }

    /// Forget everything (the store reuses one working set per batch).
    pub fn clear(&mut self) {
        self.accounts.clear();
        self.transfers.clear();
        self.pending.clear();
        self.failed.clear();
        self.tentative = None;
    }

    /// Forget the transfers, pending records and failures, keep the accounts: a store that keeps its
    /// working set from batch to batch bounds it this way (what it forgot, it reads again when needed).
    pub fn forget_journal(&mut self) {
        self.transfers.clear();
        self.pending.clear();
        self.failed.clear();
    }

    /// How many accounts, and how many transfers and failures, the working set holds.
    pub fn sizes(&self) -> (usize, usize) {
        (self.accounts.len(), self.transfers.len() + self.failed.len())
    }

    /// A working set holding only what `changes` names (each account written, each transfer created,
    /// each failure recorded, each pending transfer whose state changed): everything a store needs to
    /// write the batch, so that it can be written on another thread while this one goes on.
    pub fn written(&self, changes: &Changes) -> Ledger {
        let mut out = Ledger::default();
        for id in changes.accounts_created.iter().chain(&changes.accounts_updated) {
            out.load_account(*self.accounts.get(id).expect("a written account is in the working set"));
        }
        let pending = changes.pending_changed.iter().map(|(id, _)| id);
        for id in changes.transfers_created.iter().chain(pending) {
            let transfer = *self.transfers.get(id).expect("a written transfer is in the working set");
            out.load_transfer(transfer, self.pending.get(id).copied());
        }
        for id in &changes.transfers_failed {
            out.load_failed(*self.failed.get(id).expect("a recorded failure is in the working set"));
        }
        out
    }

    // ----- tentative requests -----

    /// Apply what follows tentatively: until [`Ledger::keep_tentative`], [`Ledger::undo_tentative`]
    /// can take it all back, recorded failures included, as if it had never run. The store applies a
    /// request's transfers this way before the business row that guards them, so that the common case
    /// (the transfers succeed, the guard changes its row) needs no savepoint in the database.
    pub fn begin_tentative(&mut self, changes: &Changes) -> Tentative {
        assert!(self.tentative.is_none() && !self.in_chain, "tentative requests do not nest");
        self.tentative = Some(Vec::new());
        Tentative(Marks::of(changes))
    }

    /// Keep what the tentative request applied.
    pub fn keep_tentative(&mut self, _begun: Tentative) {
        assert!(self.tentative.take().is_some(), "a tentative request is running");
    }

    /// Undo what the tentative request applied: the working set and `changes` are as at `begin`.
    pub fn undo_tentative(&mut self, changes: &mut Changes, begun: Tentative) {
        let steps = self.tentative.take().expect("a tentative request is running");
        // Each step restores one key to its value before that step: in reverse, the earliest restore of
        // each key comes last, whatever a chain's own rollback did in between.
        for step in steps.into_iter().rev() {
            self.restore(step);
        }
        begun.0.cut(changes);
    }

    // ----- reading -----

    pub fn account(&self, id: Id) -> Option<&Account> {
        self.accounts.get(&id)
    }

    pub fn transfer(&self, id: Id) -> Option<&Transfer> {
        self.transfers.get(&id)
    }

    pub fn failed(&self, id: Id) -> Option<&FailedTransfer> {
        self.failed.get(&id)
    }

    pub fn pending_record(&self, id: Id) -> Option<PendingRecord> {
        self.pending.get(&id).copied()
    }

    /// Drop a transfer from the working set once nothing can refer to it again: it is not a pending
    /// transfer still open (its pending record, if any, stays). Journal replay calls this after each
    /// transfer so that its memory is bounded by the accounts and the open holds, not the journal.
    pub fn forget_settled(&mut self, id: Id) {
        let open = self.pending.get(&id).is_some_and(|r| r.state == PendingState::Pending);
        if !open {
            self.transfers.remove(&id);
        }
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    pub fn transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.transfers.values()
    }

    /// Pending transfers still pending whose timeout has passed at `now` (nanoseconds), oldest first.
    pub fn due_expiries(&self, now: u64) -> Vec<Id> {
        let mut due: Vec<(u64, Id)> = self
            .pending
            .iter()
            .filter(|(_, r)| r.state == PendingState::Pending)
            .filter_map(|(id, _)| self.transfers.get(id).and_then(|t| t.expires_at()).filter(|&at| at <= now).map(|at| (at, *id)))
            .collect();
        due.sort_unstable();
        due.into_iter().map(|(_, id)| id).collect()
    }

    // ----- the state machine -----

    /// Create a batch of accounts. Event `i` gets timestamp `timestamp + i`; the caller guarantees
    /// timestamps strictly increase across batches.
    pub fn create_accounts(&mut self, batch: &[NewAccount], timestamp: u64, changes: &mut Changes) -> Vec<AccountResult> {
        self.run_chains(&AccountEvents { batch, timestamp }, changes)
    }

    /// Create a batch of transfers. Event `i` gets timestamp `timestamp + i`.
    pub fn create_transfers(&mut self, batch: &[NewTransfer], timestamp: u64, changes: &mut Changes) -> Vec<TransferResult> {
        self.run_chains(&TransferEvents { batch, timestamp }, changes)
    }

    // ----- the state machine's bookkeeping (see `chains`, `accounts`, `transfers`) -----

    fn rollback(&mut self, changes: &mut Changes, mark: Marks) {
        while let Some(step) = self.undo.pop() {
            self.restore(step);
        }
        mark.cut(changes);
        debug_assert!(self.undo.is_empty());
    }

    fn restore(&mut self, step: Undo) {
        match step {
            Undo::Account(id, Some(previous)) => {
                self.accounts.insert(id, previous);
            }
            Undo::Account(id, None) => {
                self.accounts.remove(&id);
            }
            Undo::Transfer(id) => {
                self.transfers.remove(&id);
            }
            Undo::Pending(id, Some(previous)) => {
                self.pending.insert(id, previous);
            }
            Undo::Pending(id, None) => {
                self.pending.remove(&id);
            }
            Undo::Failed(id) => {
                self.failed.remove(&id);
            }
        }
    }

    /// Keep how to undo a step: for the chain running, and for the tentative request running.
    fn log(&mut self, step: Undo) {
        if self.in_chain {
            self.undo.push(step);
        }
        if let Some(steps) = &mut self.tentative {
            steps.push(step);
        }
    }

    fn put_account(&mut self, account: Account) {
        let previous = self.accounts.insert(account.id, account);
        self.log(Undo::Account(account.id, previous));
    }

    fn put_transfer(&mut self, transfer: Transfer) {
        let previous = self.transfers.insert(transfer.id, transfer);
        assert!(previous.is_none(), "a committed transfer never changes");
        self.log(Undo::Transfer(transfer.id));
    }

    fn put_pending(&mut self, id: Id, record: PendingRecord, changes: &mut Changes) {
        let previous = self.pending.insert(id, record);
        if let Some(p) = previous {
            assert_eq!(p.state, PendingState::Pending, "a pending transfer is resolved at most once");
        }
        self.log(Undo::Pending(id, previous));
        changes.pending_changed.push((id, record));
    }

    /// Keep a transient failure as the id's result (see [`FailedTransfer`]); called after a broken
    /// chain's rollback, so the record stands. Reserved ids are never recorded.
    fn record_failure(&mut self, t: &NewTransfer, error: TransferError, timestamp: u64, changes: &mut Changes) {
        let reserved = t.id == 0 || t.id == u128::MAX;
        if !error.is_transient() || reserved || self.failed.contains_key(&t.id) || self.transfers.contains_key(&t.id) {
            return;
        }
        self.failed.insert(t.id, FailedTransfer { transfer: *t, error, timestamp });
        if let Some(steps) = &mut self.tentative {
            steps.push(Undo::Failed(t.id));
        }
        changes.transfers_failed.push(t.id);
    }

    /// Expire a pending transfer whose timeout has passed at `timestamp`: its reservation is released as
    /// by a void. Returns false (and changes nothing) if it is not pending or not yet due.
    pub fn expire(&mut self, pending_id: Id, timestamp: u64, changes: &mut Changes) -> bool {
        let Some(p) = self.transfers.get(&pending_id).copied() else {
            return false;
        };
        let due = p.expires_at().is_some_and(|at| at <= timestamp);
        let pending = self.pending.get(&pending_id).is_some_and(|r| r.state == PendingState::Pending);
        if !due || !pending {
            return false;
        }
        for (id, closing) in [(p.debit_account_id, TransferFlags::CLOSING_DEBIT), (p.credit_account_id, TransferFlags::CLOSING_CREDIT)] {
            let mut account = *self.accounts.get(&id).expect("a pending transfer's accounts are loaded with it");
            if id == p.debit_account_id {
                account.debits_pending = account.debits_pending.checked_sub(p.amount).expect("pending debits cover the pending transfer");
            } else {
                account.credits_pending =
                    account.credits_pending.checked_sub(p.amount).expect("pending credits cover the pending transfer");
            }
            if p.flags.contains(closing) {
                account.flags = account.flags.without(AccountFlags::CLOSED);
            }
            self.put_account(account);
            changes.accounts_updated.push(id);
        }
        self.put_pending(pending_id, PendingRecord { state: PendingState::Expired, timestamp }, changes);
        true
    }

    /// Re-apply a committed transfer (journal replay): same checks, same effects, its own timestamp.
    /// The linked flag is ignored (a committed chain already succeeded as a whole).
    pub fn replay_transfer(&mut self, t: &Transfer) -> TransferResult {
        let new = NewTransfer {
            id: t.id,
            debit_account_id: t.debit_account_id,
            credit_account_id: t.credit_account_id,
            amount: t.amount,
            pending_id: t.pending_id,
            currency: Some(t.currency),
            code: t.code,
            flags: t.flags,
            timeout_s: t.timeout_s,
            user_data: t.user_data,
        };
        let mut changes = Changes::default();
        let result = self.create_transfer(&new, t.timestamp, &mut changes)?;
        if result == Outcome::Exists {
            return Err(TransferError::ExistsWithDifferentFlags);
        }
        assert_eq!(self.transfers.get(&t.id), Some(t), "replay reproduces the committed transfer");
        Ok(result)
    }

    /// Check every invariant over the whole working set. Meaningful when the ledger holds the full state
    /// (tests, journal replay); returns the first violation found.
    pub fn check_invariants(&self) -> Result<(), String> {
        #[derive(Default)]
        struct Sums {
            debits_pending: u128,
            debits_posted: u128,
            credits_pending: u128,
            credits_posted: u128,
        }
        let mut per_currency: BTreeMap<Currency, Sums> = BTreeMap::new();
        for a in self.accounts.values() {
            let s = per_currency.entry(a.currency).or_default();
            s.debits_pending += u128::from(a.debits_pending);
            s.debits_posted += u128::from(a.debits_posted);
            s.credits_pending += u128::from(a.credits_pending);
            s.credits_posted += u128::from(a.credits_posted);
            if a.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) && a.debits_pending + a.debits_posted > a.credits_posted {
                return Err(format!("account {} violates debits_must_not_exceed_credits", a.id));
            }
            if a.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) && a.credits_pending + a.credits_posted > a.debits_posted {
                return Err(format!("account {} violates credits_must_not_exceed_debits", a.id));
            }
        }
        for (currency, s) in &per_currency {
            if s.debits_pending != s.credits_pending {
                return Err(format!("{currency}: pending debits {} != pending credits {}", s.debits_pending, s.credits_pending));
            }
            if s.debits_posted != s.credits_posted {
                return Err(format!("{currency}: posted debits {} != posted credits {}", s.debits_posted, s.credits_posted));
            }
        }
        // Pending balances are exactly the sum of the transfers still pending.
        let mut reserved: HashMap<Id, (u64, u64)> = HashMap::default();
        for (id, record) in &self.pending {
            if record.state == PendingState::Pending {
                let t = self.transfers.get(id).ok_or_else(|| format!("pending record {id} without its transfer"))?;
                reserved.entry(t.debit_account_id).or_default().0 += t.amount;
                reserved.entry(t.credit_account_id).or_default().1 += t.amount;
            }
        }
        for a in self.accounts.values() {
            let (dp, cp) = reserved.get(&a.id).copied().unwrap_or_default();
            if (dp, cp) != (a.debits_pending, a.credits_pending) {
                return Err(format!(
                    "account {}: pending balances ({}, {}) != open pending transfers ({dp}, {cp})",
                    a.id, a.debits_pending, a.credits_pending
                ));
            }
        }
        // Each pending transfer was resolved at most once.
        let mut resolutions: HashMap<Id, u32> = HashMap::default();
        for t in self.transfers.values().filter(|t| t.pending_id != 0) {
            *resolutions.entry(t.pending_id).or_default() += 1;
        }
        if let Some((id, n)) = resolutions.iter().find(|(_, n)| **n > 1) {
            return Err(format!("pending transfer {id} resolved {n} times"));
        }
        Ok(())
    }
}

/// Where each change list stands, to cut them back to: a broken chain (no failure is recorded inside a
/// chain before its rollback, so its failure list is cut to where it stands), an undone tentative request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marks([usize; 5]);

impl Marks {
    pub(crate) fn of(c: &Changes) -> Marks {
        Marks([
            c.accounts_created.len(),
            c.accounts_updated.len(),
            c.transfers_created.len(),
            c.pending_changed.len(),
            c.transfers_failed.len(),
        ])
    }

    fn cut(self, c: &mut Changes) {
        let [a, u, t, p, f] = self.0;
        c.accounts_created.truncate(a);
        c.accounts_updated.truncate(u);
        c.transfers_created.truncate(t);
        c.pending_changed.truncate(p);
        c.transfers_failed.truncate(f);
    }
}
