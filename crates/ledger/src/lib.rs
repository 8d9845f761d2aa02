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

mod errors;
mod types;

pub use errors::{AccountError, TransferError};
pub use types::*;

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

/// A transfer that failed: its id keeps that first result forever, so a retry can never turn a failed
/// payment into a successful one later (exactly one outcome per id, as TigerBeetle since 0.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedTransfer {
    pub transfer: NewTransfer,
    pub error: TransferError,
    pub timestamp: u64,
}

/// How to undo one step of a linked chain that fails part-way.
enum Undo {
    Account(Id, Option<Account>),
    Transfer(Id),
    Pending(Id, Option<PendingRecord>),
}

/// The ledger's working set and its state machine.
#[derive(Default)]
pub struct Ledger {
    accounts: IdMap<Account>,
    transfers: IdMap<Transfer>,
    pending: IdMap<PendingRecord>,
    failed: IdMap<FailedTransfer>,
    undo: Vec<Undo>,
    in_chain: bool,
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

    /// Apply events one by one; a failure inside a linked chain rolls the whole chain back.
    fn run_chains<B: ChainEvents>(&mut self, events: &B, changes: &mut Changes) -> Vec<Result<Outcome, B::Error>> {
        let count = events.len();
        let mut results: Vec<Result<Outcome, B::Error>> = Vec::with_capacity(count);
        let mut chain: Option<(usize, [usize; 4])> = None; // start index, change-list marks
        let mut chain_failed = false;
        for i in 0..count {
            let is_linked = events.linked(i);
            if chain.is_none() && is_linked {
                chain = Some((i, marks(changes)));
                self.in_chain = true;
                debug_assert!(self.undo.is_empty());
            }
            // After a failure, the rest of the chain is not evaluated: it answers its own first result if
            // it has one (a retry of a failed chain answers exactly as the first attempt did).
            let result = if chain_failed { Err(events.recorded(self, i).unwrap_or(B::FAILED)) } else { events.apply(self, i, changes) };
            if let (Err(_), false, Some((start, mark))) = (result, chain_failed, chain) {
                chain_failed = true;
                self.rollback(changes, mark);
                for (j, earlier) in results.iter_mut().enumerate().skip(start) {
                    *earlier = Err(B::FAILED);
                    events.record(self, j, B::FAILED, changes);
                }
            }
            // After any rollback: a failure is a result that stands, chain victims included.
            if let Err(error) = result {
                events.record(self, i, error, changes);
            }
            results.push(result);
            if !is_linked {
                chain = None;
                chain_failed = false;
                self.in_chain = false;
                self.undo.clear();
            }
        }
        if let Some((start, mark)) = chain {
            // The batch ended inside a chain: nothing of it may stand.
            if !chain_failed {
                self.rollback(changes, mark);
            }
            let last = results.len() - 1;
            for (j, earlier) in results.iter_mut().enumerate().take(last).skip(start) {
                if earlier.is_ok() {
                    *earlier = Err(B::FAILED);
                    events.record(self, j, B::FAILED, changes);
                }
            }
            results[last] = Err(B::OPEN);
            events.record(self, last, B::OPEN, changes);
            self.in_chain = false;
            self.undo.clear();
        }
        results
    }

    fn rollback(&mut self, changes: &mut Changes, mark: [usize; 4]) {
        while let Some(step) = self.undo.pop() {
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
            }
        }
        changes.accounts_created.truncate(mark[0]);
        changes.accounts_updated.truncate(mark[1]);
        changes.transfers_created.truncate(mark[2]);
        changes.pending_changed.truncate(mark[3]);
        debug_assert!(self.undo.is_empty());
    }

    fn put_account(&mut self, account: Account) {
        let previous = self.accounts.insert(account.id, account);
        if self.in_chain {
            self.undo.push(Undo::Account(account.id, previous));
        }
    }

    fn put_transfer(&mut self, transfer: Transfer) {
        let previous = self.transfers.insert(transfer.id, transfer);
        assert!(previous.is_none(), "a committed transfer never changes");
        if self.in_chain {
            self.undo.push(Undo::Transfer(transfer.id));
        }
    }

    fn put_pending(&mut self, id: Id, record: PendingRecord, changes: &mut Changes) {
        let previous = self.pending.insert(id, record);
        if let Some(p) = previous {
            assert_eq!(p.state, PendingState::Pending, "a pending transfer is resolved at most once");
        }
        if self.in_chain {
            self.undo.push(Undo::Pending(id, previous));
        }
        changes.pending_changed.push((id, record));
    }

    fn record_failure(&mut self, t: &NewTransfer, error: TransferError, timestamp: u64, changes: &mut Changes) {
        use TransferError as E;
        let unrecorded = matches!(error, E::IdMustNotBeZero | E::IdMustNotBeIntMax | E::IdAlreadyFailed)
            || error.code().starts_with("exists_with_different");
        if unrecorded || self.failed.contains_key(&t.id) || self.transfers.contains_key(&t.id) {
            return;
        }
        self.failed.insert(t.id, FailedTransfer { transfer: *t, error, timestamp });
        changes.transfers_failed.push(t.id);
    }

    fn create_account(&mut self, new: &NewAccount, timestamp: u64, changes: &mut Changes) -> AccountResult {
        use AccountError as E;
        let flags = new.flags;
        if flags.unknown_bits() != 0 || flags.contains(AccountFlags::CLOSED) {
            return Err(E::FlagsReserved);
        }
        if new.id == 0 {
            return Err(E::IdMustNotBeZero);
        }
        if new.id == u128::MAX {
            return Err(E::IdMustNotBeIntMax);
        }
        if flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) && flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) {
            return Err(E::FlagsAreMutuallyExclusive);
        }
        if new.code == 0 {
            return Err(E::CodeMustNotBeZero);
        }
        if new.currency.minor_units().is_none() {
            return Err(E::CurrencyMustBeMoney);
        }
        if let Some(existing) = self.accounts.get(&new.id) {
            // `closed` is state, not part of the request.
            let existing_flags = existing.flags.without(AccountFlags::CLOSED).without(AccountFlags::LINKED);
            return if existing_flags != flags.without(AccountFlags::LINKED) {
                Err(E::ExistsWithDifferentFlags)
            } else if existing.user_data != new.user_data {
                Err(E::ExistsWithDifferentUserData)
            } else if existing.currency != new.currency {
                Err(E::ExistsWithDifferentCurrency)
            } else if existing.code != new.code {
                Err(E::ExistsWithDifferentCode)
            } else {
                Ok(Outcome::Exists)
            };
        }
        self.put_account(Account {
            id: new.id,
            currency: new.currency,
            code: new.code,
            flags,
            user_data: new.user_data,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
            timestamp,
        });
        changes.accounts_created.push(new.id);
        Ok(Outcome::Created)
    }

    fn create_transfer(&mut self, t: &NewTransfer, timestamp: u64, changes: &mut Changes) -> TransferResult {
        use TransferError as E;
        let flags = t.flags;
        if flags.unknown_bits() != 0 {
            return Err(E::FlagsReserved);
        }
        if t.id == 0 {
            return Err(E::IdMustNotBeZero);
        }
        if t.id == u128::MAX {
            return Err(E::IdMustNotBeIntMax);
        }
        if let Some(first) = self.failed.get(&t.id) {
            return Err(if same_request(&first.transfer, t) { first.error } else { E::IdAlreadyFailed });
        }
        let pending = flags.contains(TransferFlags::PENDING);
        let post = flags.contains(TransferFlags::POST_PENDING);
        let void = flags.contains(TransferFlags::VOID_PENDING);
        let closing = flags.contains(TransferFlags::CLOSING_DEBIT) || flags.contains(TransferFlags::CLOSING_CREDIT);
        let balancing = flags.contains(TransferFlags::BALANCING_DEBIT);
        if u8::from(pending) + u8::from(post) + u8::from(void) > 1 || (closing && !pending) || (balancing && (post || void)) {
            return Err(E::FlagsAreMutuallyExclusive);
        }
        if post || void {
            if t.pending_id == 0 {
                return Err(E::PendingIdMustNotBeZero);
            }
            if t.pending_id == u128::MAX {
                return Err(E::PendingIdMustNotBeIntMax);
            }
            if t.pending_id == t.id {
                return Err(E::PendingIdMustBeDifferent);
            }
            if t.timeout_s != 0 {
                return Err(E::TimeoutReservedForPendingTransfer);
            }
            if t.amount > AMOUNT_MAX {
                return Err(E::AmountExceedsMaximum);
            }
            if let Some(existing) = self.transfers.get(&t.id) {
                return exists_resolving(t, existing);
            }
            return self.resolve_pending(t, timestamp, changes);
        }
        if t.pending_id != 0 {
            return Err(E::PendingIdMustBeZero);
        }
        if t.timeout_s != 0 && !pending {
            return Err(E::TimeoutReservedForPendingTransfer);
        }
        if t.debit_account_id == 0 {
            return Err(E::DebitAccountIdMustNotBeZero);
        }
        if t.debit_account_id == u128::MAX {
            return Err(E::DebitAccountIdMustNotBeIntMax);
        }
        if t.credit_account_id == 0 {
            return Err(E::CreditAccountIdMustNotBeZero);
        }
        if t.credit_account_id == u128::MAX {
            return Err(E::CreditAccountIdMustNotBeIntMax);
        }
        if t.debit_account_id == t.credit_account_id {
            return Err(E::AccountsMustBeDifferent);
        }
        if t.amount == 0 && !closing {
            return Err(E::AmountMustNotBeZero);
        }
        if t.amount > AMOUNT_MAX {
            return Err(E::AmountExceedsMaximum);
        }
        let currency = t.currency.ok_or(E::CurrencyMustNotBeNone)?;
        if t.code == 0 {
            return Err(E::CodeMustNotBeZero);
        }
        if let Some(existing) = self.transfers.get(&t.id) {
            return exists_simple(t, currency, existing);
        }
        let mut dr = *self.accounts.get(&t.debit_account_id).ok_or(E::DebitAccountNotFound)?;
        let mut cr = *self.accounts.get(&t.credit_account_id).ok_or(E::CreditAccountNotFound)?;
        if dr.currency != cr.currency {
            return Err(E::AccountsMustHaveTheSameCurrency);
        }
        if currency != dr.currency {
            return Err(E::TransferMustHaveTheSameCurrencyAsAccounts);
        }
        if dr.flags.contains(AccountFlags::CLOSED) {
            return Err(E::DebitAccountAlreadyClosed);
        }
        if cr.flags.contains(AccountFlags::CLOSED) {
            return Err(E::CreditAccountAlreadyClosed);
        }
        let amount = if balancing {
            let available = i128::from(dr.credits_posted) - i128::from(dr.debits_posted) - i128::from(dr.debits_pending);
            let clamped = u64::try_from(available.max(0)).unwrap_or(0).min(t.amount);
            if clamped == 0 {
                return Err(E::ExceedsCredits);
            }
            clamped
        } else {
            t.amount
        };
        if pending {
            dr.debits_pending = dr.debits_pending.checked_add(amount).filter(|&v| v <= AMOUNT_MAX).ok_or(E::OverflowsDebitsPending)?;
            cr.credits_pending = cr.credits_pending.checked_add(amount).filter(|&v| v <= AMOUNT_MAX).ok_or(E::OverflowsCreditsPending)?;
        } else {
            dr.debits_posted = dr.debits_posted.checked_add(amount).filter(|&v| v <= AMOUNT_MAX).ok_or(E::OverflowsDebitsPosted)?;
            cr.credits_posted = cr.credits_posted.checked_add(amount).filter(|&v| v <= AMOUNT_MAX).ok_or(E::OverflowsCreditsPosted)?;
        }
        dr.debits_pending.checked_add(dr.debits_posted).filter(|&v| v <= AMOUNT_MAX).ok_or(E::OverflowsDebits)?;
        cr.credits_pending.checked_add(cr.credits_posted).filter(|&v| v <= AMOUNT_MAX).ok_or(E::OverflowsCredits)?;
        if pending && t.timeout_s > 0 {
            timestamp.checked_add(u64::from(t.timeout_s) * 1_000_000_000).ok_or(E::OverflowsTimeout)?;
        }
        if dr.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) && dr.debits_pending + dr.debits_posted > dr.credits_posted {
            return Err(E::ExceedsCredits);
        }
        if cr.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) && cr.credits_pending + cr.credits_posted > cr.debits_posted {
            return Err(E::ExceedsDebits);
        }
        if flags.contains(TransferFlags::CLOSING_DEBIT) {
            dr.flags = dr.flags.union(AccountFlags::CLOSED);
        }
        if flags.contains(TransferFlags::CLOSING_CREDIT) {
            cr.flags = cr.flags.union(AccountFlags::CLOSED);
        }
        self.put_account(dr);
        self.put_account(cr);
        changes.accounts_updated.push(dr.id);
        changes.accounts_updated.push(cr.id);
        self.put_transfer(Transfer {
            id: t.id,
            debit_account_id: t.debit_account_id,
            credit_account_id: t.credit_account_id,
            amount,
            pending_id: 0,
            currency,
            code: t.code,
            flags,
            timeout_s: t.timeout_s,
            user_data: t.user_data,
            timestamp,
        });
        changes.transfers_created.push(t.id);
        if pending {
            self.put_pending(t.id, PendingRecord { state: PendingState::Pending, timestamp }, changes);
        }
        Ok(Outcome::Created)
    }

    fn resolve_pending(&mut self, t: &NewTransfer, timestamp: u64, changes: &mut Changes) -> TransferResult {
        use TransferError as E;
        let p = *self.transfers.get(&t.pending_id).ok_or(E::PendingTransferNotFound)?;
        if !p.flags.contains(TransferFlags::PENDING) {
            return Err(E::PendingTransferNotPending);
        }
        if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
            return Err(E::PendingTransferHasDifferentDebitAccountId);
        }
        if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
            return Err(E::PendingTransferHasDifferentCreditAccountId);
        }
        if t.currency.is_some_and(|c| c != p.currency) {
            return Err(E::PendingTransferHasDifferentCurrency);
        }
        if t.code != 0 && t.code != p.code {
            return Err(E::PendingTransferHasDifferentCode);
        }
        let post = t.flags.contains(TransferFlags::POST_PENDING);
        let amount = if post {
            if t.amount == 0 {
                return Err(E::AmountMustNotBeZero);
            }
            if t.amount > p.amount {
                return Err(E::ExceedsPendingTransferAmount);
            }
            t.amount
        } else {
            if t.amount != 0 && t.amount != p.amount {
                return Err(E::PendingTransferHasDifferentAmount);
            }
            p.amount
        };
        let record = self.pending.get(&p.id).copied().expect("every pending transfer has a pending record");
        match record.state {
            PendingState::Pending => {}
            PendingState::Posted => return Err(E::PendingTransferAlreadyPosted),
            PendingState::Voided => return Err(E::PendingTransferAlreadyVoided),
            PendingState::Expired => return Err(E::PendingTransferExpired),
        }
        if p.expires_at().is_some_and(|at| at <= timestamp) {
            return Err(E::PendingTransferExpired);
        }
        let mut dr = *self.accounts.get(&p.debit_account_id).ok_or(E::DebitAccountNotFound)?;
        let mut cr = *self.accounts.get(&p.credit_account_id).ok_or(E::CreditAccountNotFound)?;
        let closing_debit = p.flags.contains(TransferFlags::CLOSING_DEBIT);
        let closing_credit = p.flags.contains(TransferFlags::CLOSING_CREDIT);
        if post {
            // A closed account takes no new postings, except the posting of the transfer that closed it.
            if dr.flags.contains(AccountFlags::CLOSED) && !closing_debit {
                return Err(E::DebitAccountAlreadyClosed);
            }
            if cr.flags.contains(AccountFlags::CLOSED) && !closing_credit {
                return Err(E::CreditAccountAlreadyClosed);
            }
            dr.debits_posted = dr.debits_posted.checked_add(amount).filter(|&v| v <= AMOUNT_MAX).ok_or(E::OverflowsDebitsPosted)?;
            cr.credits_posted = cr.credits_posted.checked_add(amount).filter(|&v| v <= AMOUNT_MAX).ok_or(E::OverflowsCreditsPosted)?;
        } else {
            // Voiding a closing transfer re-opens what it closed.
            if closing_debit {
                dr.flags = dr.flags.without(AccountFlags::CLOSED);
            }
            if closing_credit {
                cr.flags = cr.flags.without(AccountFlags::CLOSED);
            }
        }
        assert!(dr.debits_pending >= p.amount && cr.credits_pending >= p.amount, "pending balances cover every pending transfer");
        dr.debits_pending -= p.amount;
        cr.credits_pending -= p.amount;
        // Releasing a reservation and posting at most the reserved amount can never break a limit.
        debug_assert!(
            !dr.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) || dr.debits_pending + dr.debits_posted <= dr.credits_posted
        );
        self.put_account(dr);
        self.put_account(cr);
        changes.accounts_updated.push(dr.id);
        changes.accounts_updated.push(cr.id);
        self.put_transfer(Transfer {
            id: t.id,
            debit_account_id: p.debit_account_id,
            credit_account_id: p.credit_account_id,
            amount,
            pending_id: p.id,
            currency: p.currency,
            code: p.code,
            flags: t.flags,
            timeout_s: 0,
            user_data: t.user_data,
            timestamp,
        });
        changes.transfers_created.push(t.id);
        let state = if post { PendingState::Posted } else { PendingState::Voided };
        self.put_pending(p.id, PendingRecord { state, timestamp }, changes);
        Ok(Outcome::Created)
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

/// Two requests are the same retry if every field matches (the linked flag aside: a chain's shape is the
/// batch's business).
fn same_request(a: &NewTransfer, b: &NewTransfer) -> bool {
    NewTransfer { flags: a.flags.without(TransferFlags::LINKED), ..*a }
        == NewTransfer { flags: b.flags.without(TransferFlags::LINKED), ..*b }
}

/// A batch of events of one kind, as `run_chains` walks it.
trait ChainEvents {
    type Error: Copy;
    /// What an event answers when another event of its chain failed.
    const FAILED: Self::Error;
    /// What the last event answers when the batch ends inside a chain.
    const OPEN: Self::Error;
    fn len(&self) -> usize;
    fn linked(&self, i: usize) -> bool;
    fn apply(&self, ledger: &mut Ledger, i: usize, changes: &mut Changes) -> Result<Outcome, Self::Error>;
    /// Keep a failure as the event's first result (transfers only).
    fn record(&self, ledger: &mut Ledger, i: usize, error: Self::Error, changes: &mut Changes);
    /// The first result recorded for event `i`'s id, if any.
    fn recorded(&self, ledger: &Ledger, i: usize) -> Option<Self::Error>;
}

struct AccountEvents<'a> {
    batch: &'a [NewAccount],
    timestamp: u64,
}

impl ChainEvents for AccountEvents<'_> {
    type Error = AccountError;
    const FAILED: AccountError = AccountError::LinkedEventFailed;
    const OPEN: AccountError = AccountError::LinkedEventChainOpen;

    fn len(&self) -> usize {
        self.batch.len()
    }

    fn linked(&self, i: usize) -> bool {
        self.batch[i].flags.contains(AccountFlags::LINKED)
    }

    fn apply(&self, ledger: &mut Ledger, i: usize, changes: &mut Changes) -> AccountResult {
        ledger.create_account(&self.batch[i], self.timestamp + i as u64, changes)
    }

    /// Account creation fails only on its own fields, deterministically: nothing to record.
    fn record(&self, _: &mut Ledger, _: usize, _: AccountError, _: &mut Changes) {}

    fn recorded(&self, _: &Ledger, _: usize) -> Option<AccountError> {
        None
    }
}

struct TransferEvents<'a> {
    batch: &'a [NewTransfer],
    timestamp: u64,
}

impl ChainEvents for TransferEvents<'_> {
    type Error = TransferError;
    const FAILED: TransferError = TransferError::LinkedEventFailed;
    const OPEN: TransferError = TransferError::LinkedEventChainOpen;

    fn len(&self) -> usize {
        self.batch.len()
    }

    fn linked(&self, i: usize) -> bool {
        self.batch[i].flags.contains(TransferFlags::LINKED)
    }

    fn apply(&self, ledger: &mut Ledger, i: usize, changes: &mut Changes) -> TransferResult {
        ledger.create_transfer(&self.batch[i], self.timestamp + i as u64, changes)
    }

    fn record(&self, ledger: &mut Ledger, i: usize, error: TransferError, changes: &mut Changes) {
        ledger.record_failure(&self.batch[i], error, self.timestamp + i as u64, changes)
    }

    fn recorded(&self, ledger: &Ledger, i: usize) -> Option<TransferError> {
        let first = ledger.failed.get(&self.batch[i].id)?;
        Some(if same_request(&first.transfer, &self.batch[i]) { first.error } else { TransferError::IdAlreadyFailed })
    }
}

fn marks(changes: &Changes) -> [usize; 4] {
    [changes.accounts_created.len(), changes.accounts_updated.len(), changes.transfers_created.len(), changes.pending_changed.len()]
}

/// Idempotency for a plain or pending transfer: same fields → `Exists`, else the first differing field.
fn exists_simple(t: &NewTransfer, currency: Currency, e: &Transfer) -> TransferResult {
    use TransferError as E;
    if e.flags.without(TransferFlags::LINKED) != t.flags.without(TransferFlags::LINKED) {
        Err(E::ExistsWithDifferentFlags)
    } else if e.pending_id != 0 {
        Err(E::ExistsWithDifferentPendingId)
    } else if e.debit_account_id != t.debit_account_id {
        Err(E::ExistsWithDifferentDebitAccountId)
    } else if e.credit_account_id != t.credit_account_id {
        Err(E::ExistsWithDifferentCreditAccountId)
    } else if e.amount != t.amount && !(t.flags.contains(TransferFlags::BALANCING_DEBIT) && e.amount <= t.amount) {
        Err(E::ExistsWithDifferentAmount)
    } else if e.currency != currency {
        Err(E::ExistsWithDifferentCurrency)
    } else if e.code != t.code {
        Err(E::ExistsWithDifferentCode)
    } else if e.timeout_s != t.timeout_s {
        Err(E::ExistsWithDifferentTimeout)
    } else if e.user_data != t.user_data {
        Err(E::ExistsWithDifferentUserData)
    } else {
        Ok(Outcome::Exists)
    }
}

/// Idempotency for a post or void: fields the caller left unset are taken from the stored transfer.
fn exists_resolving(t: &NewTransfer, e: &Transfer) -> TransferResult {
    use TransferError as E;
    let void = t.flags.contains(TransferFlags::VOID_PENDING);
    if e.flags.without(TransferFlags::LINKED) != t.flags.without(TransferFlags::LINKED) {
        Err(E::ExistsWithDifferentFlags)
    } else if e.pending_id != t.pending_id {
        Err(E::ExistsWithDifferentPendingId)
    } else if t.debit_account_id != 0 && e.debit_account_id != t.debit_account_id {
        Err(E::ExistsWithDifferentDebitAccountId)
    } else if t.credit_account_id != 0 && e.credit_account_id != t.credit_account_id {
        Err(E::ExistsWithDifferentCreditAccountId)
    } else if !(void && t.amount == 0) && e.amount != t.amount {
        Err(E::ExistsWithDifferentAmount)
    } else if t.currency.is_some_and(|c| c != e.currency) {
        Err(E::ExistsWithDifferentCurrency)
    } else if t.code != 0 && e.code != t.code {
        Err(E::ExistsWithDifferentCode)
    } else if e.user_data != t.user_data {
        Err(E::ExistsWithDifferentUserData)
    } else {
        Ok(Outcome::Exists)
    }
}
