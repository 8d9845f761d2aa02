//! The batch driver: events one by one, linked chains succeeding or failing as one, exactly as
//! TigerBeetle's `execute_create` does.
//!
//! - Anything but `created` breaks a chain, `exists` included: a chain either happens whole, now, or not
//!   at all, so a chain whose first event already exists cannot drag new events in with it.
//! - The event that breaks a chain keeps its own result; the chain's earlier events are rolled back and
//!   answer `linked_event_failed`; its later events are not evaluated and answer `linked_event_failed`.
//! - The last event of a batch with `linked` set answers `linked_event_chain_open` (before any other
//!   check), and nothing of its chain stands.
//! - A transient failure is recorded after the rollback, so the id keeps it (transfers only).

use crate::{AccountError, AccountResult, Changes, Ledger, Marks, NewAccount, NewTransfer, Outcome, TransferError, TransferResult};
use crate::{AccountFlags, TransferFlags};

/// A batch of events of one kind, as `run_chains` walks it.
pub(crate) trait ChainEvents {
    type Error: Copy + PartialEq;
    /// What an event answers when another event of its chain failed.
    const FAILED: Self::Error;
    /// What the last event answers when the batch ends inside a chain.
    const OPEN: Self::Error;
    fn len(&self) -> usize;
    fn linked(&self, i: usize) -> bool;
    fn apply(&self, ledger: &mut Ledger, i: usize, changes: &mut Changes) -> Result<Outcome, Self::Error>;
    /// Keep a failure as the event's result if it is transient (transfers only).
    fn record(&self, ledger: &mut Ledger, i: usize, error: Self::Error, changes: &mut Changes);
}

impl Ledger {
    /// Apply events one by one; a failure inside a linked chain rolls the whole chain back.
    pub(crate) fn run_chains<B: ChainEvents>(&mut self, events: &B, changes: &mut Changes) -> Vec<Result<Outcome, B::Error>> {
        let count = events.len();
        let mut results: Vec<Result<Outcome, B::Error>> = Vec::with_capacity(count);
        let mut chain: Option<(usize, Marks)> = None; // start index, change-list marks
        let mut broken = false;
        for i in 0..count {
            let linked = events.linked(i);
            if linked && chain.is_none() {
                debug_assert!(self.undo.is_empty());
                chain = Some((i, Marks::of(changes)));
                self.in_chain = true;
            }
            let open = linked && i == count - 1;
            let result = if open {
                Err(B::OPEN)
            } else if broken {
                Err(B::FAILED)
            } else {
                events.apply(self, i, changes)
            };
            if result != Ok(Outcome::Created) {
                if let Some((start, mark)) = chain
                    && !broken
                {
                    broken = true;
                    self.rollback(changes, mark);
                    for earlier in &mut results[start..] {
                        *earlier = Err(B::FAILED);
                    }
                }
                if let Err(error) = result {
                    events.record(self, i, error, changes);
                }
            }
            results.push(result);
            if chain.is_some() && (!linked || open) {
                chain = None;
                broken = false;
                self.in_chain = false;
                self.undo.clear();
            }
        }
        debug_assert!(chain.is_none() && !self.in_chain, "every chain ends with the batch");
        results
    }
}

pub(crate) struct AccountEvents<'a> {
    pub batch: &'a [NewAccount],
    pub timestamp: u64,
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

    /// Account creation fails only on its own fields or on what exists: nothing to record.
    fn record(&self, _: &mut Ledger, _: usize, _: AccountError, _: &mut Changes) {}
}

pub(crate) struct TransferEvents<'a> {
    pub batch: &'a [NewTransfer],
    pub timestamp: u64,
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
}
