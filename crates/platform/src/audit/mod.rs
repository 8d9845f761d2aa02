//! The operator audit log: every operator action, append-only.

mod store;

use crate::core::Core;
use crate::{Result, ids};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    /// Why, as the operator said (required of every operator change).
    pub reason: String,
}

/// Entries returned per page at most.
pub const AUDIT_PAGE_MAX: i64 = 500;
/// Entries about one target returned at most.
pub const AUDIT_ABOUT_MAX: i64 = 10_000;

pub struct Audit {
    core: Arc<Core>,
}

impl Audit {
    pub(crate) fn new(core: Arc<Core>) -> Audit {
        Audit { core }
    }

    fn entry(&self, actor: &str, action: &str, target: &str, detail: &str, reason: &str) -> AuditEntry {
        let now = self.core.now_ms();
        AuditEntry {
            id: ids::object_id(now),
            at_ms: now,
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            detail: detail.into(),
            reason: reason.into(),
        }
    }

    /// The row recording an action, to commit in the same transaction as the action itself.
    /// `detail` must not hold secrets (tokens, PINs, card numbers).
    pub fn effect(&self, actor: &str, action: &str, target: &str, detail: &str, reason: &str) -> ::store::Effect {
        store::insert(&self.entry(actor, action, target, detail, reason))
    }

    /// Record an action on its own (for actions whose effect is not one of this platform's transactions).
    pub async fn record(&self, actor: &str, action: &str, target: &str, detail: &str, reason: &str) -> Result<()> {
        let effect = self.effect(actor, action, target, detail, reason);
        self.core.write(move |c| c.execute(effect.sql, &effect.params)).await?;
        Ok(())
    }

    /// The entries about one target (`person:42`), newest first, `limit` at most.
    pub async fn about(&self, target: &str, limit: i64) -> Result<Vec<AuditEntry>> {
        let (target, limit) = (target.to_string(), limit.clamp(1, AUDIT_ABOUT_MAX));
        self.core.read(move |c| store::about(c, &target, limit)).await
    }

    /// The newest entries first; `before` is the previous page's last id.
    pub async fn page(&self, limit: i64, before: Option<i64>) -> Result<Vec<AuditEntry>> {
        let (limit, before) = (limit.clamp(1, AUDIT_PAGE_MAX), before.unwrap_or(i64::MAX));
        self.core.read(move |c| store::page(c, before, limit)).await
    }
}

/// Write `audit` when the change `done` happened: the change and its audit row commit together.
pub(crate) fn with_audit(c: &mut dyn ::store::Conn, done: bool, audit: &Option<::store::Effect>) -> ::store::Result<bool> {
    if let (true, Some(a)) = (done, audit) {
        c.execute(a.sql, &a.params)?;
    }
    Ok(done)
}
