//! The idempotency domain's storage: `idempotency_keys`.

use super::Record;
use store::{Conn, Effect, Result, params};

pub(crate) fn get(c: &mut dyn Conn, scope: &str, key: &str) -> Result<Option<Record>> {
    let row =
        c.query_one("SELECT request_hash, status, response FROM idempotency_keys WHERE scope = $1 AND idem_key = $2", params![scope, key])?;
    row.map(|r| {
        Ok(Record { request_hash: r.bytes("request_hash")?, status: r.uint("status")?, body: r.opt_text("response")?.unwrap_or_default() })
    })
    .transpose()
}

/// Keep an answer (the first one kept stands).
pub(crate) fn insert(scope: &str, key: &str, r: &Record, now_ms: i64) -> Effect {
    Effect {
        sql: "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status, response, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, idem_key) DO NOTHING",
        params: params![scope, key, r.request_hash.clone(), i64::from(r.status), r.body.as_str(), now_ms].to_vec(),
    }
}

/// Delete up to `limit` answers kept since before a time.
pub(crate) fn purge(c: &mut dyn Conn, before_ms: i64, limit: i64) -> Result<u64> {
    c.execute(
        "DELETE FROM idempotency_keys WHERE (scope, idem_key) IN (SELECT scope, idem_key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
        params![before_ms, limit],
    )
}
