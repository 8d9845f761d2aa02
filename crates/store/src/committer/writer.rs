//! The writer thread: writes and commits one pipelined batch at a time, with the committer's own
//! connection lent to it, and answers the batch's requests once it is durable. Meanwhile the committer
//! applies the next batch in memory, so the ledger's two halves of work (the state machine, SQL and
//! fsync) run on two cores.
//!
//! The connection travels with the job and comes back with its landing: while the writer has it, the
//! committer cannot touch the database (its reads wait for the landing), so no statement of the two
//! threads ever interleaves in one transaction.

use super::{BatchStats, Reply, Request, answer, events, record};
use crate::backend::Backend;
use crate::{Clock, Metrics, Result, StoreError};
use ledger::{Changes, Ledger};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::mpsc;

/// A batch applied by the committer, for the writer to commit.
pub(super) struct Job {
    pub backend: Box<dyn Backend>,
    /// What the batch wrote ([`Ledger::written`]): the committer goes on with its own working set.
    pub written: Ledger,
    pub changes: Changes,
    pub batch_ts: u64,
    pub requests: Vec<Request>,
    /// The answers the state machine gave, sent once the batch is durable.
    pub replies: Vec<Reply>,
    pub stats: BatchStats,
    pub started: Instant,
}

/// A job's end. The connection comes back with it.
pub(super) struct Landing {
    pub backend: Box<dyn Backend>,
    /// `None`: committed and answered. Otherwise nothing of the batch was written and its requests come
    /// back unanswered, with the error that stopped it, or none when another writer had committed to the
    /// ledger since this connection's last batch (the working set the batch was applied on was stale).
    pub refused: Option<(Vec<Request>, Option<StoreError>)>,
    /// No pending transfer in the database is due before this (checked after the commit; 0 when one
    /// is, or the check failed).
    pub clear_until: u64,
}

/// The committer's handle on its writer thread: one job in flight at most.
pub(super) struct Writer {
    jobs: std::sync::mpsc::SyncSender<Job>,
    landings: mpsc::UnboundedReceiver<Landing>,
    in_flight: bool,
}

impl Writer {
    pub fn start(clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Result<Writer> {
        let (jobs, queued) = std::sync::mpsc::sync_channel::<Job>(1);
        let (landed, landings) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                // Ends when the committer drops its handle.
                for job in queued {
                    if landed.send(write(job, &*clock, &metrics)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| StoreError::Database(format!("spawning the ledger's writer: {e}")))?;
        Ok(Writer { jobs, landings, in_flight: false })
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    pub fn send(&mut self, job: Job) {
        assert!(!self.in_flight, "one batch in flight at most");
        self.jobs.send(job).expect("the writer thread runs while the committer holds its handle");
        self.in_flight = true;
    }

    /// The landing of the job in flight (from the committer's event loop).
    pub async fn landing(&mut self) -> Option<Landing> {
        let landing = self.landings.recv().await;
        self.in_flight = false;
        landing
    }

    /// Wait for the job in flight, if there is one (outside the event loop).
    pub fn wait(&mut self) -> Option<Landing> {
        if !self.in_flight {
            return None;
        }
        self.in_flight = false;
        Some(self.landings.blocking_recv().expect("the writer thread lands every job it takes"))
    }
}

/// On the writer thread: the batch in a transaction of its own, its requests answered once committed.
fn write(job: Job, clock: &dyn Clock, metrics: &Metrics) -> Landing {
    let Job { mut backend, written, changes, batch_ts, requests, replies, stats, started } = job;
    let refused = match commit(&mut *backend, &written, &changes, batch_ts) {
        Ok(true) => {
            metrics.batches.fetch_add(1, Ordering::Relaxed);
            metrics.batches_pipelined.fetch_add(1, Ordering::Relaxed);
            metrics.batch_events.observe(events(&requests));
            metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
            record(metrics, stats);
            answer(requests, replies);
            None
        }
        Ok(false) => Some((requests, None)),
        Err(e) => Some((requests, Some(e))),
    };
    // A read error here is the next batch's to meet. A refused batch runs serially anyway.
    let clear_until = if refused.is_none() { super::pipelined::clear_until(&mut *backend, clock.now_ns()) } else { 0 };
    Landing { backend, refused, clear_until }
}

/// `Ok(true)`: committed (or nothing to write). `Ok(false)`: another writer came first, nothing written.
fn commit(backend: &mut dyn Backend, written: &Ledger, changes: &Changes, batch_ts: u64) -> Result<bool> {
    backend.begin()?;
    if !backend.undisturbed() {
        backend.rollback();
        return Ok(false);
    }
    if changes.is_empty() {
        // Nothing to write, and everything its answers rest on is durable (the batches before it are).
        backend.rollback();
        return Ok(true);
    }
    if let Err(e) = backend.write(written, changes, batch_ts) {
        backend.rollback();
        return Err(e);
    }
    backend.commit()?;
    Ok(true)
}
