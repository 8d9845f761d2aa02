//! `Idempotency-Key`: a POST is carried out once per key; a replay with the same request gets the first
//! answer, a replay with a different request is refused, a replay while the first is running waits its turn.

use crate::{Platform, PlatformError, Result};
use store::params;

/// What to do with a request carrying an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// First time: carry it out, then call [`Platform::idempotency_finish`].
    Proceed,
    /// Answered before: send this again.
    Replay { status: u16, body: String },
}

/// Keys are kept at least this long.
pub const IDEMPOTENCY_KEY_TTL_MS: i64 = 24 * 3_600 * 1_000;

pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PlatformError::invalid("Idempotency-Key", "1 to 64 printable ASCII characters"));
    }
    Ok(())
}

impl Platform {
    pub async fn idempotency_start(&self, scope: &str, key: &str, request_hash: Vec<u8>) -> Result<IdempotencyStart> {
        check_key(key)?;
        let (scope, key) = (scope.to_string(), key.to_string());
        let now = self.now_ms();
        // The common case, a new key, is one row written with the committer's batch.
        let fresh = store::Effect {
            sql: "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status, created_at) VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
            params: params![scope.as_str(), key.as_str(), request_hash.clone(), now].to_vec(),
        };
        if self.commit_rows(vec![fresh], Vec::new()).await?.is_ok() {
            return Ok(IdempotencyStart::Proceed);
        }
        self.blocking(move |db| {
            Ok(db.transaction(|c| {
                let row = c.query_one("SELECT request_hash, status, response, created_at FROM idempotency_keys WHERE scope = $1 AND idem_key = $2", params![scope.as_str(), key.as_str()])?;
                match row {
                    Some(r) if r.int(3)? + IDEMPOTENCY_KEY_TTL_MS < now => {
                        c.execute("UPDATE idempotency_keys SET request_hash = $1, status = 0, response = NULL, created_at = $2 WHERE scope = $3 AND idem_key = $4", params![request_hash.clone(), now, scope.as_str(), key.as_str()])?;
                        Ok(Ok(IdempotencyStart::Proceed))
                    }
                    Some(r) if r.bytes(0)? != request_hash => Ok(Err(PlatformError::conflict("IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used for a different request"))),
                    Some(r) if r.int(1)? == 0 => Ok(Err(PlatformError::conflict("REQUEST_IN_PROGRESS", "a request with this Idempotency-Key is still being processed; retry shortly"))),
                    Some(r) => Ok(Ok(IdempotencyStart::Replay { status: r.int(1)? as u16, body: r.opt_text(2)?.unwrap_or_default() })),
                    None => {
                        c.execute("INSERT INTO idempotency_keys (scope, idem_key, request_hash, status, created_at) VALUES ($1, $2, $3, 0, $4)", params![scope.as_str(), key.as_str(), request_hash.clone(), now])?;
                        Ok(Ok(IdempotencyStart::Proceed))
                    }
                }
            })?)
        })
        .await?
    }

    /// Keep the answer for replays; a server error forgets the key instead, so the client may retry.
    pub async fn idempotency_finish(&self, scope: &str, key: &str, status: u16, body: String) -> Result<()> {
        let effect = if status >= 500 {
            store::Effect { sql: "DELETE FROM idempotency_keys WHERE scope = $1 AND idem_key = $2", params: params![scope, key].to_vec() }
        } else {
            store::Effect {
                sql: "UPDATE idempotency_keys SET status = $1, response = $2 WHERE scope = $3 AND idem_key = $4",
                params: params![i64::from(status), body, scope, key].to_vec(),
            }
        };
        self.commit_rows(Vec::new(), vec![effect]).await?.expect("no guards, so no guard fails");
        Ok(())
    }
}

/// Rows deleted per table per sweep at most (the sweep runs every second; a backlog drains in steps).
const PURGE_ROWS_MAX: i64 = 10_000;

impl Platform {
    /// Delete expired sessions and idempotency keys older than their TTL, a bounded number per call.
    pub(crate) async fn purge_expired_records(&self) -> Result<u64> {
        let now = self.now_ms();
        let keys_before = now - IDEMPOTENCY_KEY_TTL_MS;
        self.blocking(move |db| {
            Ok(db.with(|c| {
                // A bounded DELETE, portable to both dialects: the victims by primary key.
                let sessions = c.execute(
                    "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM sessions WHERE expires_at <= $1 LIMIT $2)",
                    params![now, PURGE_ROWS_MAX],
                )?;
                let keys = c.execute(
                    "DELETE FROM idempotency_keys WHERE (scope, idem_key) IN (SELECT scope, idem_key FROM idempotency_keys WHERE created_at < $1 AND status <> 0 LIMIT $2)",
                    params![keys_before, PURGE_ROWS_MAX],
                )?;
                let codes = c.execute(
                    "DELETE FROM payment_codes WHERE code IN (SELECT code FROM payment_codes WHERE expires_at < $1 LIMIT $2)",
                    params![now - 86_400_000, PURGE_ROWS_MAX],
                )?;
                Ok(sessions + keys + codes)
            })?)
        })
        .await
    }
}
