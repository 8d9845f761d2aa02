//! Approvals' storage: `approvals`.

use super::{Approval, ApprovalAction, ApprovalState};
use crate::operators::Role;
use store::{Conn, Effect, Row, StoreError, params};

/// The guard of a decision: pending (and not expired) becomes `state`.
pub(super) fn decide(id: i64, state: ApprovalState, by: &str, reason: &str, now_ms: i64) -> Effect {
    Effect {
        sql: "UPDATE approvals SET state = $5, decided_by = $2, decision_reason = $3, decided_at = $4 WHERE id = $1 AND state = 'pending' AND expires_at > $4",
        params: params![id, by, reason, now_ms, state].to_vec(),
    }
}

pub(super) fn set_result(c: &mut dyn Conn, id: i64, result: &str) -> store::Result<()> {
    c.execute("UPDATE approvals SET result = $2 WHERE id = $1", params![id, result]).map(|_| ())
}

const APPROVAL: &str = "id, action, payload, summary, role, requested_by, reason, state, decided_by, decision_reason, result, created_at, expires_at, decided_at";

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} in a stored approval"))
}

fn approval(r: &Row, now_ms: i64) -> store::Result<Approval> {
    let mut state = ApprovalState::parse(&r.text("state")?).ok_or_else(|| corrupt("state"))?;
    let expires_at_ms = r.int("expires_at")?;
    if state == ApprovalState::Pending && expires_at_ms <= now_ms {
        state = ApprovalState::Expired;
    }
    Ok(Approval {
        id: r.int("id")?,
        action: ApprovalAction::parse(&r.text("action")?).ok_or_else(|| corrupt("action"))?,
        payload: r.text("payload")?,
        summary: r.text("summary")?,
        role: Role::parse(&r.text("role")?).ok_or_else(|| corrupt("role"))?,
        requested_by: r.text("requested_by")?,
        reason: r.text("reason")?,
        state,
        decided_by: r.opt_text("decided_by")?,
        decision_reason: r.opt_text("decision_reason")?,
        result: r.opt_text("result")?,
        created_at_ms: r.int("created_at")?,
        expires_at_ms,
        decided_at_ms: r.opt_int("decided_at")?,
    })
}

pub(super) fn insert(c: &mut dyn Conn, a: &Approval, pending_max: i64, audit: &Effect) -> store::Result<bool> {
    let n = c.execute(
        "INSERT INTO approvals (id, action, payload, summary, role, requested_by, reason, state, created_at, expires_at) SELECT $1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9 WHERE (SELECT COUNT(*) FROM approvals WHERE state = 'pending' AND expires_at > $8) < $10",
        params![a.id, a.action, a.payload.as_str(), a.summary.as_str(), a.role, a.requested_by.as_str(), a.reason.as_str(), a.created_at_ms, a.expires_at_ms, pending_max],
    )?;
    if n == 1 {
        c.execute(audit.sql, &audit.params)?;
    }
    Ok(n == 1)
}

pub(super) fn by_id(c: &mut dyn Conn, id: i64, now_ms: i64) -> store::Result<Option<Approval>> {
    c.query_one(&format!("SELECT {APPROVAL} FROM approvals WHERE id = $1"), params![id])?.map(|r| approval(&r, now_ms)).transpose()
}

pub(super) fn list(c: &mut dyn Conn, state: Option<ApprovalState>, now_ms: i64, limit: i64) -> store::Result<Vec<Approval>> {
    let rows = match state {
        None => c.query(&format!("SELECT {APPROVAL} FROM approvals ORDER BY id DESC LIMIT $1"), params![limit])?,
        Some(ApprovalState::Pending) => c.query(
            &format!("SELECT {APPROVAL} FROM approvals WHERE state = 'pending' AND expires_at > $1 ORDER BY id DESC LIMIT $2"),
            params![now_ms, limit],
        )?,
        Some(ApprovalState::Expired) => c.query(
            &format!("SELECT {APPROVAL} FROM approvals WHERE state = 'pending' AND expires_at <= $1 ORDER BY id DESC LIMIT $2"),
            params![now_ms, limit],
        )?,
        Some(s) => c.query(&format!("SELECT {APPROVAL} FROM approvals WHERE state = $1 ORDER BY id DESC LIMIT $2"), params![s, limit])?,
    };
    rows.iter().map(|r| approval(r, now_ms)).collect()
}
