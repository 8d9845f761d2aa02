//! The outbox's storage: `notifications`, `notification_attempts`.

use super::{DeliveryAttempt, Event, Notification, NotificationState};
use crate::MerchantId;
use store::{Conn, Effect, Result, Row, StoreError, params};

const NOTIFICATION: &str = "n.id, m.mchid, n.notify_url, n.event_type, n.summary, n.original_type, n.resource, n.merchant_id, n.state, n.attempts, n.next_attempt_at, n.last_status, n.last_error, n.created_at, n.delivered_at";
const FROM: &str = "notifications n JOIN merchants m ON m.id = n.merchant_id";

fn notification_from(r: &Row) -> Result<Notification> {
    Ok(Notification {
        id: r.text("id")?,
        mchid: r.text("mchid")?,
        notify_url: r.text("notify_url")?,
        event_type: r.text("event_type")?,
        summary: r.text("summary")?,
        original_type: r.text("original_type")?,
        resource: r.text("resource")?,
        merchant_id: MerchantId::new(r.int("merchant_id")?),
        state: NotificationState::parse(&r.text("state")?).ok_or_else(|| StoreError::Database("unknown notification state".into()))?,
        attempts: r.int("attempts")?,
        next_attempt_at_ms: r.int("next_attempt_at")?,
        last_status: r.opt_int("last_status")?,
        last_error: r.opt_text("last_error")?,
        created_at_ms: r.int("created_at")?,
        delivered_at_ms: r.opt_int("delivered_at")?,
    })
}

/// Queue an event (written with the money movement behind it; the same event once).
pub(crate) fn insert(event: &Event, merchant: MerchantId, notify_url: &str, now_ms: i64) -> Effect {
    Effect {
        sql: "INSERT INTO notifications (id, merchant_id, notify_url, event_type, summary, original_type, resource, state, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (id) DO NOTHING",
        params: params![
            event.id.as_str(),
            merchant,
            notify_url,
            event.kind,
            event.summary,
            event.original_type,
            event.resource.as_str(),
            NotificationState::Pending,
            now_ms
        ]
        .to_vec(),
    }
}

pub(crate) fn due(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<Vec<Notification>> {
    let rows = c.query(
        &format!("SELECT {NOTIFICATION} FROM {FROM} WHERE n.state = $3 AND n.next_attempt_at <= $1 AND n.lease_until <= $1 ORDER BY n.next_attempt_at LIMIT $2"),
        params![now_ms, limit, NotificationState::Pending],
    )?;
    rows.iter().map(notification_from).collect()
}

/// A delivery's lease (a guard: of two dispatchers only one changes the row).
pub(crate) fn lease(id: &str, until_ms: i64, now_ms: i64) -> Effect {
    Effect {
        sql: "UPDATE notifications SET lease_until = $2, attempts = attempts + 1 WHERE id = $1 AND state = $4 AND lease_until <= $3",
        params: params![id, until_ms, now_ms, NotificationState::Pending].to_vec(),
    }
}

pub(crate) fn attempt(id: &str, attempt: i64, now_ms: i64, status: Option<i64>, error: Option<&str>, latency_ms: i64) -> Effect {
    Effect {
        sql: "INSERT INTO notification_attempts (notification_id, attempt, at, status, error, latency_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        params: params![id, attempt, now_ms, status, error, latency_ms].to_vec(),
    }
}

pub(crate) fn finished(
    id: &str,
    state: NotificationState,
    next_attempt_at_ms: i64,
    status: Option<i64>,
    error: Option<&str>,
    delivered_at_ms: Option<i64>,
) -> Effect {
    Effect {
        sql: "UPDATE notifications SET state = $2, next_attempt_at = $3, lease_until = 0, last_status = $4, last_error = $5, delivered_at = $6 WHERE id = $1",
        params: params![id, state, next_attempt_at_ms, status, error, delivered_at_ms].to_vec(),
    }
}

pub(crate) fn list(c: &mut dyn Conn, mchid: &str, limit: i64) -> Result<Vec<Notification>> {
    let rows = c.query(
        &format!("SELECT {NOTIFICATION} FROM {FROM} WHERE ($1 = '' OR m.mchid = $1) ORDER BY n.created_at DESC, n.id LIMIT $2"),
        params![mchid, limit],
    )?;
    rows.iter().map(notification_from).collect()
}

pub(crate) fn get(c: &mut dyn Conn, id: &str) -> Result<Option<(Notification, Vec<DeliveryAttempt>)>> {
    let Some(row) = c.query_one(&format!("SELECT {NOTIFICATION} FROM {FROM} WHERE n.id = $1"), params![id])? else { return Ok(None) };
    let attempts = c.query(
        "SELECT attempt, at, status, error, latency_ms FROM notification_attempts WHERE notification_id = $1 ORDER BY attempt",
        params![id],
    )?;
    let attempts = attempts
        .iter()
        .map(|a| {
            Ok(DeliveryAttempt {
                attempt: a.int("attempt")?,
                at_ms: a.int("at")?,
                status: a.opt_int("status")?,
                error: a.opt_text("error")?,
                latency_ms: a.int("latency_ms")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((notification_from(&row)?, attempts)))
}

/// Send again now (an operator's replay; also revives an abandoned one). `false` while it is being delivered.
pub(crate) fn replay(c: &mut dyn Conn, id: &str, now_ms: i64) -> Result<bool> {
    Ok(c.execute(
        "UPDATE notifications SET state = $3, next_attempt_at = $2, attempts = 0 WHERE id = $1 AND lease_until <= $2",
        params![id, now_ms, NotificationState::Pending],
    )? == 1)
}

/// Notifications waiting for delivery (for the operator's dashboard).
pub(crate) fn backlog(c: &mut dyn Conn) -> Result<i64> {
    c.query_one("SELECT COUNT(*) AS waiting FROM notifications WHERE state = $1", params![NotificationState::Pending])?
        .map(|r| r.int("waiting"))
        .transpose()
        .map(|n| n.unwrap_or(0))
}
