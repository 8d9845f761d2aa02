//! What every domain runs on: the connection pool for business rows, the ledger's group committer, the
//! clock, the configuration and the server secret. Every call here is at most one hop to the store: a
//! read on SQLite runs on the caller's thread (see [`Core::read`]), a write or a PostgreSQL statement on a
//! blocking thread, a commit through the committer's queue.

use crate::{PlatformConfig, PlatformError, Result};
use ledger::{Account, NewAccount, NewTransfer, PendingRecord, Transfer, TransferError, TransferResult};
use std::sync::Arc;
use store::{Clock, Committer, Conditions, Conn, Db, Effect};

/// SQLite readers used in place at most (one per runtime thread is enough: a read never yields).
const READERS_MAX: usize = 16;

pub(crate) struct Core {
    db: Arc<Db>,
    /// SQLite's read-only connections, used in place (`None` on PostgreSQL).
    reader: Option<Db>,
    ledger: Committer,
    store: Arc<store::Store>,
    clock: Arc<dyn Clock>,
    pub config: PlatformConfig,
    /// Keys every MAC and seal (PINs, openids, order tokens, sealed secrets).
    secret: Vec<u8>,
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// The hot caches' forgetting, across instances (see `invalidation`).
    pub invalidations: crate::invalidation::Invalidations,
    /// Stops the listener for other instances' announcements when the platform is dropped.
    stop_listening: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Core {
    fn drop(&mut self) {
        self.stop_listening.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One committer request: business rows that must change (guards), the ledger chain, and rows written
/// with it (effects), in one database transaction (see `store::Conditions`).
#[derive(Debug, Default)]
pub(crate) struct Commit {
    pub guards: Vec<Effect>,
    pub transfers: Vec<NewTransfer>,
    pub effects: Vec<Effect>,
}

/// How a [`Commit`] went.
#[derive(Debug)]
pub(crate) enum Committed {
    /// Guards held; the ledger's answer per transfer (rows only stand if every transfer did).
    Applied(Vec<TransferResult>),
    /// The guard at this index changed no row: nothing was applied.
    GuardFailed(usize),
}

/// What a chain of transfers built from one business object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chain {
    /// Every transfer was created now.
    Created,
    /// The chain was committed before: its first transfer exists (and broke the repeat, as a chain does),
    /// so the whole chain exists. Sound because every transfer of a chain is derived from the same object.
    Repeated,
}

/// Await every future, concurrently, in order (a small `join_all` without a dependency).
pub(crate) async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.expect("every future finished")).collect()
}

/// Post (in full) or void pending transfers as one linked chain: each `(id, pending_id)` pair is one
/// resolution, in the order given (a hold's limit legs, then the hold, then what follows it).
pub(crate) fn resolve_pending(pairs: &[(u128, u128)], post: bool, user_data: u128) -> Vec<NewTransfer> {
    let (flags, amount) =
        if post { (ledger::TransferFlags::POST_PENDING, ledger::AMOUNT_ALL) } else { (ledger::TransferFlags::VOID_PENDING, 0) };
    let last = pairs.len().saturating_sub(1);
    pairs
        .iter()
        .enumerate()
        .map(|(i, &(id, pending_id))| NewTransfer {
            id,
            debit_account_id: 0,
            credit_account_id: 0,
            amount,
            pending_id,
            currency: None,
            code: 0,
            flags: if i < last { flags.union(ledger::TransferFlags::LINKED) } else { flags },
            timeout_s: 0,
            user_data,
        })
        .collect()
}

/// Link each transfer to the next (all or none); the last one's flags stay as given (it closes the
/// chain unless it was made linked itself, which the ledger refuses as a chain left open).
pub(crate) fn linked(mut chain: Vec<NewTransfer>) -> Vec<NewTransfer> {
    let last = chain.len().saturating_sub(1);
    for t in &mut chain[..last] {
        t.flags = t.flags.union(ledger::TransferFlags::LINKED);
    }
    chain
}

/// The chain's outcome, or the refusal that failed it (not the `linked_event_failed` of its victims).
pub(crate) fn chain_outcome(results: &[TransferResult]) -> std::result::Result<Chain, TransferError> {
    use ledger::Outcome;
    if results.iter().all(|r| *r == Ok(Outcome::Created)) {
        return Ok(Chain::Created);
    }
    let victim = |r: &TransferResult| matches!(r, Err(TransferError::LinkedEventFailed));
    if results.first() == Some(&Ok(Outcome::Exists)) && results[1..].iter().all(victim) {
        return Ok(Chain::Repeated);
    }
    Err(results.iter().filter_map(|r| r.err()).find(|e| *e != TransferError::LinkedEventFailed).unwrap_or(TransferError::LinkedEventFailed))
}

impl Core {
    pub fn new(
        db: Arc<Db>,
        ledger: Committer,
        store: Arc<store::Store>,
        clock: Arc<dyn Clock>,
        config: PlatformConfig,
        secret: Vec<u8>,
    ) -> Result<Core> {
        let reader = db.reader(READERS_MAX)?;
        Ok(Core {
            db,
            reader,
            ledger,
            store,
            clock,
            config,
            secret,
            outbox_wake: Default::default(),
            invalidations: Default::default(),
            stop_listening: Default::default(),
        })
    }

    /// Listen for other instances' announcements (PostgreSQL; nothing to hear on SQLite).
    pub fn listen(self: &Arc<Core>) {
        let core = Arc::downgrade(self);
        let url = self.store.url().clone();
        store::listen::listen(&url, crate::invalidation::CHANNEL, self.stop_listening.clone(), move |message| {
            if let Some(core) = core.upgrade() {
                core.invalidations.deliver(message);
            }
        });
    }

    /// Tell every instance, this one too, that a cached `key` of `topic` changed (`None`: all of it).
    /// Called after the change committed, so an instance that reloads on the message reads the change.
    /// An announcement that cannot be sent leaves other instances to the caches' TTL, the stated bound.
    pub async fn announce(&self, topic: crate::invalidation::Topic, key: Option<&str>) {
        if self.db.dialect() != store::Dialect::Postgres {
            return;
        }
        let message = crate::invalidation::message(topic, key);
        if let Err(e) = self.write(move |c| store::listen::notify(c, crate::invalidation::CHANNEL, &message)).await {
            tracing::warn!(error = %e, "a cache change could not be announced: other instances see it within the cache's TTL");
        }
    }

    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ns() / 1_000_000).expect("ms since 1970 fit an i64")
    }

    /// Reads on one pooled connection. On SQLite they run right here on the runtime's thread: a WAL reader
    /// never waits for a writer, and an indexed read costs microseconds, less than the two thread switches
    /// of a blocking hop (which were most of a request's CPU, measured). On PostgreSQL, one blocking hop.
    /// A write in `f` is refused before it runs (`StoreError::ReadOnly`, nothing written): a bug that
    /// debug builds, and so the tests, stop at.
    pub async fn read<T: Send + 'static>(&self, f: impl FnOnce(&mut dyn Conn) -> store::Result<T> + Send + 'static) -> Result<T> {
        let Some(reader) = &self.reader else { return self.write(f).await };
        let result = reader.with(f);
        debug_assert!(!matches!(result, Err(store::StoreError::ReadOnly)), "a write through Core::read: use Core::write");
        result.map_err(Into::into)
    }

    /// Writes that need no transaction (each statement commits on its own), in one blocking hop.
    pub async fn write<T: Send + 'static>(&self, f: impl FnOnce(&mut dyn Conn) -> store::Result<T> + Send + 'static) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.with(f))
            .await
            .map_err(|e| PlatformError::Internal(format!("worker panicked: {e}")))?
            .map_err(Into::into)
    }

    /// A write transaction (retried whole on a conflict, so `f` has no effect outside the database).
    pub async fn transaction<T: Send + 'static>(&self, f: impl FnMut(&mut dyn Conn) -> store::Result<T> + Send + 'static) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.transaction(f))
            .await
            .map_err(|e| PlatformError::Internal(format!("worker panicked: {e}")))?
            .map_err(Into::into)
    }

    /// `f` in one write transaction with what must commit with it: each guard must change a row first
    /// (else the transaction is rolled back and the answer is `None`), then `f`, then the effects (an
    /// audit row, say).
    pub async fn transaction_with<T: Send + 'static>(
        &self,
        conditions: Conditions,
        mut f: impl FnMut(&mut dyn Conn) -> store::Result<T> + Send + 'static,
    ) -> Result<Option<T>> {
        let db = self.db.clone();
        let done = tokio::task::spawn_blocking(move || {
            db.transaction(|c| {
                for (i, guard) in conditions.guards.iter().enumerate() {
                    if c.execute(guard.sql, &guard.params)? == 0 {
                        return Err(store::StoreError::GuardFailed(i));
                    }
                }
                let value = f(c)?;
                for effect in &conditions.effects {
                    c.execute(effect.sql, &effect.params)?;
                }
                Ok(value)
            })
        })
        .await
        .map_err(|e| PlatformError::Internal(format!("worker panicked: {e}")))?;
        match done {
            Ok(value) => Ok(Some(value)),
            Err(store::StoreError::GuardFailed(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `ledger verify` on the live database, off the runtime (it reads the whole journal).
    pub async fn verify_ledger(&self) -> Result<store::VerifyReport> {
        let store = self.store.clone();
        self.blocking(move || store.verify()).await?.map_err(Into::into)
    }

    /// Blocking work off the async runtime (argon2, the rail's sandbox).
    pub async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        tokio::task::spawn_blocking(f).await.map_err(|e| PlatformError::Internal(format!("worker panicked: {e}")))
    }

    /// One committer request: many requests share one transaction (one fsync).
    pub async fn commit(&self, commit: Commit) -> Result<Committed> {
        let conditions = Conditions { guards: commit.guards, effects: commit.effects };
        Ok(match self.ledger.create_transfers_guarded(commit.transfers, conditions).await? {
            Ok(results) => Committed::Applied(results),
            Err(store::GuardFailed(i)) => Committed::GuardFailed(i),
        })
    }

    /// Business rows only, through the committer (guards must hold, see [`Commit`]); `false` when a guard
    /// changed no row.
    pub async fn commit_rows(&self, guards: Vec<Effect>, effects: Vec<Effect>) -> Result<bool> {
        Ok(matches!(self.commit(Commit { guards, effects, transfers: Vec::new() }).await?, Committed::Applied(_)))
    }

    /// Have the ledger expire every pending transfer due now, and wait until it has. (Every batch sees
    /// what is due by its time expired first, and the idle tick expires it too; an empty batch always
    /// runs serially, which looks for what is due now.)
    pub async fn expire_due(&self) -> Result<()> {
        self.transfers(Vec::new()).await.map(|_| ())
    }

    pub async fn transfers(&self, batch: Vec<NewTransfer>) -> Result<Vec<TransferResult>> {
        Ok(self.ledger.create_transfers(batch).await?)
    }

    /// Create accounts; an existing identical one is fine, anything else is a bug.
    pub async fn accounts(&self, accounts: Vec<NewAccount>) -> Result<()> {
        let results = self.ledger.create_accounts(accounts).await?;
        match results.iter().find_map(|r| r.err()) {
            None => Ok(()),
            Some(e) => Err(PlatformError::Internal(format!("creating ledger accounts: {}", e.code()))),
        }
    }

    /// Create accounts and hand back every result (the operator's raw ledger access).
    pub async fn raw_accounts(&self, accounts: Vec<NewAccount>) -> Result<Vec<ledger::AccountResult>> {
        Ok(self.ledger.create_accounts(accounts).await?)
    }

    /// The database answers.
    pub async fn ready(&self) -> Result<()> {
        let store = self.store.clone();
        self.blocking(move || store.schema_version()).await??;
        Ok(())
    }

    /// The store's metrics (ledger counters, batch sizes, commit latency), in Prometheus' text format.
    pub fn render_metrics(&self, out: &mut String) {
        self.store.metrics.render(out);
    }

    /// A read of the ledger's own tables. On SQLite it runs in place, as `read` does (a WAL reader never
    /// waits for the writer; a few indexed rows cost microseconds, less than the two thread switches of a
    /// hop); on PostgreSQL, a network round trip, it hops to a blocking thread.
    async fn ledger_read<T: Send + 'static>(&self, f: impl FnOnce(&store::Store) -> store::Result<T> + Send + 'static) -> Result<T> {
        if self.reader.is_some() {
            return f(&self.store).map_err(Into::into);
        }
        let store = self.store.clone();
        self.blocking(move || f(&store)).await?.map_err(Into::into)
    }

    pub async fn account(&self, id: u128) -> Result<Option<Account>> {
        self.ledger_read(move |store| store.account(id)).await
    }

    pub async fn ledger_transfer(&self, id: u128) -> Result<Option<(Transfer, Option<PendingRecord>)>> {
        self.ledger_read(move |store| store.transfer(id)).await
    }

    /// Several ledger transfers in one read (a history page's holds).
    pub async fn ledger_transfers(&self, ids: Vec<u128>) -> Result<Vec<store::FoundTransfer>> {
        self.ledger_read(move |store| store.transfers(&ids)).await
    }

    /// The id of the object a request makes: derived from who asked, what for and their idempotency key
    /// when there is one (so the same request can only ever make the same object), else fresh.
    pub fn request_id(&self, purpose: &str, person: crate::PersonId, key: Option<&str>) -> i64 {
        match key {
            Some(key) => {
                let mut data = person.get().to_be_bytes().to_vec();
                data.extend_from_slice(key.as_bytes());
                crate::ids::keyed_object_id(&self.mac(purpose, &data))
            }
            None => crate::ids::object_id(self.now_ms()),
        }
    }

    /// HMAC-SHA256 under the server secret, with a label per purpose.
    pub fn mac(&self, label: &str, data: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(label.len() + 1 + data.len());
        message.extend_from_slice(label.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(data);
        crate::crypto::hmac_sha256(&self.secret, &message)
    }

    /// The legacy MAC shape (`hmac(secret, text)`), kept where stored values depend on it.
    pub fn mac_raw(&self, data: &[u8]) -> Vec<u8> {
        crate::crypto::hmac_sha256(&self.secret, data)
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        crate::crypto::seal(&self.secret, plaintext)
    }

    pub fn unseal(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        crate::crypto::unseal(&self.secret, sealed)
            .ok_or_else(|| PlatformError::Internal("a sealed value does not unseal: is QIANBAO_SECRET the one it was sealed with?".into()))
    }
}
