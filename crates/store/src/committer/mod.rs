//! The group committer: the ledger's only writer (see the crate docs).
//!
//! One thread (the committer) gathers requests into batches and applies them to the ledger's working
//! set; a batch of plain transfers and accounts is then written and committed by a second thread (the
//! writer, `writer.rs`) while the committer applies the next one (`pipelined.rs`). A batch whose requests
//! bring guards or effects runs serially, all of it on the committer, inside its transaction.

mod pipelined;
mod writer;

use crate::backend::Backend;
use crate::{Clock, Metrics, Result, StoreError};
use ledger::{AccountResult, BATCH_EVENTS_MAX, Changes, Id, Ledger, NewAccount, NewTransfer, Outcome, TransferResult};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, Clone)]
pub struct CommitterConfig {
    /// Requests waiting in the queue before senders wait (back-pressure).
    pub queue_requests_max: usize,
    /// Pending transfers expired per batch at most (the rest wait for the next batch).
    pub expiries_per_batch_max: usize,
    /// How often an idle committer looks for pending transfers to expire.
    pub idle_tick_ms: u64,
    /// Attempts for a batch that conflicts with another instance's (PostgreSQL).
    pub conflict_retries_max: u32,
    /// Apply a batch of plain transfers while the batch before it is written (see `pipelined.rs`);
    /// `false` runs every batch serially (for comparison in benchmarks).
    pub pipelined: bool,
}

impl Default for CommitterConfig {
    fn default() -> CommitterConfig {
        CommitterConfig {
            queue_requests_max: 4096,
            expiries_per_batch_max: 1024,
            idle_tick_ms: 100,
            conflict_retries_max: 16,
            pipelined: true,
        }
    }
}

/// A statement run in the batch's database transaction, for business rows that must agree with the
/// ledger whatever crashes: an order marked paid and its notification queued commit with the payment
/// or not at all. Used two ways (see [`Conditions`]).
#[derive(Debug, Clone)]
pub struct Effect {
    pub sql: &'static str,
    pub params: Vec<crate::Value>,
}

/// What commits with a request's transfers.
/// - `guards` run first, each must change at least one row (`UPDATE orders SET ... WHERE id = $1 AND
///   trade_state = 'NOTPAY'`), or the request is refused as [`GuardFailed`] with its transfers never
///   applied: a business state and a movement of money change together, or neither does.
/// - `effects` run when no transfer failed (each is `created` or `exists`).
///
/// If a guarded request's transfers fail, its guards are rolled back too (a savepoint). A request with
/// one guard is first tried without the savepoint: its transfers tentatively, then the guard (see
/// `apply_behind_one_guard`); the outcome is the same, the savepoint's statements are saved. Effects must be
/// idempotent (a retry that answers `exists` runs them again) and must not fail: a failing statement
/// fails the whole batch.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub guards: Vec<Effect>,
    pub effects: Vec<Effect>,
}

/// A guard changed no row: the index of the first such guard. Nothing of the request was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardFailed(pub usize);

enum Op {
    Accounts(Vec<NewAccount>),
    Transfers(Vec<NewTransfer>, Conditions),
}

impl Op {
    fn len(&self) -> usize {
        match self {
            Op::Accounts(a) => a.len(),
            Op::Transfers(t, _) => t.len(),
        }
    }
}

enum Reply {
    Accounts(Vec<AccountResult>),
    Transfers(Vec<TransferResult>),
    GuardFailed(usize),
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Reply>>,
}

/// A cloneable handle on the committer thread. The thread stops when the last handle is dropped.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Request>,
}

/// A submitted request whose answer arrives once its batch is durable.
pub struct Pending<T> {
    rx: oneshot::Receiver<Result<Reply>>,
    unwrap: fn(Reply) -> T,
}

impl<T> Pending<T> {
    pub async fn wait(self) -> Result<T> {
        let reply = self.rx.await.map_err(|_| StoreError::Unavailable)??;
        Ok((self.unwrap)(reply))
    }

    pub fn wait_blocking(self) -> Result<T> {
        let reply = self.rx.blocking_recv().map_err(|_| StoreError::Unavailable)??;
        Ok((self.unwrap)(reply))
    }
}

fn accounts_of(reply: Reply) -> Vec<AccountResult> {
    match reply {
        Reply::Accounts(r) => r,
        _ => unreachable!("an accounts request gets an accounts reply"),
    }
}

fn transfers_of(reply: Reply) -> Vec<TransferResult> {
    match reply {
        Reply::Transfers(r) => r,
        _ => unreachable!("an unguarded transfers request gets a transfers reply"),
    }
}

fn guarded_of(reply: Reply) -> std::result::Result<Vec<TransferResult>, GuardFailed> {
    match reply {
        Reply::Transfers(r) => Ok(r),
        Reply::GuardFailed(i) => Err(GuardFailed(i)),
        Reply::Accounts(_) => unreachable!("a transfers request gets a transfers reply"),
    }
}

fn check_size(len: usize) -> Result<()> {
    if len > BATCH_EVENTS_MAX {
        return Err(StoreError::TooManyEvents { count: len, max: BATCH_EVENTS_MAX });
    }
    Ok(())
}

/// Opens a fresh connection for the committer when the database went away.
pub(crate) type Reconnect = Box<dyn Fn() -> Result<Box<dyn Backend>> + Send>;

impl Committer {
    pub(crate) fn start(
        backend: Box<dyn Backend>,
        reconnect: Reconnect,
        config: CommitterConfig,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Committer> {
        let (tx, rx) = mpsc::channel(config.queue_requests_max.max(1));
        let writer = writer::Writer::start(clock.clone(), metrics.clone())?;
        std::thread::Builder::new()
            .name("ledger-committer".into())
            .spawn(move || {
                let mut worker = Worker {
                    backend: Some(backend),
                    reconnect,
                    broken: false,
                    config,
                    clock,
                    metrics,
                    ledger: Ledger::new(),
                    last_ts: 0,
                    writer,
                    carried: pipelined::Carried::default(),
                    expiries_clear_until: 0,
                };
                worker.run(rx)
            })
            .map_err(|e| StoreError::Database(format!("spawning the committer: {e}")))?;
        Ok(Committer { tx })
    }

    fn submit(&self, op: Op) -> Result<oneshot::Receiver<Result<Reply>>> {
        let (reply, rx) = oneshot::channel();
        self.tx.blocking_send(Request { op, reply }).map_err(|_| StoreError::Unavailable)?;
        Ok(rx)
    }

    async fn submit_async(&self, op: Op) -> Result<oneshot::Receiver<Result<Reply>>> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Request { op, reply }).await.map_err(|_| StoreError::Unavailable)?;
        Ok(rx)
    }

    pub async fn create_accounts(&self, batch: Vec<NewAccount>) -> Result<Vec<AccountResult>> {
        check_size(batch.len())?;
        Pending { rx: self.submit_async(Op::Accounts(batch)).await?, unwrap: accounts_of }.wait().await
    }

    pub async fn create_transfers(&self, batch: Vec<NewTransfer>) -> Result<Vec<TransferResult>> {
        check_size(batch.len())?;
        self.create_transfers_with(batch, Vec::new()).await
    }

    /// Transfers plus the statements that commit with them when none failed (see [`Conditions`]).
    pub async fn create_transfers_with(&self, batch: Vec<NewTransfer>, effects: Vec<Effect>) -> Result<Vec<TransferResult>> {
        check_size(batch.len())?;
        let conditions = Conditions { guards: Vec::new(), effects };
        Pending { rx: self.submit_async(Op::Transfers(batch, conditions)).await?, unwrap: transfers_of }.wait().await
    }

    /// Transfers applied only if every guard changes a row, with effects (see [`Conditions`]).
    pub async fn create_transfers_guarded(
        &self,
        batch: Vec<NewTransfer>,
        conditions: Conditions,
    ) -> Result<std::result::Result<Vec<TransferResult>, GuardFailed>> {
        check_size(batch.len())?;
        Pending { rx: self.submit_async(Op::Transfers(batch, conditions)).await?, unwrap: guarded_of }.wait().await
    }

    /// From a plain thread (not inside an async runtime): queue accounts, get a handle on the answer.
    pub fn submit_accounts(&self, batch: Vec<NewAccount>) -> Result<Pending<Vec<AccountResult>>> {
        check_size(batch.len())?;
        Ok(Pending { rx: self.submit(Op::Accounts(batch))?, unwrap: accounts_of })
    }

    /// From a plain thread: queue transfers, get a handle on the answer (lets a caller keep several
    /// requests in flight).
    pub fn submit_transfers(&self, batch: Vec<NewTransfer>) -> Result<Pending<Vec<TransferResult>>> {
        self.submit_transfers_with(batch, Conditions::default())
    }

    /// From a plain thread: queue transfers with their conditions; an unguarded request's answer.
    pub fn submit_transfers_with(&self, batch: Vec<NewTransfer>, conditions: Conditions) -> Result<Pending<Vec<TransferResult>>> {
        check_size(batch.len())?;
        assert!(conditions.guards.is_empty(), "a guarded request is answered by create_transfers_guarded");
        Ok(Pending { rx: self.submit(Op::Transfers(batch, conditions))?, unwrap: transfers_of })
    }
}

fn answer(requests: Vec<Request>, replies: Vec<Reply>) {
    debug_assert_eq!(requests.len(), replies.len(), "one reply per request");
    for (request, reply) in requests.into_iter().zip(replies) {
        let _ = request.reply.send(Ok(reply)); // a waiter that gave up is fine
    }
}

fn fail(requests: Vec<Request>, e: StoreError) {
    for request in requests {
        let _ = request.reply.send(Err(e.clone()));
    }
}

/// The committer's connection, when it is home (not lent to the writer thread).
fn db(backend: &mut Option<Box<dyn Backend>>) -> &mut dyn Backend {
    backend.as_deref_mut().expect("the connection is home: the writer thread has finished with it")
}

struct Worker {
    /// `None` while the writer thread writes a batch with it (see `writer.rs`).
    backend: Option<Box<dyn Backend>>,
    reconnect: Reconnect,
    /// The connection was lost: the next batch reconnects first.
    broken: bool,
    config: CommitterConfig,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    ledger: Ledger,
    last_ts: u64,
    writer: writer::Writer,
    /// What the working set holds across pipelined batches (see `pipelined.rs`).
    carried: pipelined::Carried,
    /// No pending transfer in the database was due before this, when last looked at (see
    /// `pipelined.rs`): a pipelined batch must end before it.
    expiries_clear_until: u64,
}

/// What wakes the committer.
enum Event {
    Request(Request),
    /// The batch the writer thread had is committed, or refused.
    Landed(writer::Landing),
    /// Idle for a tick: look for pending transfers to expire.
    Tick,
    /// Every handle is dropped.
    Closed,
}

/// The ids a batch refers to.
struct Needs {
    /// Transfers named (new ones, retries, pending transfers posted or voided), valid, sorted, unique.
    transfer_ids: Vec<Id>,
    account_ids: Vec<Id>,
    pending_ids: Vec<Id>,
}

impl Needs {
    fn of(requests: &[Request], due: &[Id]) -> Needs {
        let mut transfer_ids: Vec<Id> = due.to_vec();
        let mut account_ids: Vec<Id> = Vec::new();
        let mut pending_ids: Vec<Id> = due.to_vec();
        for request in requests {
            match &request.op {
                Op::Accounts(batch) => account_ids.extend(batch.iter().map(|a| a.id)),
                Op::Transfers(batch, _) => {
                    for t in batch {
                        transfer_ids.push(t.id);
                        account_ids.push(t.debit_account_id);
                        account_ids.push(t.credit_account_id);
                        if t.pending_id != 0 {
                            transfer_ids.push(t.pending_id);
                            pending_ids.push(t.pending_id);
                        }
                    }
                }
            }
        }
        transfer_ids.retain(valid);
        transfer_ids.sort_unstable();
        transfer_ids.dedup();
        Needs { transfer_ids, account_ids, pending_ids }
    }

    /// The accounts named, with those of the pending transfers the working set holds: valid, sorted,
    /// unique (a post or void touches the pending transfer's accounts, which the request may not name).
    fn accounts(&self, ledger: &Ledger) -> Vec<Id> {
        let mut ids = self.account_ids.clone();
        for t in self.pending_ids.iter().filter_map(|id| ledger.transfer(*id)) {
            ids.push(t.debit_account_id);
            ids.push(t.credit_account_id);
        }
        ids.retain(valid);
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// 0 and `u128::MAX` are reserved: never an account or a transfer.
fn valid(id: &Id) -> bool {
    *id != 0 && *id != u128::MAX
}

/// What applying a batch to the working set gave.
struct Applied {
    replies: Vec<Reply>,
    changes: Changes,
    stats: BatchStats,
    /// The batch's last timestamp.
    last_ts: u64,
}

impl Worker {
    fn run(&mut self, mut rx: mpsc::Receiver<Request>) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a current-thread runtime");
        match db(&mut self.backend).max_timestamp() {
            Ok(ts) => self.last_ts = ts,
            Err(e) => tracing::error!(error = %e, "reading the ledger's last timestamp"),
        }
        let tick = Duration::from_millis(self.config.idle_tick_ms.max(1));
        let mut carry: Option<Request> = None;
        loop {
            let event = match carry.take() {
                Some(r) => Event::Request(r),
                None => runtime.block_on(next_event(&mut rx, &mut self.writer, tick)),
            };
            let first = match event {
                Event::Request(r) => Some(r),
                Event::Landed(landing) => {
                    self.landed(landing);
                    continue;
                }
                Event::Tick => None, // only expiries
                Event::Closed => {
                    self.settle();
                    return;
                }
            };
            let mut requests: Vec<Request> = Vec::new();
            let mut events = 0;
            if let Some(r) = first {
                events += r.op.len();
                requests.push(r);
                while events < BATCH_EVENTS_MAX {
                    match rx.try_recv() {
                        Ok(r) if events + r.op.len() > BATCH_EVENTS_MAX => {
                            carry = Some(r);
                            break;
                        }
                        Ok(r) => {
                            events += r.op.len();
                            requests.push(r);
                        }
                        Err(_) => break,
                    }
                }
            }
            self.process(requests);
        }
    }

    /// After a lost connection, a fresh one (and the ledger's latest timestamp, which another instance may
    /// have moved on meanwhile). While the database cannot be reached, requests are refused at once.
    fn reconnected(&mut self) -> Result<()> {
        if !self.broken {
            return Ok(());
        }
        let mut backend = (self.reconnect)()?;
        self.last_ts = self.last_ts.max(backend.max_timestamp()?);
        self.backend = Some(backend);
        self.broken = false;
        tracing::info!("the committer is connected to the database again");
        Ok(())
    }

    fn process(&mut self, requests: Vec<Request>) {
        if self.pipelinable(&requests) { self.process_pipelined(requests) } else { self.process_serially(requests) }
    }

    /// A batch in one transaction on this thread: its guards and effects run between its transfers.
    fn process_serially(&mut self, requests: Vec<Request>) {
        self.settle();
        if let Err(e) = self.reconnected() {
            if !requests.is_empty() {
                tracing::warn!(error = %e, "the database is still unreachable; refusing the batch");
            }
            return fail(requests, e);
        }
        let now = self.clock.now_ns();
        let due = match db(&mut self.backend).due_expiries(now, self.config.expiries_per_batch_max) {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "looking for due pending transfers");
                self.broken |= e.is_unavailable();
                Vec::new()
            }
        };
        if requests.is_empty() && due.is_empty() {
            return;
        }
        match self.commit(&requests, &due, now) {
            Ok(replies) => answer(requests, replies),
            Err(e) if !e.is_caused_by_a_request() || requests.is_empty() => {
                // A lost connection leaves each request in doubt: it is told the database is unreachable,
                // and its retry (same ids) finds what did commit.
                self.broken |= e.is_unavailable();
                tracing::error!(error = %e, "ledger batch failed; nothing of it was committed");
                fail(requests, e);
            }
            Err(e) => {
                // One request's statement failed the batch's transaction. Commit the expiries on their own
                // (they must never wait on a bad request), then find the culprit by halving, so every
                // other request in the batch still commits and only the culprit hears of the error.
                tracing::warn!(error = %e, requests = requests.len(), "a batch failed; isolating the request that caused it");
                if !due.is_empty()
                    && let Err(e) = self.commit(&[], &due, now)
                {
                    tracing::error!(error = %e, "expiring pending transfers failed");
                }
                self.isolate(requests, now);
            }
        }
    }

    /// Commit `requests` in halves until every request has committed or failed alone.
    fn isolate(&mut self, requests: Vec<Request>, now: u64) {
        match self.commit(&requests, &[], now) {
            Ok(replies) => answer(requests, replies),
            Err(e) if requests.len() == 1 || !e.is_caused_by_a_request() => {
                if requests.len() == 1 {
                    tracing::warn!(error = %e, "a request failed on its own; its neighbours were committed without it");
                }
                fail(requests, e);
            }
            Err(_) => {
                let mut first = requests;
                let second = first.split_off(first.len() / 2);
                self.isolate(first, now);
                self.isolate(second, now);
            }
        }
    }

    /// One batch in one database transaction, retried whole when it collides with another writer.
    fn commit(&mut self, requests: &[Request], due: &[Id], now: u64) -> Result<Vec<Reply>> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match self.attempt(requests, due, now) {
                // Another writer committed one of our ids first (Duplicate) or we collided (Conflict):
                // the retry looks everything up again.
                Err(StoreError::Conflict(detail) | StoreError::Duplicate(detail)) if attempt < self.config.conflict_retries_max => {
                    attempt += 1;
                    self.metrics.batch_retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%detail, attempt, "batch conflicted with another writer; retrying");
                }
                Ok(replies) => {
                    self.metrics.batches.fetch_add(1, Ordering::Relaxed);
                    self.metrics.batch_events.observe(events(requests));
                    self.metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
                    return Ok(replies);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One database transaction for the whole batch; nothing is answered until it has committed.
    fn attempt(&mut self, requests: &[Request], due: &[Id], now: u64) -> Result<Vec<Reply>> {
        self.ledger.clear();
        self.carried.active = false;
        let needs = Needs::of(requests, due);
        db(&mut self.backend).begin()?;
        let result = self.attempt_in_transaction(requests, due, now, &needs);
        let db = db(&mut self.backend);
        match result {
            Ok(replies) => {
                db.commit()?;
                Ok(replies)
            }
            Err(e) => {
                db.rollback();
                Err(e)
            }
        }
    }

    fn attempt_in_transaction(&mut self, requests: &[Request], due: &[Id], now: u64, needs: &Needs) -> Result<Vec<Reply>> {
        let accounts_last_ts = self.load(needs)?;
        // Every event of this batch is later than anything it depends on: the journal replays in
        // timestamp order even when several instances write to one database.
        let first_ts = now.max(self.last_ts + 1).max(accounts_last_ts + 1);
        assert!(first_ts > accounts_last_ts);
        let Applied { replies, changes, stats, last_ts } = self.apply(requests, due, first_ts)?;
        if !changes.is_empty() {
            db(&mut self.backend).write(&self.ledger, &changes, last_ts)?;
        }
        self.last_ts = last_ts;
        self.record(stats);
        Ok(replies)
    }

    /// Apply a batch to the working set: the due expiries, then each request in turn, the batch's event
    /// `i` at `first_ts + i`. Only requests' guards and effects run statements.
    fn apply(&mut self, requests: &[Request], due: &[Id], first_ts: u64) -> Result<Applied> {
        assert!(first_ts > self.last_ts, "the ledger's clock never goes back");
        let mut ts = first_ts;
        let mut changes = Changes::default();
        let mut stats = BatchStats::default();
        for id in due {
            if self.ledger.expire(*id, ts, &mut changes) {
                stats.expired += 1;
                ts += 1;
            }
        }
        let mut replies = Vec::with_capacity(requests.len());
        for request in requests {
            let reply = match &request.op {
                Op::Accounts(batch) => {
                    let results = self.ledger.create_accounts(batch, ts, &mut changes);
                    stats.accounts_created += results.iter().filter(|r| **r == Ok(Outcome::Created)).count() as u64;
                    Reply::Accounts(results)
                }
                Op::Transfers(batch, conditions) => self.apply_transfers(batch, conditions, ts, &mut changes, &mut stats)?,
            };
            ts += request.op.len() as u64;
            replies.push(reply);
        }
        changes.finish();
        assert_eq!(replies.len(), requests.len(), "every request is answered");
        Ok(Applied { replies, changes, stats, last_ts: ts.saturating_sub(1).max(first_ts) })
    }

    /// Read what the batch touches into the ledger (inside its write turn); returns the accounts' latest
    /// timestamp.
    fn load(&mut self, needs: &Needs) -> Result<u64> {
        // Ids above the journal's largest are new (ids are time-ordered): no lookup. The batch is the
        // ledger's only writer while it runs (`Backend::begin`), so that largest id stays the largest; were
        // one taken all the same, the primary key would refuse our insert and the batch be retried.
        let db = db(&mut self.backend);
        let max_id = db.max_journal_id()?;
        let old: Vec<Id> = needs.transfer_ids.iter().copied().filter(|id| *id <= max_id).collect();
        db.read_transfers(&old, &mut self.ledger)?;
        db.read_batch_accounts(&needs.accounts(&self.ledger), &mut self.ledger)
    }

    /// One request's transfers behind its guards: a guard that changes no row skips the request (nothing
    /// of it applies); the effects run only if every transfer succeeded; a failed chain undoes its guards.
    fn apply_transfers(
        &mut self,
        batch: &[NewTransfer],
        conditions: &Conditions,
        ts: u64,
        changes: &mut Changes,
        stats: &mut BatchStats,
    ) -> Result<Reply> {
        if let [guard] = conditions.guards.as_slice()
            && let Some(reply) = self.apply_behind_one_guard(batch, guard, &conditions.effects, ts, changes, stats)?
        {
            return Ok(reply);
        }
        let guarded = !conditions.guards.is_empty();
        if guarded {
            db(&mut self.backend).savepoint("SAVEPOINT guarded")?;
            for (i, guard) in conditions.guards.iter().enumerate() {
                if db(&mut self.backend).execute(guard.sql, &guard.params)? == 0 {
                    db(&mut self.backend).savepoint("ROLLBACK TO SAVEPOINT guarded")?;
                    db(&mut self.backend).savepoint("RELEASE SAVEPOINT guarded")?;
                    return Ok(Reply::GuardFailed(i));
                }
            }
        }
        let results = self.ledger.create_transfers(batch, ts, changes);
        stats.count(&results);
        if results.iter().all(|r| r.is_ok()) {
            for effect in &conditions.effects {
                db(&mut self.backend).execute(effect.sql, &effect.params)?;
            }
        } else if guarded {
            db(&mut self.backend).savepoint("ROLLBACK TO SAVEPOINT guarded")?;
        }
        if guarded {
            db(&mut self.backend).savepoint("RELEASE SAVEPOINT guarded")?;
        }
        Ok(Reply::Transfers(results))
    }

    /// The common case of a guarded request without a savepoint (two statements fewer, and on
    /// PostgreSQL two round trips): one guard, and transfers that all succeed. The transfers apply first,
    /// tentatively (in memory; nothing reaches the database before the batch's write), then the guard
    /// runs: if it changes no row it changed nothing, and undoing the transfers leaves nothing of the
    /// request. `None`: a transfer failed, its trace is undone, and the request takes the general path,
    /// which runs the guard first as ever, so the answer and any failure recorded are exactly the same.
    /// This rests on a guard that changes no row having no other effect either (one `UPDATE ... WHERE`
    /// or `INSERT ... ON CONFLICT DO NOTHING`, and no triggers in the schema): a guard with side effects
    /// of its own would need the savepoint back.
    fn apply_behind_one_guard(
        &mut self,
        batch: &[NewTransfer],
        guard: &Effect,
        effects: &[Effect],
        ts: u64,
        changes: &mut Changes,
        stats: &mut BatchStats,
    ) -> Result<Option<Reply>> {
        let begun = self.ledger.begin_tentative(changes);
        let results = self.ledger.create_transfers(batch, ts, changes);
        if !results.iter().all(|r| r.is_ok()) {
            self.ledger.undo_tentative(changes, begun);
            return Ok(None);
        }
        match db(&mut self.backend).execute(guard.sql, &guard.params) {
            Ok(0) => {
                self.ledger.undo_tentative(changes, begun);
                return Ok(Some(Reply::GuardFailed(0)));
            }
            Ok(_) => self.ledger.keep_tentative(begun),
            Err(e) => {
                self.ledger.undo_tentative(changes, begun);
                return Err(e);
            }
        }
        stats.count(&results);
        for effect in effects {
            db(&mut self.backend).execute(effect.sql, &effect.params)?;
        }
        Ok(Some(Reply::Transfers(results)))
    }

    fn record(&self, stats: BatchStats) {
        record(&self.metrics, stats)
    }
}

/// The next thing to do: a request (first, so a busy committer keeps batching), the writer's batch
/// landing, or a tick when idle.
async fn next_event(rx: &mut mpsc::Receiver<Request>, writer: &mut writer::Writer, tick: Duration) -> Event {
    let in_flight = writer.in_flight();
    tokio::select! {
        biased;
        r = rx.recv() => r.map_or(Event::Closed, Event::Request),
        Some(landing) = writer.landing(), if in_flight => Event::Landed(landing),
        _ = tokio::time::sleep(tick) => Event::Tick,
    }
}

/// What one batch did, into the metrics.
fn record(metrics: &Metrics, stats: BatchStats) {
    metrics.accounts_created.fetch_add(stats.accounts_created, Ordering::Relaxed);
    metrics.transfers_created.fetch_add(stats.transfers_created, Ordering::Relaxed);
    metrics.transfers_expired.fetch_add(stats.expired, Ordering::Relaxed);
    if !stats.failures.is_empty() {
        let mut by_code = metrics.transfers_failed.lock().expect("metrics lock");
        for code in stats.failures {
            *by_code.entry(code).or_default() += 1;
        }
    }
}

/// A batch's count of events, for the metrics.
fn events(requests: &[Request]) -> f64 {
    requests.iter().map(|r| r.op.len()).sum::<usize>() as f64
}

/// What one batch did, for the metrics.
#[derive(Default)]
struct BatchStats {
    accounts_created: u64,
    transfers_created: u64,
    expired: u64,
    failures: Vec<&'static str>,
}

impl BatchStats {
    fn count(&mut self, results: &[TransferResult]) {
        for r in results {
            match r {
                Ok(Outcome::Created) => self.transfers_created += 1,
                Ok(Outcome::Exists) => {}
                Err(e) => self.failures.push(e.code()),
            }
        }
    }
}
