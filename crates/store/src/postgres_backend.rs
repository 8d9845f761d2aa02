//! The production store. A batch is a handful of round trips whatever its size: ids travel as arrays
//! (`= ANY($1)`), rows are written with `INSERT ... SELECT FROM UNNEST(...)` and `UPDATE ... FROM
//! UNNEST`, the journal's transfers with a binary `COPY`. The SQL stays portable to Postgres-compatible
//! distributed engines (CockroachDB and YugabyteDB take `COPY ... FROM STDIN` too).

use crate::backend::{Backend, MIGRATIONS, latest_version};
use crate::{Result, StoreError, id_bytes, id_from};
use ledger::{
    Account, AccountFlags, Changes, FailedTransfer, Id, Ledger, NewTransfer, PendingRecord, PendingState, Transfer, TransferError,
    TransferFlags,
};
use money::Currency;
use postgres::{Client, Row};

pub(crate) struct Postgres {
    client: Client,
    /// Accounts as this connection's batches last wrote them: valid while `ledger_writes` moves by one
    /// per batch of ours (no other instance wrote between them).
    cache: crate::backend::AccountCache,
    /// Prepared once per connection: the effects and guards requests bring run at every batch.
    statements: crate::db::PgStatements,
}

const ACCOUNT_COLUMNS: &str =
    "id, currency, code, flags, user_data, debits_pending, debits_posted, credits_pending, credits_posted, timestamp, last_ts";
const TRANSFER_COLUMNS: &str = "t.id, t.debit_account_id, t.credit_account_id, t.amount, t.pending_id, t.currency, t.code, t.flags, t.timeout_s, t.user_data, t.timestamp, p.state, p.timestamp";

fn bad(what: &str) -> StoreError {
    StoreError::Database(format!("corrupt {what} column"))
}

fn u64_of(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| bad(what))
}

fn small<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T> {
    T::try_from(v).map_err(|_| bad(what))
}

fn currency(v: i64) -> Result<Currency> {
    u16::try_from(v).ok().and_then(|n| Currency::from_numeric(n).ok()).ok_or_else(|| bad("currency"))
}

fn id_col(row: &Row, i: usize) -> Result<u128> {
    id_from(row.try_get::<_, &[u8]>(i)?)
}

fn account_from(row: &Row) -> Result<(Account, u64)> {
    Ok((
        Account {
            id: id_col(row, 0)?,
            currency: currency(row.try_get(1)?)?,
            code: small(row.try_get(2)?, "code")?,
            flags: AccountFlags(small(row.try_get(3)?, "flags")?),
            user_data: id_col(row, 4)?,
            debits_pending: u64_of(row.try_get(5)?, "debits_pending")?,
            debits_posted: u64_of(row.try_get(6)?, "debits_posted")?,
            credits_pending: u64_of(row.try_get(7)?, "credits_pending")?,
            credits_posted: u64_of(row.try_get(8)?, "credits_posted")?,
            timestamp: u64_of(row.try_get(9)?, "timestamp")?,
        },
        u64_of(row.try_get(10)?, "last_ts")?,
    ))
}

fn transfer_from(row: &Row) -> Result<(Transfer, Option<PendingRecord>)> {
    let pending_id: Option<&[u8]> = row.try_get(4)?;
    let transfer = Transfer {
        id: id_col(row, 0)?,
        debit_account_id: id_col(row, 1)?,
        credit_account_id: id_col(row, 2)?,
        amount: u64_of(row.try_get(3)?, "amount")?,
        pending_id: pending_id.map(id_from).transpose()?.unwrap_or(0),
        currency: currency(row.try_get(5)?)?,
        code: small(row.try_get(6)?, "code")?,
        flags: TransferFlags(small(row.try_get(7)?, "flags")?),
        timeout_s: small(row.try_get(8)?, "timeout_s")?,
        user_data: id_col(row, 9)?,
        timestamp: u64_of(row.try_get(10)?, "timestamp")?,
    };
    let state: Option<i64> = row.try_get(11)?;
    let record = match state {
        Some(s) => Some(PendingRecord {
            state: small::<u8>(s, "state").ok().and_then(PendingState::from_u8).ok_or_else(|| bad("state"))?,
            timestamp: u64_of(row.try_get(12)?, "timestamp")?,
        }),
        None => None,
    };
    Ok((transfer, record))
}

fn failed_from(row: &Row) -> Result<FailedTransfer> {
    let error: &str = row.try_get(1)?;
    let currency_code: Option<i64> = row.try_get(6)?;
    Ok(FailedTransfer {
        error: TransferError::from_code(error).ok_or_else(|| bad("error"))?,
        transfer: NewTransfer {
            id: id_col(row, 0)?,
            debit_account_id: id_col(row, 2)?,
            credit_account_id: id_col(row, 3)?,
            amount: u64_of(row.try_get(4)?, "amount")?,
            pending_id: id_col(row, 5)?,
            currency: currency_code.map(currency).transpose()?,
            code: small(row.try_get(7)?, "code")?,
            flags: TransferFlags(small(row.try_get(8)?, "flags")?),
            timeout_s: small(row.try_get(9)?, "timeout_s")?,
            user_data: id_col(row, 10)?,
        },
        timestamp: u64_of(row.try_get(11)?, "timestamp")?,
    })
}

fn i(v: u64) -> i64 {
    i64::try_from(v).expect("ledger values fit a signed 64-bit column")
}

fn keys(ids: &[Id]) -> Vec<[u8; 16]> {
    ids.iter().map(|id| id_bytes(*id)).collect()
}

fn slices(keys: &[[u8; 16]]) -> Vec<&[u8]> {
    keys.iter().map(|k| &k[..]).collect()
}

impl Postgres {
    pub(crate) fn connect(url: &str) -> Result<Postgres> {
        let client = crate::db::pg_connect(url, crate::db::Planning::PerCall)?;
        Ok(Postgres { client, cache: Default::default(), statements: Default::default() })
    }
}

impl Backend for Postgres {
    fn migrate(&mut self) -> Result<()> {
        self.client.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )?;
        // One migrator at a time when several instances start together.
        let mut tx = self.client.transaction()?;
        tx.batch_execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")?;
        let current: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?.get(0);
        if current > latest_version() {
            return Err(StoreError::SchemaTooNew { found: current, known: latest_version() });
        }
        for (version, name, source) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(&crate::backend::render(source, crate::Dialect::Postgres))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, EXTRACT(EPOCH FROM now())::BIGINT)",
                &[version, name],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn schema_version(&mut self) -> Result<i64> {
        let exists: bool = self.client.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?.get(0);
        if !exists {
            return Ok(0);
        }
        Ok(self.client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?.get(0))
    }

    fn reset(&mut self) -> Result<()> {
        // Every table of the current schema: a list kept by hand would miss a newer binary's tables.
        let rows = self.client.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()", &[])?;
        for row in rows {
            let table: &str = row.try_get(0)?;
            self.client.batch_execute(&format!("DROP TABLE IF EXISTS \"{}\" CASCADE", table.replace('"', "\"\"")))?;
        }
        self.cache.clear();
        self.statements = Default::default();
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[crate::Value]) -> Result<u64> {
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.statements.run(&mut self.client, sql, |c, statement| c.execute(statement, &refs))
    }

    fn savepoint(&mut self, statement: &str) -> Result<()> {
        Ok(self.client.batch_execute(statement)?)
    }

    /// Opens the batch's transaction and takes the ledger's write turn in the same round trip: the
    /// `ledger_writes` row stays locked until this transaction ends, so no other instance's batch
    /// commits meanwhile, and every statement after it sees every batch committed before. That is why
    /// accounts are read without `FOR UPDATE` and pending records need no second read: the batch is the
    /// only writer of the ledger while it runs. Measured against the row locks it replaces: see the README.
    fn begin(&mut self) -> Result<()> {
        let messages =
            match self.client.simple_query("BEGIN; UPDATE ledger_writes SET batches = batches + 1 WHERE id = 1 RETURNING batches") {
                Ok(messages) => messages,
                Err(e) => {
                    // The UPDATE failed (a lock or statement timeout, a read-only server): leave no aborted
                    // transaction behind, or every later batch would fail on it.
                    let _ = self.client.batch_execute("ROLLBACK");
                    return Err(e.into());
                }
            };
        let count = messages.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse::<i64>().ok()),
            _ => None,
        });
        let Some(count) = count else {
            let _ = self.client.batch_execute("ROLLBACK");
            return Err(bad("ledger_writes (the row migration 15 makes is missing)"));
        };
        // Another instance committed a batch since ours: what we cached may be stale.
        self.cache.begin(count);
        Ok(())
    }

    fn undisturbed(&self) -> bool {
        self.cache.undisturbed()
    }

    fn commit(&mut self) -> Result<()> {
        if let Err(e) = self.client.batch_execute("COMMIT") {
            self.cache.clear();
            return Err(e.into());
        }
        self.cache.committed();
        Ok(())
    }

    fn rollback(&mut self) {
        let _ = self.client.batch_execute("ROLLBACK");
        self.cache.rolled_back();
    }

    fn max_journal_id(&mut self) -> Result<Id> {
        let row = self.client.query_one(
            "SELECT (SELECT id FROM transfers ORDER BY id DESC LIMIT 1), (SELECT id FROM failed_transfers ORDER BY id DESC LIMIT 1)",
            &[],
        )?;
        let a: Option<&[u8]> = row.try_get(0)?;
        let b: Option<&[u8]> = row.try_get(1)?;
        Ok(a.map(id_from).transpose()?.unwrap_or(0).max(b.map(id_from).transpose()?.unwrap_or(0)))
    }

    fn read_transfers(&mut self, ids: &[Id], into: &mut Ledger) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys = keys(ids);
        let keys = slices(&keys);
        let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers t LEFT JOIN pending_transfers p ON p.id = t.id WHERE t.id = ANY($1)");
        let rows = self.statements.run(&mut self.client, &sql, |c, statement| c.query(statement, &[&keys]))?;
        let found = rows.len();
        for row in rows {
            let (t, record) = transfer_from(&row)?;
            into.load_transfer(t, record);
        }
        if found == ids.len() {
            return Ok(()); // an id is either committed or failed, never both: no failure to look for
        }
        let sql = "SELECT id, error, debit_account_id, credit_account_id, amount, pending_id, currency, code, flags, timeout_s, user_data, timestamp FROM failed_transfers WHERE id = ANY($1)";
        for row in self.statements.run(&mut self.client, sql, |c, statement| c.query(statement, &[&keys]))? {
            into.load_failed(failed_from(&row)?);
        }
        Ok(())
    }

    fn read_accounts(&mut self, ids: &[Id], into: &mut Ledger) -> Result<()> {
        let keys = keys(ids);
        let keys = slices(&keys);
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1)");
        for row in self.statements.run(&mut self.client, &sql, |c, statement| c.query(statement, &[&keys]))? {
            into.load_account(account_from(&row)?.0);
        }
        Ok(())
    }

    fn read_batch_accounts(&mut self, ids: &[Id], into: &mut Ledger) -> Result<u64> {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        // The batch holds the ledger's write turn (see `begin`): reading is locking. Accounts this
        // connection wrote last come from the cache; only the others are read.
        let mut last_ts = 0;
        let mut missed = Vec::new();
        for id in ids {
            match self.cache.get(id) {
                Some((account, ts)) => {
                    into.load_account(account);
                    last_ts = last_ts.max(ts);
                }
                None => missed.push(*id),
            }
        }
        if missed.is_empty() {
            return Ok(last_ts);
        }
        let keys = keys(&missed);
        let keys = slices(&keys);
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1)");
        for row in self.statements.run(&mut self.client, &sql, |c, statement| c.query(statement, &[&keys]))? {
            let (account, ts) = account_from(&row)?;
            into.load_account(account);
            last_ts = last_ts.max(ts);
        }
        Ok(last_ts)
    }

    fn due_expiries(&mut self, now: u64, limit: usize) -> Result<Vec<Id>> {
        let rows = self.client.query(
            "SELECT id FROM pending_transfers WHERE state = 0 AND expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
            &[&i(now), &(limit as i64)],
        )?;
        rows.iter().map(|r| id_col(r, 0)).collect()
    }

    fn write(&mut self, ledger: &Ledger, changes: &Changes, batch_ts: u64) -> Result<()> {
        self.cache.stage(ledger, changes, batch_ts);
        let c = &mut self.client;
        if !changes.accounts_created.is_empty() {
            insert_accounts(c, ledger, changes, batch_ts)?;
        }
        if !changes.accounts_updated.is_empty() {
            update_accounts(c, ledger, changes, batch_ts)?;
        }
        if !changes.transfers_created.is_empty() {
            insert_transfers(c, ledger, changes)?;
        }
        if !changes.transfers_failed.is_empty() {
            insert_failed_transfers(c, ledger, changes)?;
        }
        if !changes.pending_changed.is_empty() {
            upsert_pending(c, ledger, changes)?;
        }
        Ok(())
    }

    fn max_timestamp(&mut self) -> Result<u64> {
        let ts: i64 = self
            .client
            .query_one(
                "SELECT GREATEST((SELECT COALESCE(MAX(last_ts), 0) FROM accounts), (SELECT COALESCE(MAX(timestamp), 0) FROM transfers), \
                 (SELECT COALESCE(MAX(timestamp), 0) FROM pending_transfers), (SELECT COALESCE(MAX(timestamp), 0) FROM failed_transfers))",
                &[],
            )?
            .get(0);
        u64_of(ts, "timestamp")
    }

    fn scan_accounts(&mut self, f: &mut dyn FnMut(Account)) -> Result<()> {
        for row in self.client.query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts"), &[])? {
            f(account_from(&row)?.0);
        }
        Ok(())
    }

    fn scan_transfers(&mut self, f: &mut dyn FnMut(Transfer)) -> Result<()> {
        // Streamed row by row (`query` would collect the whole journal in memory first).
        let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers t LEFT JOIN pending_transfers p ON p.id = t.id ORDER BY t.timestamp");
        let mut rows = self.client.query_raw(&sql, std::iter::empty::<&(dyn postgres::types::ToSql + Sync)>())?;
        while let Some(row) = postgres::fallible_iterator::FallibleIterator::next(&mut rows)? {
            f(transfer_from(&row)?.0);
        }
        Ok(())
    }

    fn scan_pending(&mut self, f: &mut dyn FnMut(Id, PendingRecord)) -> Result<()> {
        for row in self.client.query("SELECT id, state, timestamp FROM pending_transfers", &[])? {
            let state = small::<u8>(row.try_get(1)?, "state").ok().and_then(PendingState::from_u8).ok_or_else(|| bad("state"))?;
            f(id_col(&row, 0)?, PendingRecord { state, timestamp: u64_of(row.try_get(2)?, "timestamp")? });
        }
        Ok(())
    }
}

/// The batch's new accounts.
fn insert_accounts(c: &mut Client, ledger: &Ledger, changes: &Changes, batch_ts: u64) -> Result<()> {
    let accounts: Vec<&Account> =
        changes.accounts_created.iter().map(|id| ledger.account(*id).expect("created accounts are in the working set")).collect();
    let ids: Vec<[u8; 16]> = accounts.iter().map(|a| id_bytes(a.id)).collect();
    let user_data: Vec<[u8; 16]> = accounts.iter().map(|a| id_bytes(a.user_data)).collect();
    let col = |f: &dyn Fn(&Account) -> i64| accounts.iter().map(|a| f(a)).collect::<Vec<i64>>();
    c.execute(
            &format!("INSERT INTO accounts ({ACCOUNT_COLUMNS}) SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bytea[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])"),
            &[
                &slices(&ids),
                &col(&|a| i64::from(a.currency.numeric())),
                &col(&|a| i64::from(a.code)),
                &col(&|a| i64::from(a.flags.0)),
                &slices(&user_data),
                &col(&|a| i(a.debits_pending)),
                &col(&|a| i(a.debits_posted)),
                &col(&|a| i(a.credits_pending)),
                &col(&|a| i(a.credits_posted)),
                &col(&|a| i(a.timestamp)),
                &col(&|_| i(batch_ts)),
            ],
        )?;
    Ok(())
}

/// The batch's changed accounts (each must exist).
fn update_accounts(c: &mut Client, ledger: &Ledger, changes: &Changes, batch_ts: u64) -> Result<()> {
    let accounts: Vec<&Account> =
        changes.accounts_updated.iter().map(|id| ledger.account(*id).expect("updated accounts are in the working set")).collect();
    let ids: Vec<[u8; 16]> = accounts.iter().map(|a| id_bytes(a.id)).collect();
    let col = |f: &dyn Fn(&Account) -> i64| accounts.iter().map(|a| f(a)).collect::<Vec<i64>>();
    let n = c.execute(
            "UPDATE accounts AS a SET flags = v.flags, debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, credits_posted = v.cpo, last_ts = $7 \
             FROM UNNEST($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS v(id, flags, dp, dpo, cp, cpo) WHERE a.id = v.id",
            &[
                &slices(&ids),
                &col(&|a| i64::from(a.flags.0)),
                &col(&|a| i(a.debits_pending)),
                &col(&|a| i(a.debits_posted)),
                &col(&|a| i(a.credits_pending)),
                &col(&|a| i(a.credits_posted)),
                &i(batch_ts),
            ],
        )?;
    assert_eq!(n as usize, accounts.len(), "every updated account exists and is locked");
    Ok(())
}

/// The batch's new transfers, streamed with `COPY ... FROM STDIN (FORMAT binary)`: PostgreSQL then
/// writes them with its multi-row heap insert (one WAL record per page, not per row) instead of
/// materialising an `UNNEST` of eleven arrays first. A duplicate id still fails the copy with
/// `unique_violation` (a conflict the committer retries).
fn insert_transfers(c: &mut Client, ledger: &Ledger, changes: &Changes) -> Result<()> {
    use postgres::types::Type;
    let types = [
        Type::BYTEA,
        Type::BYTEA,
        Type::BYTEA,
        Type::INT8,
        Type::BYTEA,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::BYTEA,
        Type::INT8,
    ];
    let sink = c.copy_in(
        "COPY transfers (id, debit_account_id, credit_account_id, amount, pending_id, currency, code, flags, timeout_s, user_data, timestamp) \
         FROM STDIN (FORMAT binary)",
    )?;
    let mut rows = postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
    for id in &changes.transfers_created {
        let t = ledger.transfer(*id).expect("created transfers are in the working set");
        let pending = (t.pending_id != 0).then(|| id_bytes(t.pending_id));
        rows.write(&[
            &&id_bytes(t.id)[..],
            &&id_bytes(t.debit_account_id)[..],
            &&id_bytes(t.credit_account_id)[..],
            &i(t.amount),
            &pending.as_ref().map(|p| &p[..]),
            &i64::from(t.currency.numeric()),
            &i64::from(t.code),
            &i64::from(t.flags.0),
            &i64::from(t.timeout_s),
            &&id_bytes(t.user_data)[..],
            &i(t.timestamp),
        ])?;
    }
    let written = rows.finish()?;
    assert_eq!(written as usize, changes.transfers_created.len(), "every created transfer is copied once");
    Ok(())
}

/// The batch's recorded (transient) failures.
fn insert_failed_transfers(c: &mut Client, ledger: &Ledger, changes: &Changes) -> Result<()> {
    let sql = "INSERT INTO failed_transfers (id, error, debit_account_id, credit_account_id, amount, pending_id, currency, code, flags, timeout_s, user_data, timestamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    let stmt = c.prepare(sql)?;
    for id in &changes.transfers_failed {
        let f = ledger.failed(*id).expect("failed transfers are in the working set");
        let t = &f.transfer;
        c.execute(
            &stmt,
            &[
                &&id_bytes(t.id)[..],
                &f.error.code(),
                &&id_bytes(t.debit_account_id)[..],
                &&id_bytes(t.credit_account_id)[..],
                &i(t.amount.min(ledger::AMOUNT_MAX)),
                &&id_bytes(t.pending_id)[..],
                &t.currency.map(|c| i64::from(c.numeric())),
                &i64::from(t.code),
                &i64::from(t.flags.0),
                &i64::from(t.timeout_s),
                &&id_bytes(t.user_data)[..],
                &i(f.timestamp),
            ],
        )?;
    }
    Ok(())
}

/// Pending transfers created or resolved, with their new state.
fn upsert_pending(c: &mut Client, ledger: &Ledger, changes: &Changes) -> Result<()> {
    let ids: Vec<[u8; 16]> = changes.pending_changed.iter().map(|(id, _)| id_bytes(*id)).collect();
    let states: Vec<i64> = changes.pending_changed.iter().map(|(_, r)| i64::from(r.state.as_u8())).collect();
    let expires: Vec<Option<i64>> =
        changes.pending_changed.iter().map(|(id, _)| ledger.transfer(*id).and_then(|t| t.expires_at()).map(i)).collect();
    let stamps: Vec<i64> = changes.pending_changed.iter().map(|(_, r)| i(r.timestamp)).collect();
    c.execute(
            "INSERT INTO pending_transfers (id, state, expires_at, timestamp) SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[]) \
             ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, timestamp = EXCLUDED.timestamp",
            &[&slices(&ids), &states, &expires, &stamps],
        )?;
    Ok(())
}
