//! Operators' storage: `operator_users`, `operator_sessions`, `operator_bootstrap`; each change runs in
//! a transaction with its audit row.

use super::{OperatorUser, Role, names};
use store::{Conn, Effect, Result, Row, StoreError, params};

pub(super) struct Secrets {
    pub password_hash: String,
    pub totp_secret: Option<Vec<u8>>,
}

const USER: &str = "u.id, u.username, u.roles, u.totp_secret IS NOT NULL AS totp, u.disabled, u.created_at, u.created_by";

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} in a stored operator"))
}

fn user(r: &Row) -> Result<OperatorUser> {
    let roles = r.text("roles")?.split(',').map(|n| Role::parse(n).ok_or_else(|| corrupt("role"))).collect::<Result<Vec<_>>>()?;
    Ok(OperatorUser {
        id: r.int("id")?,
        username: r.text("username")?,
        roles,
        totp: r.int("totp")? != 0,
        disabled: r.int("disabled")? != 0,
        created_at_ms: r.int("created_at")?,
        created_by: r.text("created_by")?,
    })
}

fn run(c: &mut dyn Conn, e: &Effect) -> Result<u64> {
    c.execute(e.sql, &e.params)
}

fn insert_row(c: &mut dyn Conn, u: &OperatorUser, hash: &str, max: i64) -> Result<bool> {
    let n = c.execute(
        "INSERT INTO operator_users (id, username, password_hash, roles, disabled, created_at, created_by) SELECT $1, $2, $3, $4, 0, $5, $6 WHERE (SELECT COUNT(*) FROM operator_users) < $7 ON CONFLICT (username) DO NOTHING",
        params![u.id, u.username.as_str(), hash, names(&u.roles), u.created_at_ms, u.created_by.as_str(), max],
    )?;
    Ok(n == 1)
}

/// The first operator: `false` when the platform was bootstrapped before (one row in `operator_bootstrap`).
pub(super) fn insert_first(c: &mut dyn Conn, u: &OperatorUser, hash: &str, audit: &Effect) -> Result<bool> {
    if c.execute("INSERT INTO operator_bootstrap (id, at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", params![u.created_at_ms])? == 0 {
        return Ok(false);
    }
    let created = insert_row(c, u, hash, 1)?;
    if created {
        run(c, audit)?;
    }
    Ok(created)
}

/// `false` when the name is taken or there are `max` operators.
pub(super) fn insert(c: &mut dyn Conn, u: &OperatorUser, hash: &str, max: i64, audit: &Effect) -> Result<bool> {
    let created = insert_row(c, u, hash, max)?;
    if created {
        run(c, audit)?;
    }
    Ok(created)
}

pub(super) fn list(c: &mut dyn Conn, max: i64) -> Result<Vec<OperatorUser>> {
    c.query(&format!("SELECT {USER} FROM operator_users u ORDER BY u.username LIMIT $1"), params![max])?.iter().map(user).collect()
}

pub(super) fn by_name(c: &mut dyn Conn, username: &str) -> Result<Option<(OperatorUser, Secrets)>> {
    let row = c.query_one(
        &format!("SELECT {USER}, u.password_hash, u.totp_secret FROM operator_users u WHERE u.username = $1"),
        params![username],
    )?;
    row.map(|r| Ok((user(&r)?, Secrets { password_hash: r.text("password_hash")?, totp_secret: r.opt_bytes("totp_secret")? }))).transpose()
}

pub(super) fn set_roles(c: &mut dyn Conn, id: i64, roles: &str, audit: &Effect) -> Result<()> {
    c.execute("UPDATE operator_users SET roles = $2 WHERE id = $1", params![id, roles])?;
    run(c, audit).map(|_| ())
}

pub(super) fn set_disabled(c: &mut dyn Conn, id: i64, disabled: bool, audit: &Effect) -> Result<()> {
    c.execute("UPDATE operator_users SET disabled = $2 WHERE id = $1", params![id, i64::from(disabled)])?;
    if disabled {
        c.execute("DELETE FROM operator_sessions WHERE user_id = $1", params![id])?;
    }
    run(c, audit).map(|_| ())
}

pub(super) fn insert_session(
    c: &mut dyn Conn,
    token_hash: &[u8],
    user: i64,
    expires_at_ms: i64,
    now_ms: i64,
    audit: &Effect,
) -> Result<()> {
    c.execute(
        "INSERT INTO operator_sessions (token_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
        params![token_hash.to_vec(), user, expires_at_ms, now_ms],
    )?;
    run(c, audit).map(|_| ())
}

pub(super) fn session(c: &mut dyn Conn, token_hash: &[u8], now_ms: i64) -> Result<Option<OperatorUser>> {
    let row = c.query_one(
        &format!("SELECT {USER} FROM operator_sessions s JOIN operator_users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0"),
        params![token_hash.to_vec(), now_ms],
    )?;
    row.map(|r| user(&r)).transpose()
}

pub(super) fn delete_session(c: &mut dyn Conn, token_hash: &[u8]) -> Result<()> {
    c.execute("DELETE FROM operator_sessions WHERE token_hash = $1", params![token_hash.to_vec()]).map(|_| ())
}

pub(super) fn purge_sessions(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<u64> {
    c.execute(
        "DELETE FROM operator_sessions WHERE token_hash IN (SELECT token_hash FROM operator_sessions WHERE expires_at <= $1 LIMIT $2)",
        params![now_ms, limit],
    )
}

/// Record that a TOTP step was used; `false` when it (or a later one) was used before: a replayed code.
pub(super) fn use_totp_step(c: &mut dyn Conn, id: i64, step: i64) -> Result<bool> {
    Ok(c.execute("UPDATE operator_users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2", params![id, step])? == 1)
}

pub(super) fn set_totp_pending(c: &mut dyn Conn, id: i64, sealed: &[u8]) -> Result<()> {
    c.execute("UPDATE operator_users SET totp_pending = $2 WHERE id = $1", params![id, sealed.to_vec()]).map(|_| ())
}

pub(super) fn totp_pending(c: &mut dyn Conn, id: i64) -> Result<Option<Vec<u8>>> {
    match c.query_one("SELECT totp_pending FROM operator_users WHERE id = $1", params![id])? {
        Some(r) => r.opt_bytes("totp_pending"),
        None => Ok(None),
    }
}

pub(super) fn confirm_totp(c: &mut dyn Conn, id: i64, step: i64, audit: &Effect) -> Result<()> {
    c.execute(
        "UPDATE operator_users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $2 WHERE id = $1",
        params![id, step],
    )?;
    run(c, audit).map(|_| ())
}
