//! The merchants domain's storage: `merchants`, `merchant_keys`, `merchant_apps`, `platform_keys`,
//! `merchant_nonces`, `instances`, `merchant_users`, `merchant_sessions`.

use super::{AppKind, Merchant, MerchantKind, MerchantRole, MerchantUser, PlatformKeyKind};
use crate::MerchantId;
use money::Currency;
use store::{Conn, Effect, Result, Row, StoreError, params};

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} in a stored merchant"))
}

const MERCHANT: &str = "m.id, m.mchid, m.kind, m.parent_id, p.mchid AS parent_mchid, m.name, m.mcc, m.country, m.settlement_currency, m.fee_bps, m.settlement_account, m.created_at, m.public_key_mode, m.apiv3_key, m.licence, m.time_zone";

fn merchant_from(r: &Row) -> Result<(Merchant, Vec<u8>)> {
    let merchant = Merchant {
        id: MerchantId::new(r.int("id")?),
        mchid: r.text("mchid")?,
        kind: MerchantKind::parse(&r.text("kind")?).ok_or_else(|| corrupt("kind"))?,
        parent_id: r.opt_int("parent_id")?.map(MerchantId::new),
        parent_mchid: r.opt_text("parent_mchid")?,
        name: r.text("name")?,
        mcc: r.text("mcc")?,
        country: r.text("country")?,
        settlement_currency: Currency::from_numeric(r.uint("settlement_currency")?).map_err(|_| corrupt("currency"))?,
        fee_bps: r.int("fee_bps")?,
        settlement_account: r.text("settlement_account")?,
        public_key_mode: r.int("public_key_mode")? != 0,
        created_at_ms: r.int("created_at")?,
        licence: r.opt_text("licence")?,
        time_zone: r.text("time_zone")?,
    };
    Ok((merchant, r.bytes("apiv3_key")?))
}

pub(crate) struct NewMerchant<'a> {
    pub merchant: &'a Merchant,
    pub sealed_apiv3_key: Vec<u8>,
}

/// `false` when the mchid is taken.
pub(crate) fn insert(c: &mut dyn Conn, n: &NewMerchant) -> Result<bool> {
    let m = n.merchant;
    let inserted = c.execute(
        "INSERT INTO merchants (id, mchid, kind, parent_id, name, mcc, country, settlement_currency, fee_bps, settlement_account, apiv3_key, created_at, public_key_mode, updated_at, licence, time_zone) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $14, $15) ON CONFLICT (mchid) DO NOTHING",
        params![
            m.id,
            m.mchid.as_str(),
            m.kind,
            m.parent_id,
            m.name.as_str(),
            m.mcc.as_str(),
            m.country.as_str(),
            m.settlement_currency.numeric(),
            m.fee_bps,
            m.settlement_account.as_str(),
            n.sealed_apiv3_key.clone(),
            m.created_at_ms,
            i64::from(m.public_key_mode),
            m.licence.as_deref(),
            m.time_zone.as_str()
        ],
    )?;
    Ok(inserted == 1)
}

/// A merchant, its sealed APIv3 key, its live keys (serial, SPKI DER) and its app ids.
pub(crate) struct Found {
    pub merchant: Merchant,
    pub sealed_apiv3_key: Vec<u8>,
    pub keys: Vec<(String, Vec<u8>)>,
    pub appids: Vec<String>,
}

pub(crate) fn by_mchid(c: &mut dyn Conn, mchid: &str) -> Result<Option<Found>> {
    let row = c.query_one(
        &format!("SELECT {MERCHANT} FROM merchants m LEFT JOIN merchants p ON p.id = m.parent_id WHERE m.mchid = $1"),
        params![mchid],
    )?;
    let Some(row) = row else { return Ok(None) };
    let (merchant, sealed_apiv3_key) = merchant_from(&row)?;
    let keys = c.query(
        "SELECT serial_no, public_key FROM merchant_keys WHERE merchant_id = $1 AND revoked_at IS NULL ORDER BY created_at",
        params![merchant.id],
    )?;
    let keys = keys.iter().map(|k| Ok((k.text("serial_no")?, k.bytes("public_key")?))).collect::<Result<Vec<_>>>()?;
    let apps = c.query("SELECT appid FROM merchant_apps WHERE merchant_id = $1 ORDER BY appid", params![merchant.id])?;
    let appids = apps.iter().map(|a| a.text("appid")).collect::<Result<Vec<_>>>()?;
    Ok(Some(Found { merchant, sealed_apiv3_key, keys, appids }))
}

pub(crate) fn mchid_of(c: &mut dyn Conn, id: MerchantId) -> Result<Option<String>> {
    c.query_one("SELECT mchid FROM merchants WHERE id = $1", params![id])?.map(|r| r.text("mchid")).transpose()
}

/// Merchants whose credentials changed at or after a time (other instances forget their cached copy).
pub(crate) fn changed_since(c: &mut dyn Conn, since_ms: i64) -> Result<Vec<String>> {
    let rows = c.query("SELECT mchid FROM merchants WHERE updated_at >= $1", params![since_ms])?;
    rows.iter().map(|r| r.text("mchid")).collect()
}

fn touch(c: &mut dyn Conn, merchant: MerchantId, now_ms: i64) -> Result<()> {
    c.execute("UPDATE merchants SET updated_at = $2 WHERE id = $1", params![merchant, now_ms])?;
    Ok(())
}

/// `false` when the serial is taken.
pub(crate) fn insert_key(c: &mut dyn Conn, merchant: MerchantId, serial: &str, spki: Vec<u8>, now_ms: i64) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO merchant_keys (merchant_id, serial_no, public_key, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id, serial_no) DO NOTHING",
        params![merchant, serial, spki, now_ms],
    )?;
    touch(c, merchant, now_ms)?;
    Ok(inserted == 1)
}

pub(crate) fn revoke_key(c: &mut dyn Conn, merchant: MerchantId, serial: &str, now_ms: i64) -> Result<bool> {
    let changed = c.execute(
        "UPDATE merchant_keys SET revoked_at = $3 WHERE merchant_id = $1 AND serial_no = $2 AND revoked_at IS NULL",
        params![merchant, serial, now_ms],
    )?;
    touch(c, merchant, now_ms)?;
    Ok(changed == 1)
}

/// `false` when the app id is taken.
pub(crate) fn insert_app(c: &mut dyn Conn, merchant: MerchantId, appid: &str, kind: AppKind, name: &str, now_ms: i64) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO merchant_apps (appid, merchant_id, kind, name, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (appid) DO NOTHING",
        params![appid, merchant, kind, name, now_ms],
    )?;
    touch(c, merchant, now_ms)?;
    Ok(inserted == 1)
}

/// A platform key as stored: serial, kind, sealed PKCS#8, certificate DER, effective and expiry times.
pub(crate) struct StoredKey {
    pub serial: String,
    pub kind: PlatformKeyKind,
    pub sealed: Vec<u8>,
    pub certificate: Option<Vec<u8>>,
    pub effective_at_ms: i64,
    pub expires_at_ms: i64,
}

pub(crate) fn platform_keys(c: &mut dyn Conn, now_ms: i64) -> Result<Vec<StoredKey>> {
    let rows = c.query(
        "SELECT serial_no, kind, private_key, certificate, effective_at, expires_at FROM platform_keys WHERE expires_at > $1 ORDER BY effective_at, serial_no",
        params![now_ms],
    )?;
    rows.iter()
        .map(|r| {
            Ok(StoredKey {
                serial: r.text("serial_no")?,
                kind: PlatformKeyKind::parse(&r.text("kind")?).ok_or_else(|| corrupt("platform key kind"))?,
                sealed: r.bytes("private_key")?,
                certificate: r.opt_bytes("certificate")?,
                effective_at_ms: r.int("effective_at")?,
                expires_at_ms: r.int("expires_at")?,
            })
        })
        .collect()
}

pub(crate) fn insert_platform_key(c: &mut dyn Conn, k: &StoredKey) -> Result<()> {
    c.execute(
        "INSERT INTO platform_keys (serial_no, kind, private_key, certificate, effective_at, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $5)",
        params![k.serial.as_str(), k.kind, k.sealed.clone(), k.certificate.clone(), k.effective_at_ms, k.expires_at_ms],
    )?;
    Ok(())
}

pub(crate) fn retire_platform_key(c: &mut dyn Conn, serial: &str, now_ms: i64) -> Result<()> {
    c.execute("UPDATE platform_keys SET expires_at = $2 WHERE serial_no = $1", params![serial, now_ms])?;
    Ok(())
}

/// A merchant request's nonce, first seen now (a guard: it changes no row when the nonce was seen).
pub(crate) fn remember_nonce(mchid: &str, nonce: &str, now_s: i64) -> Effect {
    Effect {
        sql: "INSERT INTO merchant_nonces (mchid, nonce, seen_at) VALUES ($1, $2, $3) ON CONFLICT (mchid, nonce) DO NOTHING",
        params: params![mchid, nonce, now_s].to_vec(),
    }
}

/// Forget nonces seen before a time (they are outside every signature window), a bounded number.
pub(crate) fn purge_nonces(c: &mut dyn Conn, before_s: i64, limit: i64) -> Result<u64> {
    c.execute(
        "DELETE FROM merchant_nonces WHERE (mchid, nonce) IN (SELECT mchid, nonce FROM merchant_nonces WHERE seen_at < $1 LIMIT $2)",
        params![before_s, limit],
    )
}

/// This instance is alive; how many are (seen within `window_ms`).
pub(crate) fn heartbeat(c: &mut dyn Conn, instance: &str, now_ms: i64, window_ms: i64) -> Result<i64> {
    c.execute(
        "INSERT INTO instances (id, seen_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seen_at = $2",
        params![instance, now_ms],
    )?;
    c.execute("DELETE FROM instances WHERE seen_at < $1", params![now_ms - 10 * window_ms])?;
    let row = c.query_one("SELECT COUNT(*) AS live FROM instances WHERE seen_at >= $1", params![now_ms - window_ms])?;
    row.map(|r| r.int("live")).transpose().map(|n| n.unwrap_or(1).max(1))
}

pub(crate) fn upsert_qr_profile(c: &mut dyn Conn, merchant: MerchantId, p: &super::qr::QrProfile, now_ms: i64) -> Result<()> {
    c.execute(
        "INSERT INTO merchant_qr_profiles (merchant_id, name, city, postal_code, language, local_name, local_city, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (merchant_id) DO UPDATE SET name = $2, city = $3, postal_code = $4, language = $5, local_name = $6, local_city = $7, updated_at = $8",
        params![
            merchant,
            p.name.as_str(),
            p.city.as_str(),
            p.postal_code.as_deref(),
            p.language.as_deref(),
            p.local_name.as_deref(),
            p.local_city.as_deref(),
            now_ms
        ],
    )?;
    Ok(())
}

pub(crate) fn qr_profile(c: &mut dyn Conn, merchant: MerchantId) -> Result<Option<super::qr::QrProfile>> {
    let row = c.query_one(
        "SELECT name, city, postal_code, language, local_name, local_city FROM merchant_qr_profiles WHERE merchant_id = $1",
        params![merchant],
    )?;
    row.map(|r| {
        Ok(super::qr::QrProfile {
            name: r.text("name")?,
            city: r.text("city")?,
            postal_code: r.opt_text("postal_code")?,
            language: r.opt_text("language")?,
            local_name: r.opt_text("local_name")?,
            local_city: r.opt_text("local_city")?,
        })
    })
    .transpose()
}

/// `false` when the merchant already has `max` other schemes.
pub(crate) fn upsert_scheme(
    c: &mut dyn Conn,
    merchant: MerchantId,
    scheme: super::qr::SchemeKind,
    template: &str,
    max: usize,
    now_ms: i64,
) -> Result<bool> {
    let others = c.query("SELECT scheme FROM merchant_schemes WHERE merchant_id = $1 AND scheme <> $2", params![merchant, scheme])?.len();
    if others >= max {
        return Ok(false);
    }
    c.execute(
        "INSERT INTO merchant_schemes (merchant_id, scheme, template, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id, scheme) DO UPDATE SET template = $3",
        params![merchant, scheme, template, now_ms],
    )?;
    Ok(true)
}

pub(crate) fn schemes(c: &mut dyn Conn, merchant: MerchantId) -> Result<Vec<(String, String)>> {
    c.query("SELECT scheme, template FROM merchant_schemes WHERE merchant_id = $1 ORDER BY created_at, scheme", params![merchant])?
        .iter()
        .map(|r| Ok((r.text("scheme")?, r.text("template")?)))
        .collect()
}

/// Add a console user; `false` when the name is taken or the merchant has `max` users.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_user(
    c: &mut dyn Conn,
    id: i64,
    merchant: MerchantId,
    username: &str,
    password_hash: &str,
    role: &str,
    now_ms: i64,
    max: i64,
) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO merchant_users (id, merchant_id, username, password_hash, role, created_at) SELECT $1, $2, $3, $4, $5, $6 WHERE (SELECT COUNT(*) FROM merchant_users WHERE merchant_id = $2) < $7 ON CONFLICT (merchant_id, username) DO NOTHING",
        params![id, merchant, username, password_hash, role, now_ms, max],
    )?;
    Ok(inserted == 1)
}

const USER: &str = "u.id, u.merchant_id, m.mchid, u.username, u.role";

fn user_from(r: &Row) -> Result<MerchantUser> {
    Ok(MerchantUser {
        id: r.int("id")?,
        merchant_id: MerchantId::new(r.int("merchant_id")?),
        mchid: r.text("mchid")?,
        username: r.text("username")?,
        role: MerchantRole::parse(&r.text("role")?).ok_or_else(|| corrupt("console role"))?,
    })
}

/// A console user and their password hash.
pub(crate) fn user_by_name(c: &mut dyn Conn, merchant: MerchantId, username: &str) -> Result<Option<(MerchantUser, String)>> {
    let row = c.query_one(
        &format!("SELECT {USER}, u.password_hash FROM merchant_users u JOIN merchants m ON m.id = u.merchant_id WHERE u.merchant_id = $1 AND u.username = $2"),
        params![merchant, username],
    )?;
    row.map(|r| Ok((user_from(&r)?, r.text("password_hash")?))).transpose()
}

pub(crate) fn insert_console_session(c: &mut dyn Conn, token_hash: Vec<u8>, user: i64, expires_at_ms: i64, now_ms: i64) -> Result<()> {
    c.execute(
        "INSERT INTO merchant_sessions (token_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
        params![token_hash, user, expires_at_ms, now_ms],
    )?;
    Ok(())
}

/// The user of a session still live at `now_ms`.
pub(crate) fn console_session(c: &mut dyn Conn, token_hash: Vec<u8>, now_ms: i64) -> Result<Option<MerchantUser>> {
    let row = c.query_one(
        &format!("SELECT {USER} FROM merchant_sessions s JOIN merchant_users u ON u.id = s.user_id JOIN merchants m ON m.id = u.merchant_id WHERE s.token_hash = $1 AND s.expires_at > $2"),
        params![token_hash, now_ms],
    )?;
    row.map(|r| user_from(&r)).transpose()
}

pub(crate) fn delete_console_session(c: &mut dyn Conn, token_hash: Vec<u8>) -> Result<()> {
    c.execute("DELETE FROM merchant_sessions WHERE token_hash = $1", params![token_hash])?;
    Ok(())
}

/// Delete up to `limit` expired console sessions.
pub(crate) fn purge_console_sessions(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<u64> {
    c.execute(
        "DELETE FROM merchant_sessions WHERE token_hash IN (SELECT token_hash FROM merchant_sessions WHERE expires_at <= $1 LIMIT $2)",
        params![now_ms, limit],
    )
}

/// Merchants after `after` in id order, `limit` at most: (id, mchid, name) (for screening them again).
pub(crate) fn names(c: &mut dyn Conn, after: i64, limit: i64) -> Result<Vec<(i64, String, String)>> {
    c.query("SELECT id, mchid, name FROM merchants WHERE id > $1 ORDER BY id LIMIT $2", params![after, limit])?
        .iter()
        .map(|r| Ok((r.int("id")?, r.text("mchid")?, r.text("name")?)))
        .collect()
}

/// A merchant's daily cap: (currency numeric, cap in minor units).
pub(crate) fn daily_cap(c: &mut dyn Conn, merchant: MerchantId) -> Result<Option<(u16, i64)>> {
    c.query_one("SELECT currency, cap_minor FROM merchant_caps WHERE merchant_id = $1", params![merchant])?
        .map(|r| Ok((r.uint("currency")?, r.int("cap_minor")?)))
        .transpose()
}

/// Set (or, `None`, remove) a merchant's daily cap, with the audit row.
pub(crate) fn set_daily_cap(
    c: &mut dyn Conn,
    merchant: MerchantId,
    cap: Option<(u16, i64)>,
    by: &str,
    now_ms: i64,
    audit: &Effect,
) -> Result<()> {
    match cap {
        Some((currency, cap_minor)) => c.execute(
            "INSERT INTO merchant_caps (merchant_id, currency, cap_minor, set_by, set_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id) DO UPDATE SET currency = $2, cap_minor = $3, set_by = $4, set_at = $5",
            params![merchant, i64::from(currency), cap_minor, by, now_ms],
        )?,
        None => c.execute("DELETE FROM merchant_caps WHERE merchant_id = $1", params![merchant])?,
    };
    c.execute(audit.sql, &audit.params).map(|_| ())
}

/// The day's usage row, so that the cap's guard has a row to change.
pub(crate) fn open_cap_day(c: &mut dyn Conn, merchant: MerchantId, day: i64) -> Result<()> {
    c.execute(
        "INSERT INTO merchant_cap_usage (merchant_id, day, used_minor) VALUES ($1, $2, 0) ON CONFLICT (merchant_id, day) DO NOTHING",
        params![merchant, day],
    )
    .map(|_| ())
}

/// The guard a payment commits with: the day's takings stay within the cap (exact: the committer decides
/// guards in its transaction, one request after another).
pub(crate) fn cap_guard(merchant: MerchantId, day: i64, amount_minor: i64, cap_minor: i64) -> Effect {
    Effect {
        sql: "UPDATE merchant_cap_usage SET used_minor = used_minor + $3 WHERE merchant_id = $1 AND day = $2 AND used_minor + $3 <= $4",
        params: params![merchant, day, amount_minor, cap_minor].to_vec(),
    }
}
