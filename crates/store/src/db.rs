//! A small portable SQL layer for the platform's tables (people, wallets, friends, red packets ...): one SQL
//! text with `$1`-style placeholders runs on SQLite and PostgreSQL, values are a closed set of types
//! (integer, text, bytes, null), and every call runs on a pooled connection of the caller's thread.
//!
//! The ledger does not use this: its committer owns a connection and batches (see `committer`).

use crate::{DatabaseUrl, Result, StoreError};
use std::sync::{Condvar, Mutex};

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

/// Bind a list of heterogeneous values: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*][..] };
}

/// One result row, read by column name (`row.int("total_minor")`).
#[derive(Debug)]
pub struct Row {
    columns: std::sync::Arc<[String]>,
    values: Vec<Value>,
    /// Where the next lookup starts: mappers read columns mostly in their select order, so a lookup
    /// usually finds its column at once instead of comparing names from the first (an order has 36).
    next: std::sync::atomic::AtomicUsize,
}

impl Clone for Row {
    fn clone(&self) -> Row {
        Row::new(self.columns.clone(), self.values.clone())
    }
}

impl Row {
    pub fn new(columns: std::sync::Arc<[String]>, values: Vec<Value>) -> Row {
        debug_assert_eq!(columns.len(), values.len());
        Row { columns, values, next: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// A result's column names, made unique: a later column that repeats a name (a join's second `id`)
    /// is renamed `id#2`, so a lookup by name finds the first, as it always has, wherever it starts.
    pub(crate) fn names(names: impl Iterator<Item = String>) -> std::sync::Arc<[String]> {
        let mut unique: Vec<String> = Vec::new();
        for name in names {
            let repeats = unique.iter().filter(|n| n.split('#').next() == Some(name.as_str())).count();
            unique.push(if repeats == 0 { name } else { format!("{name}#{}", repeats + 1) });
        }
        unique.into()
    }

    fn at(&self, name: &str) -> Result<&Value> {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.columns.len();
        let start = self.next.load(Relaxed).min(n);
        let i = (start..n)
            .chain(0..start)
            .find(|&i| self.columns[i] == name)
            .ok_or_else(|| StoreError::Database(format!("no column {name:?} in the result (columns: {:?})", self.columns)))?;
        self.next.store(i + 1, Relaxed);
        Ok(&self.values[i])
    }

    pub fn int(&self, name: &str) -> Result<i64> {
        match self.at(name)? {
            Value::Int(v) => Ok(*v),
            other => Err(StoreError::Database(format!("column {name}: expected an integer, got {other:?}"))),
        }
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        match self.at(name)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => Err(StoreError::Database(format!("column {name}: expected an integer, got {other:?}"))),
        }
    }

    pub fn text(&self, name: &str) -> Result<String> {
        match self.at(name)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Database(format!("column {name}: expected text, got {other:?}"))),
        }
    }

    pub fn opt_text(&self, name: &str) -> Result<Option<String>> {
        match self.at(name)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            other => Err(StoreError::Database(format!("column {name}: expected text, got {other:?}"))),
        }
    }

    pub fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        match self.at(name)? {
            Value::Bytes(v) => Ok(v.clone()),
            other => Err(StoreError::Database(format!("column {name}: expected bytes, got {other:?}"))),
        }
    }

    pub fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.at(name)? {
            Value::Null => Ok(None),
            _ => self.bytes(name).map(Some),
        }
    }

    /// A stored small unsigned number (a currency's numeric code, a count) that must fit its type.
    pub fn uint<T: TryFrom<i64>>(&self, name: &str) -> Result<T> {
        let v = self.int(name)?;
        T::try_from(v).map_err(|_| StoreError::Database(format!("column {name}: {v} out of range")))
    }
}

/// Which SQL dialect a connection speaks, for the rare statement that must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection that runs portable statements.
pub trait Conn: Send {
    fn dialect(&self) -> Dialect;
    /// Rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    fn batch(&mut self, sql: &str) -> Result<()>;
    /// Whether the connection is known to be gone (it must not go back to a pool).
    fn is_broken(&self) -> bool {
        false
    }

    fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// `$12` → `?12`: SQLite numbers `?NNN` parameters exactly as PostgreSQL numbers `$NNN`.
pub(crate) fn sqlite_sql(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return sql.into();
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// SQLite has one writer at a time per database file. Writers of this process queue here and are woken
/// the moment the lock is free, instead of sleeping through SQLite's busy handler (1, 2, 5 ... 100 ms
/// back-offs) while the committer or another request holds the file's write lock. Other processes still
/// meet SQLite's own locking.
pub struct WriteLock {
    held: Mutex<bool>,
    freed: Condvar,
}

impl WriteLock {
    pub fn acquire(&self) {
        let mut held = self.held.lock().expect("write lock");
        while *held {
            held = self.freed.wait(held).expect("write lock");
        }
        *held = true;
    }

    pub fn release(&self) {
        *self.held.lock().expect("write lock") = false;
        self.freed.notify_one();
    }
}

/// The write lock of a SQLite database file (one per canonical path, for the whole process).
pub fn sqlite_write_lock(path: &std::path::Path) -> std::sync::Arc<WriteLock> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock};
    static LOCKS: LazyLock<Mutex<HashMap<std::path::PathBuf, Arc<WriteLock>>>> = LazyLock::new(Default::default);
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    LOCKS
        .lock()
        .expect("locks")
        .entry(key)
        .or_insert_with(|| Arc::new(WriteLock { held: Mutex::new(false), freed: Condvar::new() }))
        .clone()
}

/// A pooled SQLite connection: the file's write lock, or `None` for a reader (`PRAGMA query_only`).
struct SqliteConn(rusqlite::Connection, Option<std::sync::Arc<WriteLock>>);

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

impl Conn for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        // Outside an explicit transaction a write is its own transaction: take the file's write lock
        // for it (inside one, `Db::transaction` already holds it).
        let Some(lock) = &self.1 else { return Err(StoreError::ReadOnly) };
        let autocommit = self.0.is_autocommit();
        if autocommit {
            lock.acquire();
        }
        let result = self.0.prepare_cached(&sqlite_sql(sql)).and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(params)));
        if autocommit {
            lock.release();
        }
        Ok(result? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.0.prepare_cached(&sqlite_sql(sql))?;
        let columns = stmt.column_count();
        let names = Row::names(stmt.column_names().map(str::to_string));
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => {
                        return Err(StoreError::Database(format!("column {i}: floating point value {v} (money is never a float)")));
                    }
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                });
            }
            out.push(Row::new(names.clone(), values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        if self.1.is_none() {
            return Err(StoreError::ReadOnly);
        }
        Ok(self.0.execute_batch(sql)?)
    }
}

struct PgConn {
    client: postgres::Client,
    statements: PgStatements,
}

/// A PostgreSQL connection's prepared statements, by SQL text. A statement is parsed and planned once
/// per connection instead of at every call, and a call is then one round trip (bind and execute) where
/// an unprepared one takes two (parse and describe first). Bounded (it starts over when full); a
/// statement whose call failed is forgotten, so a schema change can outdate one call at most.
#[derive(Default)]
pub(crate) struct PgStatements(std::collections::HashMap<String, postgres::Statement>);

/// How a PostgreSQL connection plans its prepared statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Planning {
    /// PostgreSQL's default: after five calls a statement keeps a generic plan when that costs no more
    /// than planning each call. Right for the platform's statements, point reads and writes by key whose
    /// plan is the same index whatever the parameters: binding one then costs a quarter of planning it
    /// (statement timings of the wallet benchmark: 20–30 µs instead of 75–95 µs per call).
    Generic,
    /// Each call planned for its parameters (`force_custom_plan`). Right for the ledger's reads of a
    /// batch's ids (`id = ANY($1)`), whose best plan depends on the array's length and the tables' sizes:
    /// a generic plan fixed while the tables were nearly empty (a new database) stayed a scan as they
    /// grew, 8 ms a call instead of 0.2 ms, which made the wallet benchmark two to three times slower.
    /// There is one such read per batch, so planning it each time costs nothing measurable.
    PerCall,
}

/// A PostgreSQL connection for prepared statements, planned as `planning` says.
pub(crate) fn pg_connect(url: &str, planning: Planning) -> Result<postgres::Client> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    if planning == Planning::PerCall {
        client.batch_execute("SET plan_cache_mode = force_custom_plan")?;
    }
    Ok(client)
}

impl PgStatements {
    /// Statements kept per connection at most: the platform's hot statements number fewer than this,
    /// and each holds a plan in its PostgreSQL backend's memory.
    const STATEMENTS_MAX: usize = 128;

    /// Whether a statement is prepared afresh at each call, so that PostgreSQL plans it for that call's
    /// parameters whatever the connection's [`Planning`] (a statement's first calls always get a custom
    /// plan): a disjunction (an optional filter, `$2 = '' OR out_trade_no = $2`; keyset paging,
    /// `created_at < $4 OR (created_at = $4 AND id < $5)`) is served by a different index depending on
    /// its parameters, which one generic plan cannot be. None of the per-request hot statements has one.
    fn planned_per_call(sql: &str) -> bool {
        sql.contains(" OR ")
    }

    fn get(&mut self, client: &mut postgres::Client, sql: &str) -> Result<postgres::Statement> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        if Self::planned_per_call(sql) {
            return Ok(client.prepare(sql)?); // closed when dropped, after this call
        }
        if self.0.len() >= Self::STATEMENTS_MAX {
            self.0.clear();
        }
        let statement = client.prepare(sql)?;
        self.0.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Run `call` with `sql`'s statement; forgets the statement when the call fails.
    pub(crate) fn run<T>(
        &mut self,
        client: &mut postgres::Client,
        sql: &str,
        call: impl FnOnce(&mut postgres::Client, &postgres::Statement) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let statement = self.get(client, sql)?;
        call(client, &statement).map_err(|e| -> StoreError {
            self.0.remove(sql);
            e.into()
        })
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => Err(format!("cannot bind an integer to a {ty} parameter").into()),
            },
            Value::Text(v) => v.to_sql(ty, out),
            Value::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true // checked per value in to_sql
    }

    postgres::types::to_sql_checked!();
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn is_broken(&self) -> bool {
        self.client.is_closed()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.statements.run(&mut self.client, sql, |c, statement| c.execute(statement, &refs))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        use postgres::types::Type;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self.statements.run(&mut self.client, sql, |c, statement| c.query(statement, &refs))?;
        let mut out = Vec::with_capacity(rows.len());
        let names: std::sync::Arc<[String]> = match rows.first() {
            Some(row) => Row::names(row.columns().iter().map(|c| c.name().to_string())),
            None => std::sync::Arc::from(Vec::new()),
        };
        for row in rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let value = match *column.type_() {
                    Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
                    Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(i64::from(v))),
                    Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|v| Value::Int(i64::from(v))),
                    Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|v| Value::Int(i64::from(v))),
                    Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
                    Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes),
                    ref other => {
                        return Err(StoreError::Database(format!("column {}: unsupported type {other}", column.name())));
                    }
                };
                values.push(value.unwrap_or(Value::Null));
            }
            out.push(Row::new(names.clone(), values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.client.batch_execute(sql)?)
    }
}

/// A pool of connections. Calls block the calling thread: from async code, call through
/// `tokio::task::spawn_blocking`.
pub struct Db {
    url: DatabaseUrl,
    pool: crate::pool::Pool<Box<dyn Conn>>,
    /// Connections refuse every write (SQLite readers: see [`Db::reader`]).
    read_only: bool,
}

/// A write transaction that collides with another writer is retried this many times.
const TRANSACTION_ATTEMPTS_MAX: u32 = 20;

impl Db {
    pub fn open(url: &DatabaseUrl, connections_max: usize) -> Result<Db> {
        Db::pool(url, connections_max, false)
    }

    /// A pool with its first connection open (so a bad URL fails here, not on first use).
    fn pool(url: &DatabaseUrl, connections_max: usize, read_only: bool) -> Result<Db> {
        let first = Db::connect(url, read_only)?;
        Ok(Db { url: url.clone(), pool: crate::pool::Pool::new(first, connections_max), read_only })
    }

    fn connect(url: &DatabaseUrl, read_only: bool) -> Result<Box<dyn Conn>> {
        Ok(match url {
            DatabaseUrl::Sqlite(path) => {
                let c = rusqlite::Connection::open(path)?;
                c.pragma_update(None, "journal_mode", "WAL")?;
                c.pragma_update(None, "synchronous", "FULL")?;
                c.pragma_update(None, "foreign_keys", "ON")?;
                c.busy_timeout(std::time::Duration::from_secs(30))?;
                c.set_prepared_statement_cache_capacity(256);
                if read_only {
                    c.pragma_update(None, "query_only", "ON")?;
                    Box::new(SqliteConn(c, None))
                } else {
                    Box::new(SqliteConn(c, Some(sqlite_write_lock(path))))
                }
            }
            DatabaseUrl::Postgres(url) => {
                Box::new(PgConn { client: pg_connect(url, Planning::Generic)?, statements: PgStatements::default() })
            }
        })
    }

    /// For SQLite, a pool of read-only connections on the same file. In WAL mode a reader never waits
    /// for a writer (it reads the last committed snapshot), so a read of a few indexed rows costs
    /// microseconds and may run on the async runtime's own thread: cheaper than the two thread switches
    /// of a hop to a blocking thread. `None` for PostgreSQL, whose every statement is a network round trip.
    pub fn reader(&self, connections_max: usize) -> Result<Option<Db>> {
        let DatabaseUrl::Sqlite(_) = &self.url else { return Ok(None) };
        Db::pool(&self.url, connections_max, true).map(Some)
    }

    pub fn dialect(&self) -> Dialect {
        match self.url {
            DatabaseUrl::Sqlite(_) => Dialect::Sqlite,
            DatabaseUrl::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Run `f` on a connection outside any explicit transaction (each statement commits on its own).
    pub fn with<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.pool.take(|| Db::connect(&self.url, self.read_only))?;
        let result = f(conn.as_mut());
        match &result {
            // The connection may be broken (or, lost, it says so): never give one back to the pool.
            Err(StoreError::Database(_)) if self.dialect() == Dialect::Postgres => self.pool.discard(),
            Err(e) if e.is_unavailable() => self.pool.discard(),
            _ if conn.is_broken() => self.pool.discard(),
            _ => self.pool.give_back(conn),
        }
        result
    }

    /// Run `f` in one write transaction; retried whole when it collides with a concurrent writer, so `f`
    /// must not have effects outside the database.
    pub fn transaction<T>(&self, mut f: impl FnMut(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        let lock = match &self.url {
            DatabaseUrl::Sqlite(path) => Some(sqlite_write_lock(path)),
            DatabaseUrl::Postgres(_) => None,
        };
        loop {
            // Connection first, then the write lock: whoever holds the lock already has a connection,
            // so a full pool can never wait on the lock holder.
            let result = self.with(|conn| {
                if let Some(l) = &lock {
                    l.acquire();
                }
                let result = (|| {
                    conn.batch(match conn.dialect() {
                        Dialect::Sqlite => "BEGIN IMMEDIATE",
                        Dialect::Postgres => "BEGIN",
                    })?;
                    match f(conn) {
                        Ok(value) => {
                            if let Err(e) = conn.batch("COMMIT") {
                                let _ = conn.batch("ROLLBACK");
                                return Err(e);
                            }
                            Ok(value)
                        }
                        Err(e) => {
                            let _ = conn.batch("ROLLBACK");
                            Err(e)
                        }
                    }
                })();
                if let Some(l) = &lock {
                    l.release();
                }
                result
            });
            match result {
                Err(StoreError::Conflict(_)) if attempt < TRANSACTION_ATTEMPTS_MAX => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt)));
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Row, Value, sqlite_sql};

    #[test]
    fn a_column_is_found_by_name_in_any_order_and_a_repeated_name_is_the_first() {
        let names = Row::names(["id", "name", "id", "total"].into_iter().map(String::from));
        let row = Row::new(names, vec![Value::Int(1), Value::Text("a".into()), Value::Int(2), Value::Null]);
        assert_eq!(row.int("id").unwrap(), 1);
        assert_eq!(row.opt_int("total").unwrap(), None);
        assert_eq!(row.text("name").unwrap(), "a");
        assert_eq!(row.int("id").unwrap(), 1, "after a later column, the first id still");
        assert_eq!(row.int("id#2").unwrap(), 2);
        assert!(row.int("missing").is_err());
        assert!(row.opt_text("id").is_err(), "a number is not text");
    }

    #[test]
    fn placeholders_become_sqlite_numbered_parameters() {
        assert_eq!(
            sqlite_sql("SELECT a FROM t WHERE b = $2 AND c = $1 AND d = $10"),
            "SELECT a FROM t WHERE b = ?2 AND c = ?1 AND d = ?10"
        );
        assert_eq!(sqlite_sql("SELECT 1"), "SELECT 1");
    }
}
