//! Risk's storage: `freezes` (at most one active per subject), `risk_rules` (the rule set in force),
//! `risk_reviews` (movements held for review).

use super::freezes::{Freeze, FreezeKind};
use super::reviews::{Review, ReviewKind, ReviewState};
use store::{Conn, Effect, Result, Row, StoreError, params};

const FREEZE: &str = "id, kind, subject, inbound_allowed, reason, frozen_by, frozen_at, lifted_by, lifted_at";

fn freeze(r: &Row) -> Result<Freeze> {
    Ok(Freeze {
        id: r.int("id")?,
        kind: FreezeKind::parse(&r.text("kind")?).ok_or_else(|| StoreError::Database("unknown kind in a stored freeze".into()))?,
        subject: r.text("subject")?,
        inbound_allowed: r.int("inbound_allowed")? != 0,
        reason: r.text("reason")?,
        frozen_by: r.text("frozen_by")?,
        frozen_at_ms: r.int("frozen_at")?,
        lifted_by: r.opt_text("lifted_by")?,
        lifted_at_ms: r.opt_int("lifted_at")?,
    })
}

/// The subject's active freeze, if any.
pub(super) fn active(c: &mut dyn Conn, kind: FreezeKind, subject: &str) -> Result<Option<Freeze>> {
    c.query_one(&format!("SELECT {FREEZE} FROM freezes WHERE kind = $1 AND subject = $2 AND lifted_at IS NULL"), params![kind, subject])?
        .map(|r| freeze(&r))
        .transpose()
}

/// `false` when the subject is frozen already.
pub(super) fn insert(c: &mut dyn Conn, f: &Freeze, audit: &Effect) -> Result<bool> {
    let n = c.execute(
        "INSERT INTO freezes (id, kind, subject, inbound_allowed, reason, frozen_by, frozen_at) SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM freezes WHERE kind = $2 AND subject = $3 AND lifted_at IS NULL)",
        params![f.id, f.kind, f.subject.as_str(), i64::from(f.inbound_allowed), f.reason.as_str(), f.frozen_by.as_str(), f.frozen_at_ms],
    )?;
    if n == 1 {
        c.execute(audit.sql, &audit.params)?;
    }
    Ok(n == 1)
}

pub(super) fn by_id(c: &mut dyn Conn, id: i64) -> Result<Option<Freeze>> {
    c.query_one(&format!("SELECT {FREEZE} FROM freezes WHERE id = $1"), params![id])?.map(|r| freeze(&r)).transpose()
}

pub(super) fn list_active(c: &mut dyn Conn, limit: i64) -> Result<Vec<Freeze>> {
    c.query(&format!("SELECT {FREEZE} FROM freezes WHERE lifted_at IS NULL ORDER BY id DESC LIMIT $1"), params![limit])?
        .iter()
        .map(freeze)
        .collect()
}

/// `false` when it was lifted already.
pub(super) fn lift(c: &mut dyn Conn, id: i64, by: &str, now_ms: i64) -> Result<bool> {
    Ok(c.execute("UPDATE freezes SET lifted_by = $2, lifted_at = $3 WHERE id = $1 AND lifted_at IS NULL", params![id, by, now_ms])? == 1)
}

/// The rule set in force and its version, if one was ever set.
pub(super) fn rules(c: &mut dyn Conn) -> Result<Option<(i64, String)>> {
    c.query_one("SELECT version, body FROM risk_rules WHERE id = 1", &[])?.map(|r| Ok((r.int("version")?, r.text("body")?))).transpose()
}

/// Replace the rule set (one row, its version bumped), with the audit row.
pub(super) fn set_rules(c: &mut dyn Conn, body: &str, by: &str, now_ms: i64, audit: &Effect) -> Result<()> {
    c.execute(
        "INSERT INTO risk_rules (id, version, body, updated_by, updated_at) VALUES (1, 1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET version = risk_rules.version + 1, body = $1, updated_by = $2, updated_at = $3",
        params![body, by, now_ms],
    )?;
    c.execute(audit.sql, &audit.params).map(|_| ())
}

const REVIEW: &str =
    "id, kind, person_id, currency, amount, rule_id, evidence, state, created_at, deadline_at, decided_by, decided_at, reason";

fn review(r: &Row) -> Result<Review> {
    let bad = |what: &str| StoreError::Database(format!("unknown {what} in a stored review"));
    Ok(Review {
        id: r.int("id")?,
        kind: ReviewKind::parse(&r.text("kind")?).ok_or_else(|| bad("kind"))?,
        person: crate::PersonId::new(r.int("person_id")?),
        currency: money::Currency::from_numeric(r.uint("currency")?).map_err(|e| StoreError::Database(e.to_string()))?,
        amount_minor: r.int("amount")?,
        rule: r.text("rule_id")?,
        evidence: serde_json::from_str(&r.text("evidence")?).map_err(|e| StoreError::Database(e.to_string()))?,
        state: ReviewState::parse(&r.text("state")?).ok_or_else(|| bad("state"))?,
        created_at_ms: r.int("created_at")?,
        deadline_at_ms: r.int("deadline_at")?,
        decided_by: r.opt_text("decided_by")?,
        decided_at_ms: r.opt_int("decided_at")?,
        reason: r.opt_text("reason")?,
    })
}

/// The review of a held movement, written with the hold (an effect of its commit: a retry writes nothing).
pub(crate) fn open_review(v: &Review) -> Effect {
    Effect {
        sql: "INSERT INTO risk_reviews (id, kind, person_id, currency, amount, rule_id, evidence, state, created_at, deadline_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
        params: params![
            v.id,
            v.kind,
            v.person,
            v.currency.numeric(),
            v.amount_minor,
            v.rule.as_str(),
            v.evidence.to_string(),
            v.state,
            v.created_at_ms,
            v.deadline_at_ms
        ]
        .to_vec(),
    }
}

/// A waiting review decided: a guard (a review decided already changes nothing).
pub(super) fn decide_review(id: i64, state: ReviewState, by: &str, reason: &str, now_ms: i64) -> Effect {
    Effect {
        sql: "UPDATE risk_reviews SET state = $2, decided_by = $3, decided_at = $4, reason = $5 WHERE id = $1 AND state = $6",
        params: params![id, state, by, now_ms, reason, ReviewState::Waiting].to_vec(),
    }
}

pub(super) fn review_by_id(c: &mut dyn Conn, id: i64) -> Result<Option<Review>> {
    c.query_one(&format!("SELECT {REVIEW} FROM risk_reviews WHERE id = $1"), params![id])?.map(|r| review(&r)).transpose()
}

/// Reviews in a state, oldest first (the queue), `limit` at most.
pub(super) fn reviews_in(c: &mut dyn Conn, state: ReviewState, limit: i64) -> Result<Vec<Review>> {
    let rows =
        c.query(&format!("SELECT {REVIEW} FROM risk_reviews WHERE state = $1 ORDER BY created_at, id LIMIT $2"), params![state, limit])?;
    rows.iter().map(review).collect()
}

/// Waiting reviews whose deadline has passed, `limit` at most.
pub(super) fn reviews_due(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<Vec<Review>> {
    let rows = c.query(
        &format!("SELECT {REVIEW} FROM risk_reviews WHERE state = $1 AND deadline_at <= $2 ORDER BY deadline_at, id LIMIT $3"),
        params![ReviewState::Waiting, now_ms, limit],
    )?;
    rows.iter().map(review).collect()
}
