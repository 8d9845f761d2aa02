//! The red packets domain's storage: `red_packets`, `red_packet_shares`, `red_packet_covers`.

use super::{Cover, Packet, PacketState, Split};
use crate::history::Window;
use crate::{MerchantId, PersonId};
use money::Currency;
use store::{Conn, Effect, Result, Row, StoreError, params};

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} in a stored red packet"))
}

const PACKET: &str = "id, sender_id, split, receiver_id, group_id, currency, total, shares, title, cover, state, created_at, expires_at";

fn packet_from(r: &Row) -> Result<Packet> {
    Ok(Packet {
        id: r.int("id")?,
        sender: PersonId::new(r.int("sender_id")?),
        split: Split::parse(&r.text("split")?).ok_or_else(|| corrupt("split"))?,
        receiver: r.opt_int("receiver_id")?.map(PersonId::new),
        group: r.opt_int("group_id")?,
        currency: Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))?,
        total_minor: r.int("total")?,
        shares: r.int("shares")?,
        title: r.text("title")?,
        cover: r.opt_text("cover")?,
        state: PacketState::parse(&r.text("state")?).ok_or_else(|| corrupt("state"))?,
        created_at_ms: r.int("created_at")?,
        expires_at_ms: r.int("expires_at")?,
    })
}

/// The packet's row, a guard of its funding's commit (a retry that raced in first wins).
pub(crate) fn insert(p: &Packet) -> Effect {
    Effect {
        sql: "INSERT INTO red_packets (id, sender_id, split, receiver_id, group_id, currency, total, shares, title, cover, created_at, expires_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING",
        params: params![
            p.id,
            p.sender,
            p.split,
            p.receiver,
            p.group,
            p.currency.numeric(),
            p.total_minor,
            p.shares,
            p.title.as_str(),
            p.cover.clone(),
            p.created_at_ms,
            p.expires_at_ms,
            p.state
        ]
        .to_vec(),
    }
}

/// One drawn share, written with the packet.
pub(crate) fn insert_share(packet: i64, idx: i64, amount_minor: i64) -> Effect {
    Effect {
        sql: "INSERT INTO red_packet_shares (packet_id, idx, amount) VALUES ($1, $2, $3) ON CONFLICT (packet_id, idx) DO NOTHING",
        params: params![packet, idx, amount_minor].to_vec(),
    }
}

pub(crate) fn packet(c: &mut dyn Conn, id: i64) -> Result<Option<Packet>> {
    c.query_one(&format!("SELECT {PACKET} FROM red_packets WHERE id = $1"), params![id])?.as_ref().map(packet_from).transpose()
}

/// Open packets a person may open, not expired at `now_ms`: sent to them, or to a group they are in;
/// newest first, `limit` at most.
pub(crate) fn openable(c: &mut dyn Conn, person: PersonId, now_ms: i64, limit: i64) -> Result<Vec<i64>> {
    let rows = c.query(
        "SELECT id, created_at FROM red_packets WHERE receiver_id = $3 AND state = $1 AND expires_at > $2 UNION ALL SELECT p.id, p.created_at FROM red_packets p JOIN group_members m ON m.group_id = p.group_id WHERE m.person_id = $3 AND p.state = $1 AND p.expires_at > $2 ORDER BY created_at DESC, id DESC LIMIT $4",
        params![PacketState::Open, now_ms, person, limit],
    )?;
    rows.iter().map(|r| r.int("id")).collect()
}

/// The unclaimed shares of a packet, lowest index first: (idx, amount).
pub(crate) fn unclaimed(c: &mut dyn Conn, packet: i64) -> Result<Vec<(i64, i64)>> {
    let rows =
        c.query("SELECT idx, amount FROM red_packet_shares WHERE packet_id = $1 AND claimed_by IS NULL ORDER BY idx", params![packet])?;
    rows.iter().map(|r| Ok((r.int("idx")?, r.int("amount")?))).collect()
}

/// Whether a person holds a share of a packet.
pub(crate) fn has_claimed(c: &mut dyn Conn, packet: i64, person: PersonId) -> Result<bool> {
    Ok(c.query_one("SELECT 1 AS yes FROM red_packet_shares WHERE packet_id = $1 AND claimed_by = $2", params![packet, person])?.is_some())
}

/// Take share `idx` for `person` and mark it paid, with the payment (a guard: it fails when the share
/// is taken, or when the person already holds one, which the unique index would refuse too).
pub(crate) fn take_share(packet: i64, idx: i64, person: PersonId, now_ms: i64) -> Effect {
    Effect {
        sql: "UPDATE red_packet_shares SET claimed_by = $1, claimed_at = $2, paid = 1 WHERE packet_id = $3 AND idx = $4 AND claimed_by IS NULL AND NOT EXISTS (SELECT 1 FROM red_packet_shares WHERE packet_id = $3 AND claimed_by = $1)",
        params: params![person, now_ms, packet, idx].to_vec(),
    }
}

/// Paid claims of a packet, first claimed first: (person, amount, claimed_at).
pub(crate) fn claims(c: &mut dyn Conn, packet: i64) -> Result<Vec<(PersonId, i64, i64)>> {
    let rows = c.query(
        "SELECT claimed_by, amount, claimed_at FROM red_packet_shares WHERE packet_id = $1 AND claimed_by IS NOT NULL AND paid = 1 ORDER BY claimed_at, idx",
        params![packet],
    )?;
    rows.iter().map(|r| Ok((PersonId::new(r.int("claimed_by")?), r.int("amount")?, r.int("claimed_at")?))).collect()
}

/// Claims an older release took but did not pay (a crash between its two steps): (packet, idx, person, amount).
pub(crate) fn unpaid_claims(c: &mut dyn Conn, before_ms: i64, limit: i64) -> Result<Vec<(i64, i64, PersonId, i64)>> {
    let rows = c.query(
        "SELECT packet_id, idx, claimed_by, amount FROM red_packet_shares WHERE claimed_by IS NOT NULL AND paid = 0 AND claimed_at < $1 LIMIT $2",
        params![before_ms, limit],
    )?;
    rows.iter().map(|r| Ok((r.int("packet_id")?, r.int("idx")?, PersonId::new(r.int("claimed_by")?), r.int("amount")?))).collect()
}

pub(crate) fn mark_paid(packet: i64, idx: i64) -> Effect {
    Effect { sql: "UPDATE red_packet_shares SET paid = 1 WHERE packet_id = $1 AND idx = $2", params: params![packet, idx].to_vec() }
}

pub(crate) fn release_unpaid(c: &mut dyn Conn, packet: i64, idx: i64) -> Result<()> {
    c.execute(
        "UPDATE red_packet_shares SET claimed_by = NULL, claimed_at = NULL WHERE packet_id = $1 AND idx = $2 AND paid = 0",
        params![packet, idx],
    )?;
    Ok(())
}

/// Packets of a state created before a time (the sweeps).
pub(crate) fn packets_in(c: &mut dyn Conn, states: [PacketState; 2], created_before_ms: i64, limit: i64) -> Result<Vec<Packet>> {
    let rows = c.query(
        &format!("SELECT {PACKET} FROM red_packets WHERE state IN ($1, $2) AND created_at < $3 ORDER BY id LIMIT $4"),
        params![states[0], states[1], created_before_ms, limit],
    )?;
    rows.iter().map(packet_from).collect()
}

/// Packets past their deadline that still hold money.
pub(crate) fn due(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<Vec<Packet>> {
    let rows = c.query(
        &format!("SELECT {PACKET} FROM red_packets WHERE state IN ($1, $2) AND expires_at <= $3 ORDER BY expires_at LIMIT $4"),
        params![PacketState::Open, PacketState::Failed, now_ms, limit],
    )?;
    rows.iter().map(packet_from).collect()
}

/// A packet's state moves on (a guard when it goes with money).
pub(crate) fn set_state(id: i64, from: [PacketState; 2], to: PacketState) -> Effect {
    Effect {
        sql: "UPDATE red_packets SET state = $1 WHERE id = $2 AND state IN ($3, $4)",
        params: params![to, id, from[0], from[1]].to_vec(),
    }
}

pub(crate) fn run(c: &mut dyn Conn, effect: &Effect) -> Result<u64> {
    c.execute(effect.sql, &effect.params)
}

/// Packets a person sent in a history window, newest first, with how many shares were claimed.
pub(crate) fn sent(c: &mut dyn Conn, person: PersonId, w: Window) -> Result<Vec<(Packet, i64)>> {
    let rows = c.query(
        "SELECT p.id, p.sender_id, p.split, p.receiver_id, p.group_id, p.currency, p.total, p.shares, p.title, p.cover, p.state, p.created_at, p.expires_at, (SELECT COUNT(*) FROM red_packet_shares s WHERE s.packet_id = p.id AND s.paid = 1) AS claimed FROM red_packets p WHERE p.sender_id = $1 AND p.created_at >= $2 AND (p.created_at, p.id) < ($3, $4) AND ($5 < 0 OR p.currency = $5) ORDER BY p.created_at DESC, p.id DESC LIMIT $6",
        params![person, w.from_ms, w.before.0, w.before.1, w.currency, w.limit],
    )?;
    rows.iter().map(|r| Ok((packet_from(r)?, r.int("claimed")?))).collect()
}

/// A share a person received.
pub(crate) struct Received {
    pub packet: i64,
    pub sender: PersonId,
    pub currency: Currency,
    pub amount_minor: i64,
    pub claimed_at_ms: i64,
}

/// Shares a person received in a history window, newest first.
pub(crate) fn received(c: &mut dyn Conn, person: PersonId, w: Window) -> Result<Vec<Received>> {
    let rows = c.query(
        "SELECT s.packet_id, p.sender_id, p.currency, s.amount, s.claimed_at FROM red_packet_shares s JOIN red_packets p ON p.id = s.packet_id WHERE s.claimed_by = $1 AND s.paid = 1 AND s.claimed_at >= $2 AND (s.claimed_at, s.packet_id) < ($3, $4) AND ($5 < 0 OR p.currency = $5) ORDER BY s.claimed_at DESC, s.packet_id DESC LIMIT $6",
        params![person, w.from_ms, w.before.0, w.before.1, w.currency, w.limit],
    )?;
    rows.iter()
        .map(|r| {
            let currency = Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))?;
            Ok(Received {
                packet: r.int("packet_id")?,
                sender: PersonId::new(r.int("sender_id")?),
                currency,
                amount_minor: r.int("amount")?,
                claimed_at_ms: r.int("claimed_at")?,
            })
        })
        .collect()
}

pub(crate) fn insert_cover(c: &mut dyn Conn, id: i64, merchant: MerchantId, title: &str, image_url: &str, now_ms: i64) -> Result<()> {
    c.execute(
        "INSERT INTO red_packet_covers (id, merchant_id, title, image_url, created_at) VALUES ($1, $2, $3, $4, $5)",
        params![id, merchant, title, image_url, now_ms],
    )?;
    Ok(())
}

fn cover_from(r: &Row) -> Result<(Cover, MerchantId)> {
    let cover = Cover {
        id: r.int("id")?,
        merchant: String::new(),
        title: r.text("title")?,
        image_url: r.text("image_url")?,
        created_at_ms: r.int("created_at")?,
    };
    Ok((cover, MerchantId::new(r.int("merchant_id")?)))
}

/// A cover and its merchant (whose name the caller fills in).
pub(crate) fn cover(c: &mut dyn Conn, id: i64) -> Result<Option<(Cover, MerchantId)>> {
    c.query_one("SELECT id, merchant_id, title, image_url, created_at FROM red_packet_covers WHERE id = $1", params![id])?
        .as_ref()
        .map(cover_from)
        .transpose()
}

/// One merchant's covers, newest first.
pub(crate) fn covers_of(c: &mut dyn Conn, merchant: MerchantId, limit: i64) -> Result<Vec<(Cover, MerchantId)>> {
    let rows = c.query(
        "SELECT id, merchant_id, title, image_url, created_at FROM red_packet_covers WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        params![merchant, limit],
    )?;
    rows.iter().map(cover_from).collect()
}

pub(crate) fn covers(c: &mut dyn Conn, limit: i64) -> Result<Vec<(Cover, MerchantId)>> {
    let rows = c.query(
        "SELECT id, merchant_id, title, image_url, created_at FROM red_packet_covers ORDER BY created_at DESC, id DESC LIMIT $1",
        params![limit],
    )?;
    rows.iter().map(cover_from).collect()
}
