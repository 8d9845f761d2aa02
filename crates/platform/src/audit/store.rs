//! The audit log's storage: `audit_log`, append-only.

use super::AuditEntry;
use store::{Conn, Effect, Result, params};

pub(crate) fn insert(e: &AuditEntry) -> Effect {
    Effect {
        sql: "INSERT INTO audit_log (id, at, actor, action, target, detail, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params: params![e.id, e.at_ms, e.actor.as_str(), e.action.as_str(), e.target.as_str(), e.detail.as_str(), e.reason.as_str()]
            .to_vec(),
    }
}

pub(crate) fn about(c: &mut dyn Conn, target: &str, limit: i64) -> Result<Vec<AuditEntry>> {
    let rows = c.query(
        "SELECT id, at, actor, action, target, detail, reason FROM audit_log WHERE target = $1 ORDER BY id DESC LIMIT $2",
        params![target, limit],
    )?;
    entries(&rows)
}

pub(crate) fn page(c: &mut dyn Conn, before: i64, limit: i64) -> Result<Vec<AuditEntry>> {
    let rows = c.query(
        "SELECT id, at, actor, action, target, detail, reason FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        params![before, limit],
    )?;
    entries(&rows)
}

fn entries(rows: &[store::Row]) -> Result<Vec<AuditEntry>> {
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.int("id")?,
                at_ms: r.int("at")?,
                actor: r.text("actor")?,
                action: r.text("action")?,
                target: r.text("target")?,
                detail: r.text("detail")?,
                reason: r.text("reason")?,
            })
        })
        .collect()
}
