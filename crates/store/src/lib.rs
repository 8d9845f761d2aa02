//! Durable state for Qianbao: the ledger's schema and migrations on SQLite (the embedded default) and
//! PostgreSQL (production), and the **group committer** that is the only writer of the ledger.
//!
//! The committer (DESIGN.md section 3): requests from every connection go into one bounded queue; a
//! thread takes as many as are waiting (up to [`ledger::BATCH_EVENTS_MAX`] events), loads what they refer
//! to, applies them in memory through the pure [`ledger`] engine, writes the journal rows and the *netted*
//! balance changes (an account touched a thousand times in a batch is written once) in one database
//! transaction, commits, and only then answers every waiter. Light load gives small batches (latency),
//! heavy load large ones (throughput).
//!
//! A batch of plain transfers and accounts (no guards, no effects) is *pipelined*: a second thread writes
//! and fsyncs it while the committer applies the next batch on the working set the batches before left in
//! memory, so the state machine and the database use the two cores at once. The next batch is handed over
//! only once the one before has committed; a batch that finds another writer came between (the working
//! set it was applied on is stale) is refused where it is written and runs again serially, as does any
//! batch applied on it. A batch with guards or effects runs serially: its statements decide its transfers.
//!
//! On PostgreSQL a batch first takes the ledger's write turn: it adds one to the single `ledger_writes`
//! row, whose lock it holds until it commits. So several `qianbao` processes on one database write the
//! ledger one batch at a time, never double-spend and never deadlock on balance rows, and each batch reads
//! the balances it touches without locking them. A committer that finds the count moved by exactly its own
//! batches knows no other instance wrote, and reads the accounts it wrote last from memory. (A row lock
//! per account read, the earlier design, cost more than a third of a batch's time in PostgreSQL.)

mod backend;
mod clock;
mod committer;
pub mod db;
pub mod listen;
mod metrics;
mod pool;
mod postgres_backend;
mod sqlite_backend;
mod verify;

pub use clock::{Clock, ManualClock, SystemClock};
pub use committer::{Committer, CommitterConfig, Conditions, Effect, GuardFailed, Pending};
pub use db::{Conn, Db, Dialect, Row, Value};
pub use metrics::{Histogram, Metrics};
pub use verify::VerifyReport;

use backend::Backend;
use ledger::{Account, FailedTransfer, Id, PendingRecord, Transfer};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A store failure. Database errors carry the driver's message (never the data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database URL is not `sqlite://PATH`, a plain path, or `postgres://...`.
    BadUrl(String),
    Database(String),
    /// A transient collision with another writer (busy, deadlock, serialization failure): retry.
    Conflict(String),
    /// A unique key already exists (for the committer: another writer committed the same id first).
    Duplicate(String),
    /// The committer has stopped (shutdown, or a fatal database error).
    Unavailable,
    /// A write was tried on a read-only connection (`Db::reader`): nothing was written.
    ReadOnly,
    /// The database cannot be reached (connection refused or lost, I/O failure): nothing was written.
    Unreachable(String),
    /// The request carries more events than one batch may hold.
    TooManyEvents {
        count: usize,
        max: usize,
    },
    /// A transaction's guard (a statement that must change a row) changed none: the transaction was rolled
    /// back, nothing of it written. The index of the guard.
    GuardFailed(usize),
    /// The schema is newer than this binary knows.
    SchemaTooNew {
        found: i64,
        known: i64,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::BadUrl(u) => write!(f, "unsupported database URL {u:?}: use a path, sqlite://PATH or postgres://USER@HOST/DB"),
            StoreError::Database(e) => write!(f, "database error: {e}"),
            StoreError::Conflict(e) => write!(f, "conflict with a concurrent writer: {e}"),
            StoreError::Duplicate(e) => write!(f, "duplicate key: {e}"),
            StoreError::Unavailable => write!(f, "the ledger committer is not running"),
            StoreError::ReadOnly => write!(f, "a write on a read-only connection (a bug: write through the writer pool)"),
            StoreError::Unreachable(e) => write!(f, "the database cannot be reached: {e}"),
            StoreError::GuardFailed(i) => write!(f, "guard {i} changed no row: nothing was written"),
            StoreError::TooManyEvents { count, max } => {
                write!(f, "{count} events in one request; at most {max}")
            }
            StoreError::SchemaTooNew { found, known } => {
                write!(f, "database schema version {found} is newer than this binary ({known}): upgrade qianbao")
            }
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// Whether the error came from a statement of one request (a constraint, a bad value) rather than
    /// from the database as a whole (unreachable, stopped, overloaded): the committer then finds that
    /// request and fails it alone.
    pub fn is_caused_by_a_request(&self) -> bool {
        matches!(self, StoreError::Database(_) | StoreError::Duplicate(_))
    }

    /// Whether the database is unreachable or the committer stopped: the caller should answer 503 and
    /// may retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable | StoreError::Unreachable(_))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) if e.to_string().contains("UNIQUE") || e.to_string().contains("PRIMARY") => {
                StoreError::Duplicate(e.to_string())
            }
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => StoreError::Conflict(e.to_string()),
            Some(
                rusqlite::ErrorCode::SystemIoFailure
                | rusqlite::ErrorCode::DiskFull
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::ReadOnly,
            ) => StoreError::Unreachable(e.to_string()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        // The driver's Display hides the server's message; the source has it.
        match e.as_db_error() {
            Some(d) => {
                let detail = format!("{}: {}", d.code().code(), d.message());
                match d.code().code() {
                    "23505" => StoreError::Duplicate(detail),          // unique_violation
                    "40001" | "40P01" => StoreError::Conflict(detail), // serialization_failure, deadlock_detected
                    // connection exceptions, the server shutting down or restarting
                    code if code.starts_with("08") || code.starts_with("57P") => StoreError::Unreachable(detail),
                    _ => StoreError::Database(detail),
                }
            }
            // No server message: the connection is gone (closed, refused, I/O), or a value could not be
            // bound (which one request caused).
            None if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) => {
                StoreError::Unreachable(e.to_string())
            }
            None => StoreError::Database(e.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::BadUrl(url.to_string()));
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if url.contains("://") || url.is_empty() {
            Err(StoreError::BadUrl(url.to_string()))
        } else {
            Ok(DatabaseUrl::Sqlite(PathBuf::from(url)))
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }

    /// The URL with any password removed, for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => match (u.find("://"), u.rfind('@')) {
                (Some(s), Some(at)) if at > s => {
                    let userinfo = &u[s + 3..at];
                    let user = userinfo.split(':').next().unwrap_or("");
                    format!("{}{}:***{}", &u[..s + 3], user, &u[at..])
                }
                _ => u.clone(),
            },
        }
    }

    fn connect(&self) -> Result<Box<dyn Backend>> {
        Ok(match self {
            DatabaseUrl::Sqlite(path) => Box::new(sqlite_backend::Sqlite::open(path)?),
            DatabaseUrl::Postgres(url) => Box::new(postgres_backend::Postgres::connect(url)?),
        })
    }
}

/// A transfer as the ledger holds it, with its pending record (a hold's state), if it exists.
pub type FoundTransfer = Option<(Transfer, Option<PendingRecord>)>;

/// A handle on the database: migrations, reads, verification, and the committer.
pub struct Store {
    url: DatabaseUrl,
    readers: pool::Pool<Box<dyn Backend>>,
    pub metrics: Arc<Metrics>,
    checkpointer_started: std::sync::atomic::AtomicBool,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Store {
    /// Open (creating the SQLite file and its directory if needed) and bring the schema up to date.
    pub fn open(url: &DatabaseUrl) -> Result<Store> {
        if let DatabaseUrl::Sqlite(path) = url
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| StoreError::Database(format!("creating {}: {e}", dir.display())))?;
        }
        let mut reader = url.connect()?;
        // The database is its owner's alone (SQLite gives its -wal and -shm files the same mode).
        if let DatabaseUrl::Sqlite(path) = url {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError::Database(format!("restricting {}: {e}", path.display())))?;
        }
        reader.migrate()?;
        Ok(Store {
            url: url.clone(),
            readers: pool::Pool::new(reader, readers_max(url)),
            metrics: Arc::new(Metrics::default()),
            checkpointer_started: std::sync::atomic::AtomicBool::new(false),
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Run `f` on a reading connection; one lost on the way is dropped (the next call opens another).
    fn with_reader<T>(&self, f: impl FnOnce(&mut dyn Backend) -> Result<T>) -> Result<T> {
        let mut reader = self.readers.take(|| self.url.connect())?;
        let result = f(reader.as_mut());
        if result.as_ref().is_err_and(StoreError::is_unavailable) {
            self.readers.discard();
        } else {
            self.readers.give_back(reader);
        }
        result
    }

    /// The applied schema version.
    pub fn schema_version(&self) -> Result<i64> {
        self.with_reader(|r| r.schema_version())
    }

    /// Start the committer on its own connection and thread.
    pub fn start_committer(&self, config: CommitterConfig, clock: Arc<dyn Clock>) -> Result<Committer> {
        let backend = self.url.connect()?;
        if let DatabaseUrl::Sqlite(path) = &self.url
            && !self.checkpointer_started.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            sqlite_backend::spawn_checkpointer(path, std::time::Duration::from_millis(250), self.stop.clone())?;
        }
        let url = self.url.clone();
        Committer::start(backend, Box::new(move || url.connect()), config, clock, self.metrics.clone())
    }

    pub fn account(&self, id: Id) -> Result<Option<Account>> {
        let mut ledger = ledger::Ledger::new();
        self.with_reader(|r| r.read_accounts(&[id], &mut ledger))?;
        Ok(ledger.account(id).copied())
    }

    pub fn transfer(&self, id: Id) -> Result<FoundTransfer> {
        let mut ledger = ledger::Ledger::new();
        self.with_reader(|r| r.read_transfers(&[id], &mut ledger))?;
        Ok(ledger.transfer(id).map(|t| (*t, ledger.pending_record(id))))
    }

    /// Several transfers and their pending records in one read (PostgreSQL: one query for all of them).
    pub fn transfers(&self, ids: &[Id]) -> Result<Vec<FoundTransfer>> {
        let mut ledger = ledger::Ledger::new();
        self.with_reader(|r| r.read_transfers(ids, &mut ledger))?;
        Ok(ids.iter().map(|id| ledger.transfer(*id).map(|t| (*t, ledger.pending_record(*id)))).collect())
    }

    pub fn failed_transfer(&self, id: Id) -> Result<Option<FailedTransfer>> {
        let mut ledger = ledger::Ledger::new();
        self.with_reader(|r| r.read_transfers(&[id], &mut ledger))?;
        Ok(ledger.failed(id).copied())
    }

    /// Recompute every balance from the journal and check every invariant (see [`verify`]), in one read
    /// snapshot: on a live database, the balances and the journal it compares are of the same instant.
    /// It reads on a connection of its own: the shared reader serves short reads, some of them on the
    /// server's async threads, which must never wait out a read of the whole journal.
    pub fn verify(&self) -> Result<VerifyReport> {
        let begin = match self.url {
            DatabaseUrl::Sqlite(_) => "BEGIN",
            DatabaseUrl::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        let mut own = self.url.connect()?;
        let r = own.as_mut();
        r.savepoint(begin)?;
        let report = verify::verify(r);
        let ended = r.savepoint(if report.is_ok() { "COMMIT" } else { "ROLLBACK" });
        let report = report?;
        ended.map(|()| report)
    }

    /// Drop every table of the database's current schema without opening it (benchmarks only: whatever
    /// state it is in, even a half-migrated one).
    pub fn wipe(url: &DatabaseUrl) -> Result<()> {
        url.connect()?.reset()
    }

    /// Drop every table and migrate again (tests and benchmarks only).
    pub fn reset(&self) -> Result<()> {
        self.with_reader(|r| {
            r.reset()?;
            r.migrate()
        })?;
        self.readers.close_idle_but(1); // the others knew the dropped tables
        Ok(())
    }
}

/// Ledger reading connections at most. On PostgreSQL every read is a network round trip, and one
/// connection behind a lock made concurrent requests queue for it. SQLite's reads cost microseconds and
/// run in place: one connection (four were measured, no faster).
fn readers_max(url: &DatabaseUrl) -> usize {
    if url.is_postgres() { 8 } else { 1 }
}

/// u128 ids as 16 big-endian bytes: byte order is numeric order, so indexes sort ids numerically.
pub(crate) fn id_bytes(id: u128) -> [u8; 16] {
    id.to_be_bytes()
}

pub(crate) fn id_from(bytes: &[u8]) -> Result<u128> {
    let array: [u8; 16] = bytes.try_into().map_err(|_| StoreError::Database(format!("id column holds {} bytes, not 16", bytes.len())))?;
    Ok(u128::from_be_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_redact() {
        assert_eq!(DatabaseUrl::parse("data/q.db").unwrap(), DatabaseUrl::Sqlite("data/q.db".into()));
        assert_eq!(DatabaseUrl::parse("sqlite:///tmp/q.db").unwrap(), DatabaseUrl::Sqlite("/tmp/q.db".into()));
        let pg = DatabaseUrl::parse("postgres://alice:secret@db:5432/q").unwrap();
        assert_eq!(pg.redacted(), "postgres://alice:***@db:5432/q");
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn id_bytes_sort_like_numbers() {
        let (a, b) = (255u128, 256u128);
        assert!(id_bytes(a) < id_bytes(b));
        assert_eq!(id_from(&id_bytes(u128::MAX - 1)).unwrap(), u128::MAX - 1);
        assert!(id_from(&[1, 2, 3]).is_err());
    }
}
