//! The official accounts domain's storage: `official_followers`, `official_messages` (and the
//! accounts themselves: `merchant_apps` of kind `official_account`).

use super::{AccountRow, Follow, Message, MessageKind};
use crate::{MerchantId, PersonId};
use store::{Conn, Result, Row, StoreError, params};

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} in a stored official account row"))
}

const ACCOUNT: &str = "a.appid, a.name, a.merchant_id, m.name AS owner_name, CASE WHEN EXISTS (SELECT 1 FROM charities ch WHERE ch.merchant_id = a.merchant_id AND ch.state = 'active') THEN 1 ELSE 0 END AS charity, (SELECT COUNT(*) FROM official_followers f WHERE f.appid = a.appid AND f.following = 1) AS followers";

fn account_from(r: &Row) -> Result<AccountRow> {
    Ok(AccountRow {
        appid: r.text("appid")?,
        name: r.text("name")?,
        owner: MerchantId::new(r.int("merchant_id")?),
        owner_name: r.text("owner_name")?,
        charity: r.int("charity")? != 0,
        followers: r.int("followers")?,
    })
}

pub(crate) fn account(c: &mut dyn Conn, appid: &str) -> Result<Option<AccountRow>> {
    let sql = format!(
        "SELECT {ACCOUNT} FROM merchant_apps a JOIN merchants m ON m.id = a.merchant_id WHERE a.appid = $1 AND a.kind = 'official_account'"
    );
    c.query_one(&sql, params![appid])?.as_ref().map(account_from).transpose()
}

/// Accounts whose id is `text` or whose name starts with it, `limit` at most.
pub(crate) fn search(c: &mut dyn Conn, text: &str, limit: i64) -> Result<Vec<AccountRow>> {
    let prefix = format!("{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let sql = format!(
        "SELECT {ACCOUNT} FROM merchant_apps a JOIN merchants m ON m.id = a.merchant_id WHERE a.kind = 'official_account' AND (a.appid = $1 OR a.name LIKE $2 ESCAPE '\\') ORDER BY a.name, a.appid LIMIT $3"
    );
    c.query(&sql, params![text, prefix.as_str(), limit])?.iter().map(account_from).collect()
}

/// A merchant's official accounts.
pub(crate) fn accounts_of(c: &mut dyn Conn, merchant: MerchantId) -> Result<Vec<AccountRow>> {
    let sql = format!(
        "SELECT {ACCOUNT} FROM merchant_apps a JOIN merchants m ON m.id = a.merchant_id WHERE a.merchant_id = $1 AND a.kind = 'official_account' ORDER BY a.appid"
    );
    c.query(&sql, params![merchant])?.iter().map(account_from).collect()
}

/// Follow (again): a new follow reads from now on; following again after unfollowing starts afresh.
pub(crate) fn follow(c: &mut dyn Conn, appid: &str, person: PersonId, openid: &str, now_ms: i64) -> Result<()> {
    c.execute(
        "INSERT INTO official_followers (appid, person_id, openid, following, muted, followed_at, read_id) VALUES ($1, $2, $3, 1, 0, $4, 0)
         ON CONFLICT (appid, person_id) DO UPDATE SET following = 1, followed_at = CASE WHEN official_followers.following = 1 THEN official_followers.followed_at ELSE excluded.followed_at END",
        params![appid, person, openid, now_ms],
    )?;
    Ok(())
}

pub(crate) fn unfollow(c: &mut dyn Conn, appid: &str, person: PersonId) -> Result<bool> {
    Ok(c.execute(
        "UPDATE official_followers SET following = 0 WHERE appid = $1 AND person_id = $2 AND following = 1",
        params![appid, person],
    )? == 1)
}

pub(crate) fn set_muted(c: &mut dyn Conn, appid: &str, person: PersonId, muted: bool) -> Result<bool> {
    Ok(c.execute(
        "UPDATE official_followers SET muted = $3 WHERE appid = $1 AND person_id = $2 AND following = 1",
        params![appid, person, muted],
    )? == 1)
}

/// The follower an openid names at an account (following now), if any.
pub(crate) fn follower_by_openid(c: &mut dyn Conn, appid: &str, openid: &str) -> Result<Option<PersonId>> {
    let row =
        c.query_one("SELECT person_id FROM official_followers WHERE appid = $1 AND openid = $2 AND following = 1", params![appid, openid])?;
    row.map(|r| r.int("person_id").map(PersonId::new)).transpose()
}

/// The person's follows, with each one's unread count.
pub(crate) fn follows(c: &mut dyn Conn, person: PersonId) -> Result<Vec<Follow>> {
    let rows = c.query(
        "SELECT f.appid, a.name, f.openid, f.muted, (SELECT COUNT(*) FROM official_messages m WHERE m.appid = f.appid AND m.created_at >= f.followed_at AND m.id > f.read_id AND (m.to_person IS NULL OR m.to_person = f.person_id)) AS unread
         FROM official_followers f JOIN merchant_apps a ON a.appid = f.appid WHERE f.person_id = $1 AND f.following = 1 ORDER BY a.name, f.appid",
        params![person],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Follow {
                appid: r.text("appid")?,
                name: r.text("name")?,
                openid: r.text("openid")?,
                muted: r.int("muted")? != 0,
                unread: r.int("unread")?,
            })
        })
        .collect()
}

pub(crate) fn count_follows(c: &mut dyn Conn, person: PersonId) -> Result<i64> {
    let row = c.query_one("SELECT COUNT(*) AS n FROM official_followers WHERE person_id = $1 AND following = 1", params![person])?;
    row.map_or(Ok(0), |r| r.int("n"))
}

const MESSAGE: &str = "m.id, m.appid, a.name AS account_name, m.out_message_no, m.kind, m.title, m.body, m.to_person, m.created_at";

fn message_from(r: &Row) -> Result<Message> {
    Ok(Message {
        id: r.int("id")?,
        appid: r.text("appid")?,
        account_name: r.text("account_name")?,
        out_message_no: r.text("out_message_no")?,
        kind: MessageKind::parse(&r.text("kind")?).ok_or_else(|| corrupt("message kind"))?,
        title: r.text("title")?,
        body: r.text("body")?,
        to_person: r.opt_int("to_person")?.map(PersonId::new),
        created_at_ms: r.int("created_at")?,
    })
}

/// A message, once per `out_message_no`; `false` when the number was used.
pub(crate) fn insert_message(c: &mut dyn Conn, m: &Message) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO official_messages (id, appid, out_message_no, kind, title, body, to_person, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        params![m.id, m.appid.as_str(), m.out_message_no.as_str(), m.kind, m.title.as_str(), m.body.as_str(), m.to_person, m.created_at_ms],
    )?;
    Ok(inserted == 1)
}

pub(crate) fn message_by_out_no(c: &mut dyn Conn, appid: &str, out_no: &str) -> Result<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE} FROM official_messages m JOIN merchant_apps a ON a.appid = m.appid WHERE m.appid = $1 AND m.out_message_no = $2"
    );
    c.query_one(&sql, params![appid, out_no])?.as_ref().map(message_from).transpose()
}

/// Broadcasts an account sent since `since_ms` (its daily limit).
pub(crate) fn broadcasts_since(c: &mut dyn Conn, appid: &str, since_ms: i64) -> Result<i64> {
    let row = c.query_one(
        "SELECT COUNT(*) AS n FROM official_messages WHERE appid = $1 AND to_person IS NULL AND created_at >= $2",
        params![appid, since_ms],
    )?;
    row.map_or(Ok(0), |r| r.int("n"))
}

/// The person's inbox: the messages of the accounts they follow, since each follow, newest first,
/// before message id `before`, `limit` at most; with each follow's read mark.
pub(crate) fn inbox(c: &mut dyn Conn, person: PersonId, before: i64, limit: i64) -> Result<Vec<(Message, i64)>> {
    let sql = format!(
        "SELECT {MESSAGE}, f.read_id FROM official_messages m JOIN official_followers f ON f.appid = m.appid AND f.person_id = $1 JOIN merchant_apps a ON a.appid = m.appid
         WHERE f.following = 1 AND m.created_at >= f.followed_at AND (m.to_person IS NULL OR m.to_person = $1) AND m.id < $2 ORDER BY m.id DESC LIMIT $3"
    );
    c.query(&sql, params![person, before, limit])?.iter().map(|r| Ok((message_from(r)?, r.int("read_id")?))).collect()
}

/// Everything of an account up to `up_to` read, at most its newest message so far (a later one stays
/// unread; the mark only moves forward).
pub(crate) fn mark_read(c: &mut dyn Conn, appid: &str, person: PersonId, up_to: i64) -> Result<()> {
    let newest = c.query_one("SELECT MAX(id) AS newest FROM official_messages WHERE appid = $1", params![appid])?;
    let Some(newest) = newest.map(|r| r.opt_int("newest")).transpose()?.flatten() else { return Ok(()) };
    let up_to = up_to.min(newest);
    c.execute(
        "UPDATE official_followers SET read_id = $3 WHERE appid = $1 AND person_id = $2 AND read_id < $3",
        params![appid, person, up_to],
    )?;
    Ok(())
}
