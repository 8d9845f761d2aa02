//! The operator audit log: every operator action, append-only.

use crate::{Platform, Result, ids};
use serde::Serialize;
use store::params;

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Entries returned per page at most.
pub const AUDIT_PAGE_MAX: i64 = 500;

impl Platform {
    /// Record an operator action. `detail` must not hold secrets (tokens, PINs, card numbers).
    pub async fn audit(&self, actor: &str, action: &str, target: &str, detail: &str) -> Result<()> {
        let now = self.now_ms();
        let id = ids::object_id(now);
        let (actor, action, target, detail) = (actor.to_string(), action.to_string(), target.to_string(), detail.to_string());
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                    params![id, now, actor.as_str(), action.as_str(), target.as_str(), detail.as_str()],
                )
            })?)
        })
        .await?;
        Ok(())
    }

    /// The newest entries first; `before` is the previous page's last id.
    pub async fn audit_log(&self, limit: i64, before: Option<i64>) -> Result<Vec<AuditEntry>> {
        let limit = limit.clamp(1, AUDIT_PAGE_MAX);
        let before = before.unwrap_or(i64::MAX);
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        "SELECT id, at, actor, action, target, detail FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
                        params![before, limit],
                    )
                })?)
            })
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.int(0)?,
                    at_ms: r.int(1)?,
                    actor: r.text(2)?,
                    action: r.text(3)?,
                    target: r.text(4)?,
                    detail: r.text(5)?,
                })
            })
            .collect()
    }
}
