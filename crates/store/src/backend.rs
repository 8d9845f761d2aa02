//! What the committer, the readers and `verify` need from a database. Two implementations: SQLite and
//! PostgreSQL. Everything runs on the caller's thread (the committer owns its connection).

use crate::Result;
use ledger::{Account, Changes, Id, Ledger, PendingRecord, Transfer};

pub(crate) trait Backend: Send {
    /// Apply every migration not yet applied, each in its own transaction.
    fn migrate(&mut self) -> Result<()>;
    fn schema_version(&mut self) -> Result<i64>;
    /// Drop every table.
    fn reset(&mut self) -> Result<()>;

    fn begin(&mut self) -> Result<()>;
    fn commit(&mut self) -> Result<()>;
    fn rollback(&mut self);

    /// Inside a transaction: the largest id in the journal (committed or failed transfers), 0 when empty.
    /// Ids are time-ordered, so a batch's new ids are above it and need no lookup.
    fn max_journal_id(&mut self) -> Result<Id>;
    /// Load the transfers (with their pending records) and failed transfers among `ids`.
    fn read_transfers(&mut self, ids: &[Id], into: &mut Ledger) -> Result<()>;
    /// Load the accounts among `ids` without locking.
    fn read_accounts(&mut self, ids: &[Id], into: &mut Ledger) -> Result<()>;
    /// Inside a transaction: load and lock the accounts among `ids` (sorted, unique) in id order.
    /// Returns the largest `last_ts` among them.
    fn lock_accounts(&mut self, ids: &[Id], into: &mut Ledger) -> Result<u64>;
    /// Inside a transaction, after the locks: re-read these pending records (another instance may have
    /// resolved one between the first read and the locks).
    fn refresh_pending(&mut self, ids: &[Id], into: &mut Ledger) -> Result<()>;
    /// Up to `limit` pending transfers still pending whose timeout is at or before `now`.
    fn due_expiries(&mut self, now: u64, limit: usize) -> Result<Vec<Id>>;
    /// Write what a batch changed (netted: one row write per touched account).
    fn write(&mut self, ledger: &Ledger, changes: &Changes, batch_ts: u64) -> Result<()>;
    /// Inside the batch's transaction: one statement of a request's effects (see `Effect`).
    fn execute(&mut self, sql: &str, params: &[crate::Value]) -> Result<u64>;
    /// Inside a transaction: `SAVEPOINT`, `ROLLBACK TO SAVEPOINT` or `RELEASE SAVEPOINT` of one name.
    fn savepoint(&mut self, statement: &str) -> Result<()>;
    /// The largest timestamp anywhere in the ledger (0 when empty).
    fn max_timestamp(&mut self) -> Result<u64>;

    /// Every account.
    fn scan_accounts(&mut self, f: &mut dyn FnMut(Account)) -> Result<()>;
    /// Every committed transfer in timestamp order.
    fn scan_transfers(&mut self, f: &mut dyn FnMut(Transfer)) -> Result<()>;
    /// Every pending record.
    fn scan_pending(&mut self, f: &mut dyn FnMut(Id, PendingRecord)) -> Result<()>;
}

/// Migrations, in order: (version, name, SQLite script, PostgreSQL script).
pub(crate) const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (1, "ledger", include_str!("../migrations/sqlite/0001_ledger.sql"), include_str!("../migrations/postgres/0001_ledger.sql")),
    (2, "wallets", include_str!("../migrations/sqlite/0002_wallets.sql"), include_str!("../migrations/postgres/0002_wallets.sql")),
    (3, "merchants", include_str!("../migrations/sqlite/0003_merchants.sql"), include_str!("../migrations/postgres/0003_merchants.sql")),
    (
        4,
        "transient_failures",
        include_str!("../migrations/sqlite/0004_transient_failures.sql"),
        include_str!("../migrations/postgres/0004_transient_failures.sql"),
    ),
];

pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}
