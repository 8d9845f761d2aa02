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

    /// Opens a ledger batch's transaction, which is then the ledger's only writer until it ends (SQLite:
    /// `BEGIN IMMEDIATE`; PostgreSQL: the `ledger_writes` row), so what it reads stays current.
    fn begin(&mut self) -> Result<()>;
    /// After `begin`: no other connection has written the ledger since this connection's previous
    /// transaction ended, so what this connection's own batches left in memory is still current.
    fn undisturbed(&self) -> bool;
    fn commit(&mut self) -> Result<()>;
    fn rollback(&mut self);

    /// Inside a transaction: the largest id in the journal (committed or failed transfers), 0 when empty.
    /// Ids are time-ordered, so a batch's new ids are above it and need no lookup.
    fn max_journal_id(&mut self) -> Result<Id>;
    /// Load the transfers (with their pending records) and failed transfers among `ids`.
    fn read_transfers(&mut self, ids: &[Id], into: &mut Ledger) -> Result<()>;
    /// Load the accounts among `ids` without locking.
    fn read_accounts(&mut self, ids: &[Id], into: &mut Ledger) -> Result<()>;
    /// Inside a transaction (which holds the write turn, see `begin`): load the accounts among `ids`
    /// (sorted, unique).
    /// Returns the largest `last_ts` among them.
    fn read_batch_accounts(&mut self, ids: &[Id], into: &mut Ledger) -> Result<u64>;
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

/// Migrations, in order: (version, name, source). One source serves both dialects (see [`render`]).
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "ledger", include_str!("../migrations/0001_ledger.sql")),
    (2, "wallets", include_str!("../migrations/0002_wallets.sql")),
    (3, "merchants", include_str!("../migrations/0003_merchants.sql")),
    (4, "transient_failures", include_str!("../migrations/0004_transient_failures.sql")),
    (5, "exactly_once", include_str!("../migrations/0005_exactly_once.sql")),
    (6, "fx", include_str!("../migrations/0006_fx.sql")),
    (7, "qr_networks", include_str!("../migrations/0007_qr_networks.sql")),
    (8, "merchant_console", include_str!("../migrations/0008_merchant_console.sql")),
    (9, "operators", include_str!("../migrations/0009_operators.sql")),
    (10, "risk_reviews", include_str!("../migrations/0010_risk_reviews.sql")),
    (11, "charity", include_str!("../migrations/0011_charity.sql")),
    (12, "official_accounts", include_str!("../migrations/0012_official_accounts.sql")),
    (13, "giving", include_str!("../migrations/0013_giving.sql")),
    (14, "bill_reads", include_str!("../migrations/0014_bill_reads.sql")),
    (15, "ledger_writes", include_str!("../migrations/0015_ledger_writes.sql")),
    (16, "history_reads", include_str!("../migrations/0016_history_reads.sql")),
];

pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// A migration's text for one dialect. Sources are written once: `INT64` is SQLite's `INTEGER` (a rowid
/// alias as a primary key) and PostgreSQL's `BIGINT`; `BYTES` is `BLOB` / `BYTEA`; `/*sqlite: ...*/` and
/// `/*postgres: ...*/` hold what only one dialect gets (table options).
pub(crate) fn render(source: &str, dialect: crate::Dialect) -> String {
    let (int64, bytes, keep, drop) = match dialect {
        crate::Dialect::Sqlite => ("INTEGER", "BLOB", "/*sqlite: ", "/*postgres: "),
        crate::Dialect::Postgres => ("BIGINT", "BYTEA", "/*postgres: ", "/*sqlite: "),
    };
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find("*/").expect("a migration's /* ... */ is closed") + 2;
        if let Some(body) = tail[..end - 2].strip_prefix(keep) {
            out.push_str(body);
        } else {
            assert!(tail.starts_with(drop), "a migration comment is /*sqlite: ...*/ or /*postgres: ...*/");
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    replace_word(&replace_word(&out, "INT64", int64), "BYTES", bytes)
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
        out.push_str(&rest[..i]);
        out.push_str(if boundary(before) && boundary(after) { with } else { word });
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_renders_each_dialect() {
        let source =
            "CREATE TABLE t (id INT64 PRIMARY KEY, b BYTES, INT64x INT64) /*sqlite: WITHOUT ROWID*/ /*postgres: WITH (fillfactor = 50)*/;";
        assert_eq!(
            render(source, crate::Dialect::Sqlite),
            "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB, INT64x INTEGER) WITHOUT ROWID ;"
        );
        assert_eq!(
            render(source, crate::Dialect::Postgres),
            "CREATE TABLE t (id BIGINT PRIMARY KEY, b BYTEA, INT64x BIGINT)  WITH (fillfactor = 50);"
        );
    }
}

/// Accounts as the committer's own batches last wrote them (value, `last_ts`), so a batch reads no
/// account it wrote before. Valid only while no other connection has written the ledger, which the cache
/// tells from the `ledger_writes` count every batch's transaction moves by one: a count one past the one
/// this connection's last transaction left means nobody came between. A transaction's writes are staged
/// and kept only once it commits.
#[derive(Default)]
pub(crate) struct AccountCache {
    committed: ledger::IdMap<(Account, u64)>,
    staged: Vec<(Account, u64)>,
    /// The count as this connection's last transaction left it (`None`: unknown, trust nothing).
    batches: Option<i64>,
    /// The count the running transaction leaves once it commits.
    batches_in_transaction: Option<i64>,
    /// The running transaction found the count one past ours (see `Backend::undisturbed`).
    undisturbed: bool,
}

impl AccountCache {
    /// Accounts kept at most (about 100 bytes each); past it the cache starts over.
    const ACCOUNTS_MAX: usize = 1 << 20;

    /// At a transaction's start, which moved the count to `count`: nothing staged; starts over when full
    /// or when another writer came between.
    pub(crate) fn begin(&mut self, count: i64) {
        self.undisturbed = self.batches == Some(count - 1);
        self.batches_in_transaction = Some(count);
        self.staged.clear();
        if !self.undisturbed || self.committed.len() > Self::ACCOUNTS_MAX {
            self.committed.clear();
        }
    }

    pub(crate) fn undisturbed(&self) -> bool {
        self.undisturbed
    }

    pub(crate) fn get(&self, id: &Id) -> Option<(Account, u64)> {
        self.committed.get(id).copied()
    }

    /// The batch's written accounts, kept once the transaction commits.
    pub(crate) fn stage(&mut self, ledger: &Ledger, changes: &Changes, batch_ts: u64) {
        for id in changes.accounts_created.iter().chain(&changes.accounts_updated) {
            let account = *ledger.account(*id).expect("written accounts are in the working set");
            self.staged.push((account, batch_ts));
        }
    }

    pub(crate) fn committed(&mut self) {
        for (account, last_ts) in self.staged.drain(..) {
            self.committed.insert(account.id, (account, last_ts));
        }
        self.batches = self.batches_in_transaction.take();
    }

    /// The count is back to what the transaction found, which is what its reads saw: the next one is
    /// undisturbed if it finds the count one past that.
    pub(crate) fn rolled_back(&mut self) {
        self.staged.clear();
        self.batches = self.batches_in_transaction.take().map(|n| n - 1);
    }

    /// Trust nothing cached (a failed commit, a reset).
    pub(crate) fn clear(&mut self) {
        self.staged.clear();
        self.committed.clear();
        self.batches = None;
        self.batches_in_transaction = None;
    }
}
