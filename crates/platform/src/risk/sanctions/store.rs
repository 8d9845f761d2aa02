//! Screening's storage: `sanctions_entries` (each list's names, normalised), `sanctions_lists` (each
//! list's version), `screening_hits`.

use super::{Hit, HitState, ListKind};
use crate::risk::FreezeKind;
use store::{Conn, Effect, Result, Row, StoreError, params};

/// Replace a list's names and bump its version, with the audit row.
pub(super) fn replace_list(c: &mut dyn Conn, kind: ListKind, rows: &[(String, String, String)], now_ms: i64, audit: &Effect) -> Result<()> {
    c.execute("DELETE FROM sanctions_entries WHERE list = $1", params![kind])?;
    for (reference, normalized, name) in rows {
        c.execute(
            "INSERT INTO sanctions_entries (list, reference, name, normalized) VALUES ($1, $2, $3, $4)",
            params![kind, reference.as_str(), name.as_str(), normalized.as_str()],
        )?;
    }
    c.execute(
        "INSERT INTO sanctions_lists (list, version, names, imported_at) VALUES ($1, 1, $2, $3) ON CONFLICT (list) DO UPDATE SET version = sanctions_lists.version + 1, names = $2, imported_at = $3",
        params![kind, rows.len() as i64, now_ms],
    )?;
    c.execute(audit.sql, &audit.params)?;
    Ok(())
}

/// The sum of the lists' versions: it changes with every import.
pub(super) fn version(c: &mut dyn Conn) -> Result<i64> {
    let row = c.query_one("SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) AS v FROM sanctions_lists", &[])?;
    row.map_or(Ok(0), |r| r.int("v"))
}

pub(super) fn entries(c: &mut dyn Conn) -> Result<Vec<(ListKind, String, String, String)>> {
    c.query("SELECT list, reference, name, normalized FROM sanctions_entries", &[])?
        .iter()
        .map(|r| Ok((list(r)?, r.text("reference")?, r.text("name")?, r.text("normalized")?)))
        .collect()
}

fn list(r: &Row) -> Result<ListKind> {
    ListKind::parse(&r.text("list")?).ok_or_else(|| StoreError::Database("unknown list in screening".into()))
}

const HIT: &str = "id, kind, subject, name, list, reference, listed_name, score_permille, state, decided_by, created_at";

fn hit_of(r: &Row) -> Result<Hit> {
    let corrupt = |what: &str| StoreError::Database(format!("unknown {what} in a screening hit"));
    Ok(Hit {
        id: r.int("id")?,
        kind: FreezeKind::parse(&r.text("kind")?).ok_or_else(|| corrupt("kind"))?,
        subject: r.text("subject")?,
        name: r.text("name")?,
        list: list(r)?,
        reference: r.text("reference")?,
        listed_name: r.text("listed_name")?,
        score_permille: r.int("score_permille")?,
        state: HitState::parse(&r.text("state")?).ok_or_else(|| corrupt("state"))?,
        decided_by: r.opt_text("decided_by")?,
        created_at_ms: r.int("created_at")?,
    })
}

/// `false` when the subject already has a hit on this entry (screening again changes nothing).
pub(super) fn insert_hit(c: &mut dyn Conn, h: &Hit) -> Result<bool> {
    Ok(c.execute(
        "INSERT INTO screening_hits (id, kind, subject, name, list, reference, listed_name, score_permille, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9) ON CONFLICT (kind, subject, list, reference) DO NOTHING",
        params![h.id, h.kind, h.subject.as_str(), h.name.as_str(), h.list, h.reference.as_str(), h.listed_name.as_str(), h.score_permille, h.created_at_ms],
    )? == 1)
}

pub(super) fn hits(c: &mut dyn Conn, state: Option<HitState>, limit: i64) -> Result<Vec<Hit>> {
    let rows = match state {
        Some(s) => c.query(&format!("SELECT {HIT} FROM screening_hits WHERE state = $1 ORDER BY id DESC LIMIT $2"), params![s, limit])?,
        None => c.query(&format!("SELECT {HIT} FROM screening_hits ORDER BY id DESC LIMIT $1"), params![limit])?,
    };
    rows.iter().map(hit_of).collect()
}

pub(super) fn hit(c: &mut dyn Conn, id: i64) -> Result<Option<Hit>> {
    c.query_one(&format!("SELECT {HIT} FROM screening_hits WHERE id = $1"), params![id])?.map(|r| hit_of(&r)).transpose()
}

/// `false` when it is not pending.
pub(super) fn decide(c: &mut dyn Conn, id: i64, state: HitState, by: &str, now_ms: i64, audit: &Effect) -> Result<bool> {
    let n = c.execute(
        "UPDATE screening_hits SET state = $2, decided_by = $3, decided_at = $4 WHERE id = $1 AND state = 'pending'",
        params![id, state, by, now_ms],
    )?;
    if n == 1 {
        c.execute(audit.sql, &audit.params)?;
    }
    Ok(n == 1)
}

/// The state of the hit of one subject on one listed entry, if screening found it.
pub(super) fn hit_state(c: &mut dyn Conn, kind: FreezeKind, subject: &str, list: ListKind, reference: &str) -> Result<Option<HitState>> {
    let row = c.query_one(
        "SELECT state FROM screening_hits WHERE kind = $1 AND subject = $2 AND list = $3 AND reference = $4",
        params![kind, subject, list, reference],
    )?;
    row.map(|r| HitState::parse(&r.text("state")?).ok_or_else(|| StoreError::Database("unknown state in a stored hit".into()))).transpose()
}
