//! The networks domain's storage: `network_payments`.

use super::{Direction, NetworkPayment, NetworkState};
use crate::PersonId;
use money::{Currency, Money};
use store::{Conn, Effect, Result, Row, StoreError, params};

const COLUMNS: &str = "id, network, direction, request_id, code_digest, state, person_id, order_id, merchant_name, currency, amount, payer_currency, payer_amount, cross_border, network_reference, failure, created_at, expires_at, finished_at";

fn money(r: &Row, currency: &str, amount: &str) -> Result<Money> {
    let c = Currency::from_numeric(r.uint(currency)?).map_err(|_| StoreError::Database("unknown currency in a network payment".into()))?;
    Money::from_minor(r.int(amount)?, c).map_err(|e| StoreError::Database(e.to_string()))
}

fn from_row(r: &Row) -> Result<NetworkPayment> {
    let bad = |what: &str| StoreError::Database(format!("unknown {what} in a network payment"));
    Ok(NetworkPayment {
        id: r.int("id")?,
        network: r.text("network")?,
        direction: Direction::parse(&r.text("direction")?).ok_or_else(|| bad("direction"))?,
        request_id: r.text("request_id")?,
        code_digest: r.text("code_digest")?,
        state: NetworkState::parse(&r.text("state")?).ok_or_else(|| bad("state"))?,
        person: r.opt_int("person_id")?.map(PersonId::new),
        order: r.opt_int("order_id")?,
        merchant_name: r.text("merchant_name")?,
        amount: money(r, "currency", "amount")?,
        payer_amount: money(r, "payer_currency", "payer_amount")?,
        cross_border: r.int("cross_border")? != 0,
        network_reference: r.opt_text("network_reference")?,
        failure: r.opt_text("failure")?,
        created_at_ms: r.int("created_at")?,
        expires_at_ms: r.int("expires_at")?,
        finished_at_ms: r.opt_int("finished_at")?,
    })
}

/// The payment's row (a guard: fails when its (network, direction, request id) exists).
pub(crate) fn insert(p: &NetworkPayment) -> Effect {
    Effect {
        sql: "INSERT INTO network_payments (id, network, direction, request_id, code_digest, state, person_id, order_id, merchant_name, currency, amount, payer_currency, payer_amount, cross_border, network_reference, failure, created_at, expires_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT DO NOTHING",
        params: params![
            p.id,
            p.network.as_str(),
            p.direction,
            p.request_id.as_str(),
            p.code_digest.as_str(),
            p.state,
            p.person,
            p.order,
            p.merchant_name.as_str(),
            p.amount.currency().numeric(),
            p.amount.minor(),
            p.payer_amount.currency().numeric(),
            p.payer_amount.minor(),
            i64::from(p.cross_border),
            p.network_reference.as_deref(),
            p.failure.as_deref(),
            p.created_at_ms,
            p.expires_at_ms,
            p.finished_at_ms
        ]
        .to_vec(),
    }
}

/// A pending payment ends (a guard: only while pending).
pub(crate) fn finish(id: i64, state: NetworkState, reference: Option<&str>, failure: Option<&str>, now_ms: i64) -> Effect {
    Effect {
        sql: "UPDATE network_payments SET state = $2, network_reference = $3, failure = $4, finished_at = $5 WHERE id = $1 AND state = $6",
        params: params![id, state, reference, failure, now_ms, NetworkState::Pending].to_vec(),
    }
}

pub(crate) fn by_id(c: &mut dyn Conn, id: i64) -> Result<Option<NetworkPayment>> {
    c.query_one(&format!("SELECT {COLUMNS} FROM network_payments WHERE id = $1"), params![id])?.as_ref().map(from_row).transpose()
}

pub(crate) fn by_request(c: &mut dyn Conn, network: &str, direction: Direction, request_id: &str) -> Result<Option<NetworkPayment>> {
    c.query_one(
        &format!("SELECT {COLUMNS} FROM network_payments WHERE network = $1 AND direction = $2 AND request_id = $3"),
        params![network, direction, request_id],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// A network's outbound payments still waiting for it, created before `before_ms`, oldest first.
pub(crate) fn pending(c: &mut dyn Conn, network: &str, before_ms: i64, limit: i64) -> Result<Vec<NetworkPayment>> {
    c.query(
        &format!(
            "SELECT {COLUMNS} FROM network_payments WHERE network = $1 AND state = $2 AND direction = $3 AND created_at < $4 ORDER BY created_at LIMIT $5"
        ),
        params![network, NetworkState::Pending, Direction::Out, before_ms, limit],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// A network's payments that succeeded in `[from_ms, to_ms)`.
pub(crate) fn succeeded_between(c: &mut dyn Conn, network: &str, from_ms: i64, to_ms: i64, limit: i64) -> Result<Vec<NetworkPayment>> {
    c.query(
        &format!("SELECT {COLUMNS} FROM network_payments WHERE network = $1 AND state = $2 AND finished_at >= $3 AND finished_at < $4 ORDER BY finished_at, id LIMIT $5"),
        params![network, NetworkState::Succeeded, from_ms, to_ms, limit],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// A person's payments to partner networks' merchants in a history window, newest first.
pub(crate) fn paid_by(c: &mut dyn Conn, person: PersonId, w: crate::history::Window) -> Result<Vec<NetworkPayment>> {
    c.query(
        &format!("SELECT {COLUMNS} FROM network_payments WHERE person_id = $1 AND direction = $2 AND created_at >= $3 AND (created_at, id) < ($4, $5) AND ($6 < 0 OR payer_currency = $6) ORDER BY created_at DESC, id DESC LIMIT $7"),
        params![person, Direction::Out, w.from_ms, w.before.0, w.before.1, w.currency, w.limit],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Whether a network has outbound payments created before `before_ms` still waiting for it.
pub(crate) fn any_pending_before(c: &mut dyn Conn, network: &str, before_ms: i64) -> Result<bool> {
    Ok(c.query_one(
        "SELECT id FROM network_payments WHERE network = $1 AND state = $2 AND direction = $3 AND created_at < $4 LIMIT 1",
        params![network, NetworkState::Pending, Direction::Out, before_ms],
    )?
    .is_some())
}
