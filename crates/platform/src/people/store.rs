//! The people domain's storage: `people` and `sessions`. The only place their SQL lives.

use super::{Person, PinState};
use crate::PersonId;
use store::{Conn, Dialect, Result, Row, params};

const PERSON: &str = "id, phone, display_name, region, kyc_tier, kyc_version, pin_hmac IS NOT NULL AS pin_set, created_at";

fn person_from(r: &Row) -> Result<Person> {
    Ok(Person {
        id: PersonId::new(r.int("id")?),
        phone: r.text("phone")?,
        display_name: r.text("display_name")?,
        region: r.text("region")?,
        kyc_tier: r.int("kyc_tier")?,
        kyc_version: r.int("kyc_version")?,
        pin_set: r.int("pin_set")? != 0,
        created_at_ms: r.int("created_at")?,
    })
}

pub(crate) struct NewPerson<'a> {
    pub id: PersonId,
    pub phone: &'a str,
    pub password_hash: &'a str,
    pub region: &'a str,
    pub display_name: &'a str,
    pub now_ms: i64,
}

/// `false` when the phone is taken.
pub(crate) fn insert(c: &mut dyn Conn, p: &NewPerson) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO people (id, phone, password_hash, region, display_name, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (phone) DO NOTHING",
        params![p.id, p.phone, p.password_hash, p.region, p.display_name, p.now_ms],
    )?;
    Ok(inserted == 1)
}

pub(crate) fn by_id(c: &mut dyn Conn, id: PersonId) -> Result<Option<Person>> {
    c.query_one(&format!("SELECT {PERSON} FROM people WHERE id = $1"), params![id])?.as_ref().map(person_from).transpose()
}

pub(crate) fn by_phone(c: &mut dyn Conn, phone: &str) -> Result<Option<Person>> {
    c.query_one(&format!("SELECT {PERSON} FROM people WHERE phone = $1"), params![phone])?.as_ref().map(person_from).transpose()
}

/// The person and password hash behind a phone number.
pub(crate) fn credentials(c: &mut dyn Conn, phone: &str) -> Result<Option<(PersonId, String)>> {
    let row = c.query_one("SELECT id, password_hash FROM people WHERE phone = $1 AND closed_at IS NULL", params![phone])?;
    row.map(|r| Ok((PersonId::new(r.int("id")?), r.text("password_hash")?))).transpose()
}

pub(crate) fn insert_session(c: &mut dyn Conn, token_hash: Vec<u8>, person: PersonId, expires_at_ms: i64, now_ms: i64) -> Result<()> {
    c.execute(
        "INSERT INTO sessions (token_hash, person_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
        params![token_hash, person, expires_at_ms, now_ms],
    )?;
    Ok(())
}

/// The session's person and expiry.
pub(crate) fn session(c: &mut dyn Conn, token_hash: Vec<u8>) -> Result<Option<(PersonId, i64)>> {
    let row = c.query_one("SELECT person_id, expires_at FROM sessions WHERE token_hash = $1", params![token_hash])?;
    row.map(|r| Ok((PersonId::new(r.int("person_id")?), r.int("expires_at")?))).transpose()
}

pub(crate) fn delete_session(c: &mut dyn Conn, token_hash: Vec<u8>) -> Result<()> {
    c.execute("DELETE FROM sessions WHERE token_hash = $1", params![token_hash])?;
    Ok(())
}

/// Delete up to `limit` expired sessions (a bounded, portable DELETE: the victims by primary key).
pub(crate) fn purge_sessions(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<u64> {
    c.execute(
        "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM sessions WHERE expires_at <= $1 LIMIT $2)",
        params![now_ms, limit],
    )
}

/// The PIN's bookkeeping; inside a transaction, `lock` holds the row until it commits (PostgreSQL; a
/// SQLite write transaction holds the whole file already), so concurrent wrong PINs are counted one by one.
pub(crate) fn pin_state(c: &mut dyn Conn, person: PersonId, lock: bool) -> Result<Option<PinState>> {
    let sql = match (lock, c.dialect()) {
        (true, Dialect::Postgres) => "SELECT pin_hmac, pin_failures, pin_locked_until FROM people WHERE id = $1 FOR UPDATE",
        _ => "SELECT pin_hmac, pin_failures, pin_locked_until FROM people WHERE id = $1",
    };
    let row = c.query_one(sql, params![person])?;
    row.map(|r| {
        Ok(PinState { mac: r.opt_bytes("pin_hmac")?, failures: r.int("pin_failures")?, locked_until_ms: r.int("pin_locked_until")? })
    })
    .transpose()
}

pub(crate) fn set_pin(c: &mut dyn Conn, person: PersonId, mac: Vec<u8>) -> Result<()> {
    c.execute("UPDATE people SET pin_hmac = $1, pin_failures = 0, pin_locked_until = 0 WHERE id = $2", params![mac, person])?;
    Ok(())
}

pub(crate) fn record_pin(c: &mut dyn Conn, person: PersonId, failures: i64, locked_until_ms: i64) -> Result<()> {
    c.execute("UPDATE people SET pin_failures = $1, pin_locked_until = $2 WHERE id = $3", params![failures, locked_until_ms, person])?;
    Ok(())
}

/// Tier 1: the legal name and the sealed document; `false` when that document verifies another wallet.
/// People who gave a legal name, after `after` in id order, `limit` at most (screening them again).
pub(crate) fn legal_names(c: &mut dyn Conn, after: i64, limit: i64) -> Result<Vec<(PersonId, String)>> {
    c.query("SELECT id, legal_name FROM people WHERE legal_name IS NOT NULL AND id > $1 ORDER BY id LIMIT $2", params![after, limit])?
        .iter()
        .map(|r| Ok((PersonId::new(r.int("id")?), r.text("legal_name")?)))
        .collect()
}

/// People waiting for an operator to verify their identity (tier 1, a legal name given), oldest first:
/// (id, display name, legal name, phone).
pub(crate) fn kyc_queue(c: &mut dyn Conn, limit: i64) -> Result<Vec<(PersonId, String, String, String)>> {
    c.query(
        "SELECT id, display_name, legal_name, phone FROM people WHERE kyc_tier = 1 AND legal_name IS NOT NULL ORDER BY id LIMIT $1",
        params![limit],
    )?
    .iter()
    .map(|r| Ok((PersonId::new(r.int("id")?), r.text("display_name")?, r.text("legal_name")?, r.text("phone")?)))
    .collect()
}

/// A person's legal name and sealed identity document.
pub(crate) fn kyc_record(c: &mut dyn Conn, person: PersonId) -> Result<(Option<String>, Option<Vec<u8>>)> {
    match c.query_one("SELECT legal_name, id_document_sealed FROM people WHERE id = $1", params![person])? {
        Some(r) => Ok((r.opt_text("legal_name")?, r.opt_bytes("id_document_sealed")?)),
        None => Ok((None, None)),
    }
}

pub(crate) fn set_kyc(c: &mut dyn Conn, person: PersonId, legal_name: &str, sealed: Vec<u8>, mac: Vec<u8>) -> Result<bool> {
    let taken = c.query_one("SELECT id FROM people WHERE id_document_mac = $1 AND id <> $2", params![mac.clone(), person])?;
    if taken.is_some() {
        return Ok(false);
    }
    c.execute(
        "UPDATE people SET legal_name = $1, id_document = NULL, id_document_sealed = $2, id_document_mac = $3, kyc_version = kyc_version + CASE WHEN kyc_tier < 1 THEN 1 ELSE 0 END, kyc_tier = CASE WHEN kyc_tier < 1 THEN 1 ELSE kyc_tier END WHERE id = $4",
        params![legal_name, sealed, mac, person],
    )?;
    Ok(true)
}

/// Set the tier; every change starts a new KYC version (fresh limit periods).
pub(crate) fn set_tier(c: &mut dyn Conn, person: PersonId, tier: i64) -> Result<bool> {
    let changed = c.execute(
        "UPDATE people SET kyc_version = kyc_version + CASE WHEN kyc_tier <> $1 THEN 1 ELSE 0 END, kyc_tier = $1 WHERE id = $2",
        params![tier, person],
    )?;
    Ok(changed == 1)
}

/// Documents stored in clear by older versions.
pub(crate) fn plain_documents(c: &mut dyn Conn, limit: i64) -> Result<Vec<(PersonId, String)>> {
    let rows = c.query("SELECT id, id_document FROM people WHERE id_document IS NOT NULL LIMIT $1", params![limit])?;
    rows.iter().map(|r| Ok((PersonId::new(r.int("id")?), r.text("id_document")?))).collect()
}

/// Seal a document stored in clear. A second wallet verified with the same document keeps its tier but
/// not the document's MAC (the unique index admits one).
pub(crate) fn seal_document(c: &mut dyn Conn, person: PersonId, sealed: Vec<u8>, mac: Vec<u8>) -> Result<()> {
    let taken = c.query_one("SELECT id FROM people WHERE id_document_mac = $1", params![mac.clone()])?.is_some();
    let mac = if taken { None } else { Some(mac) };
    c.execute(
        "UPDATE people SET id_document = NULL, id_document_sealed = $1, id_document_mac = $2 WHERE id = $3",
        params![sealed, mac, person],
    )?;
    Ok(())
}

/// Close a wallet: `false` when it was closed already. Its sessions end with it.
pub(crate) fn close(c: &mut dyn Conn, person: PersonId, now_ms: i64, erase_after_ms: i64) -> Result<bool> {
    let closed = c.execute(
        "UPDATE people SET closed_at = $2, erase_after = $3 WHERE id = $1 AND closed_at IS NULL",
        params![person, now_ms, erase_after_ms],
    )? == 1;
    c.execute("DELETE FROM sessions WHERE person_id = $1", params![person])?;
    Ok(closed)
}

/// Erase the personal data of up to `limit` closed wallets past their retention: the phone number (the
/// row keeps a placeholder, so the number may register again), names and the identity document. The
/// person's id stays: the ledger and the history refer to it, pseudonymous.
pub(crate) fn erase_closed(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<u64> {
    c.execute(
        "UPDATE people SET phone = 'erased:' || CAST(id AS TEXT), display_name = '', legal_name = NULL, id_document = NULL, id_document_sealed = NULL, id_document_mac = NULL, erased_at = $1 WHERE id IN (SELECT id FROM people WHERE erase_after <= $1 AND erased_at IS NULL LIMIT $2)",
        params![now_ms, limit],
    )
}
