//! `Idempotency-Key`: the answers kept for replays. A request that moved money needs no record to be
//! done once: the object it made has an id derived from its key (see `ids`), so a retry finds it, however
//! late. The record is what lets a retry get the *first answer* byte for byte (for a day), and lets one
//! that did not move money (a refusal, a friend request) be answered the same way again.
//!
//! Records are written only with their final answer, after the request ran to completion (the server
//! runs it detached from the connection): there is no "in progress" state to get stuck in. Secrets
//! (session tokens) are never recorded.

mod store;

use crate::core::Core;
use crate::{PlatformError, Result};
use std::sync::Arc;

/// Answers are kept at least this long.
pub const IDEMPOTENCY_KEY_TTL_MS: i64 = 24 * 3_600 * 1_000;

/// A kept answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// SHA-256 of what makes the request itself (method, target, body).
    pub request_hash: Vec<u8>,
    pub status: u16,
    pub body: String,
}

/// 1 to 64 printable ASCII characters.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PlatformError::invalid("Idempotency-Key", "1 to 64 printable ASCII characters"));
    }
    Ok(())
}

/// What makes two requests the same: method, target and body.
pub fn request_hash(method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let mut fingerprint = format!("{method} {target}\n").into_bytes();
    fingerprint.extend_from_slice(body);
    crate::crypto::sha256(&fingerprint)
}

pub struct Idempotency {
    core: Arc<Core>,
}

impl Idempotency {
    pub(crate) fn new(core: Arc<Core>) -> Idempotency {
        Idempotency { core }
    }

    /// The answer kept for a key, if any.
    pub async fn lookup(&self, scope: &str, key: &str) -> Result<Option<Record>> {
        let (scope, key) = (scope.to_string(), key.to_string());
        self.core.read(move |c| store::get(c, &scope, &key)).await
    }

    /// Keep an answer for replays (written with other requests' rows by the committer). An answer kept
    /// first (by a concurrent twin) stands.
    pub async fn record(&self, scope: &str, key: &str, record: Record) -> Result<()> {
        let effect = store::insert(scope, key, &record, self.core.now_ms());
        self.core.commit_rows(Vec::new(), vec![effect]).await?;
        Ok(())
    }

    /// Delete answers older than their TTL, a bounded number per call.
    pub(crate) async fn purge(&self, limit: i64) -> Result<u64> {
        let before = self.core.now_ms() - IDEMPOTENCY_KEY_TTL_MS;
        self.core.write(move |c| store::purge(c, before, limit)).await
    }
}
