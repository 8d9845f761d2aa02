//! Pipelined batches: a batch of plain transfers and accounts (no guards, no effects: nothing of it
//! runs a statement but its writes) is applied on the working set the batches before it left in
//! memory, while the writer thread still writes and fsyncs the batch before. It is handed to the writer
//! once that batch has committed; were that one refused, this one was applied on what never happened
//! and runs again serially, as does the refused one, in their order.
//!
//! The working set is carried from batch to batch only while nothing else writes the ledger: the
//! writer's transaction checks it (`Backend::undisturbed`) before writing, and a batch applied on a
//! stale working set is refused and run again. Within that, every transfer id above `journal_max` is
//! known to be new, and every account or transfer the working set holds is as the batches before left
//! it; anything else is read, once the writer has landed, so the read sees every batch before.
//!
//! A serial batch first expires the pending transfers due at its time. A pipelined batch cannot read the
//! database for them, so it runs only when none can be due by its end: none in the working set (checked
//! in memory), and none in the database before `expiries_clear_until`, which each check (after every
//! pipelined commit, or here when it has passed) sets [`EXPIRY_HORIZON_NS`] ahead. A transfer made
//! pending after a check cannot fall due before that horizon, as no timeout is shorter than a second.
//! Otherwise the batch runs serially, and what is due expires before its transfers, as ever.

use super::{Applied, Needs, Request, Worker, db, writer};
use crate::Result;
use crate::backend::Backend;
use ledger::{Id, Ledger};
use std::time::Instant;

/// Transfers and failures the working set keeps across batches (about 10 MB); past it they are
/// forgotten (and read again when a batch names one).
const JOURNAL_CARRIED_MAX: usize = 1 << 16;
/// Accounts the working set keeps across batches (about 100 MB); past it the working set starts over.
const ACCOUNTS_CARRIED_MAX: usize = 1 << 20;
/// How far ahead a check for due pending transfers looks: less than the shortest timeout (1 s).
pub(super) const EXPIRY_HORIZON_NS: u64 = 500_000_000;

/// After a check at `now`: the time before which nothing in the database falls due (0 if something
/// does, or the check failed).
pub(super) fn clear_until(db: &mut dyn Backend, now: u64) -> u64 {
    match db.due_expiries(now + EXPIRY_HORIZON_NS, 1) {
        Ok(due) if due.is_empty() => now + EXPIRY_HORIZON_NS,
        _ => 0,
    }
}

/// What the working set holds across pipelined batches.
#[derive(Debug, Default)]
pub(super) struct Carried {
    /// The working set continues from the batches before; when false the next pipelined batch starts it
    /// afresh from the database.
    pub active: bool,
    /// Every transfer id in the ledger is at most this, or made by a batch since it was read (and then
    /// in the working set, or forgotten and read again): an id above it is new.
    pub journal_max: Id,
}

impl Carried {
    /// Whether the working set holds all a batch needs, as the batches before left it.
    fn holds(&self, ledger: &Ledger, needs: &Needs) -> bool {
        self.active
            && needs.transfer_ids.iter().all(|id| *id > self.journal_max || ledger.transfer(*id).is_some() || ledger.failed(*id).is_some())
            && needs.accounts(ledger).iter().all(|id| ledger.account(*id).is_some())
    }

    /// Read what the working set lacks, inside a transaction that holds the write turn. A disturbed
    /// connection (another writer came between) starts the working set afresh.
    fn read(&mut self, db: &mut dyn Backend, ledger: &mut Ledger, needs: &Needs) -> Result<u64> {
        if !self.active || !db.undisturbed() {
            ledger.clear();
            *self = Carried { active: true, journal_max: db.max_journal_id()? };
        }
        let known = |id: &Id| ledger.transfer(*id).is_some() || ledger.failed(*id).is_some();
        let transfers: Vec<Id> = needs.transfer_ids.iter().copied().filter(|id| *id <= self.journal_max && !known(id)).collect();
        db.read_transfers(&transfers, ledger)?;
        let mut accounts = needs.accounts(ledger);
        accounts.retain(|id| ledger.account(*id).is_none());
        db.read_batch_accounts(&accounts, ledger)
    }
}

impl Worker {
    /// A batch may be pipelined: plain transfers and accounts only (expiries are checked once its
    /// timestamps are known, see `expiries_clear`). An empty
    /// request asks for a batch for its expiries alone (what is due now, not at the writer's last
    /// commit, which is what a pipelined batch goes by): it runs serially.
    pub(super) fn pipelinable(&self, requests: &[Request]) -> bool {
        self.config.pipelined
            && !requests.is_empty()
            && !self.broken
            && requests.iter().all(|r| r.op.len() > 0)
            && requests.iter().all(|r| match &r.op {
                super::Op::Accounts(_) => true,
                super::Op::Transfers(_, c) => c.guards.is_empty() && c.effects.is_empty(),
            })
    }

    pub(super) fn process_pipelined(&mut self, requests: Vec<Request>) {
        let started = Instant::now();
        let needs = Needs::of(&requests, &[]);
        let read_ts = match self.carry_on(&needs) {
            Ok(ts) => ts,
            Err(e) => {
                tracing::warn!(error = %e, "reading a batch's working set; running it serially");
                self.broken |= e.is_unavailable();
                self.drop_carried();
                return self.process_serially(requests);
            }
        };
        let first_ts = self.clock.now_ns().max(self.last_ts + 1).max(read_ts + 1);
        let end_ts = first_ts + requests.iter().map(|r| r.op.len() as u64).sum::<u64>();
        if !self.expiries_clear(end_ts) || !self.carried.active {
            // Something may fall due by the batch's end (or a refused batch ran again meanwhile): serially,
            // what is due expires first.
            return self.process_serially(requests);
        }
        let Applied { replies, changes, stats, last_ts } =
            self.apply(&requests, &[], first_ts).expect("a batch without guards or effects runs no statement");
        let written = self.ledger.written(&changes);
        self.settle();
        if !self.carried.active {
            // The batch before was refused (and ran again serially): this one was applied on it.
            return self.process_serially(requests);
        }
        self.last_ts = last_ts;
        // Only what entered the journal: an id refused on its own fields (`u128::MAX`, say) is not in it,
        // and counting it would make every later id look old.
        let journaled = changes.transfers_created.iter().chain(&changes.transfers_failed).copied();
        self.carried.journal_max = journaled.fold(self.carried.journal_max, Id::max);
        // Even a batch with nothing to write (every transfer a retry) goes to the writer: its answers
        // stand only if no other writer came between (an account's flags may have changed).
        let backend = self.backend.take().expect("the connection is home after settling");
        self.writer.send(writer::Job { backend, written, changes, batch_ts: last_ts, requests, replies, stats, started });
        self.bound_carried();
    }

    /// Make the working set hold what `needs` names: from memory when the batches before left it there,
    /// else read once the writer has landed (so the read sees every batch before). Returns the largest
    /// `last_ts` of the accounts read (0 when none was).
    fn carry_on(&mut self, needs: &Needs) -> Result<u64> {
        if self.carried.holds(&self.ledger, needs) {
            return Ok(0);
        }
        self.settle();
        self.reconnected()?;
        let db = db(&mut self.backend);
        db.begin()?;
        let read = self.carried.read(db, &mut self.ledger, needs);
        db.rollback();
        read
    }

    /// Whether no pending transfer can be due by `end_ts`: none in the working set, none in the database
    /// before the horizon (looked at again, once the writer has landed, when it has passed).
    fn expiries_clear(&mut self, end_ts: u64) -> bool {
        if !self.ledger.due_expiries(end_ts).is_empty() {
            return false;
        }
        if end_ts < self.expiries_clear_until {
            return true;
        }
        self.settle();
        if end_ts >= self.expiries_clear_until {
            // A failed look (a lost connection too) answers 0: the batch runs serially, which reconnects.
            self.expiries_clear_until = clear_until(db(&mut self.backend), self.clock.now_ns());
        }
        end_ts < self.expiries_clear_until
    }

    /// Wait for the batch in flight; a refused one runs again serially.
    pub(super) fn settle(&mut self) {
        if let Some(landing) = self.writer.wait() {
            self.landed(landing);
        }
    }

    pub(super) fn landed(&mut self, landing: writer::Landing) {
        let writer::Landing { backend, refused, clear_until } = landing;
        self.backend = Some(backend);
        self.expiries_clear_until = clear_until;
        if let Some((requests, error)) = refused {
            self.metrics.batches_rerun.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.drop_carried();
            match error {
                Some(e) => {
                    self.broken |= e.is_unavailable();
                    tracing::warn!(error = %e, "a pipelined batch failed; running it again serially");
                }
                None => tracing::debug!("another writer committed to the ledger first; running the batch again serially"),
            }
            self.process_serially(requests);
        }
    }

    fn drop_carried(&mut self) {
        self.ledger.clear();
        self.carried.active = false;
    }

    /// Keep the working set within its bounds.
    fn bound_carried(&mut self) {
        let (accounts, journal) = self.ledger.sizes();
        if journal > JOURNAL_CARRIED_MAX {
            // The batch in flight may hold pending transfers the last check did not see: look again.
            self.ledger.forget_journal();
            self.expiries_clear_until = 0;
        }
        if accounts > ACCOUNTS_CARRIED_MAX {
            self.carried.active = false; // the next batch starts afresh
        }
    }
}
