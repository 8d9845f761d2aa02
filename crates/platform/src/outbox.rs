//! The notification outbox: events queued in the same transaction as the money movement behind them
//! (see `orders`), delivered by the server's dispatcher. A delivery takes a lease on its row first, so
//! two dispatchers (or two instances) never send one event at the same time; the lease ends with the
//! attempt, or by itself if the dispatcher dies. Failed deliveries are retried on WeChat Pay's schedule.

use crate::{Platform, PlatformError, Result};
use serde::Serialize;
use store::params;

/// Seconds to wait after the n-th failed attempt (WeChat Pay's schedule: 15 tries over 24 h 4 min).
pub const RETRY_SCHEDULE_S: [i64; 15] = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600];
/// How long a delivery may take before its lease ends and another dispatcher may try again.
pub const LEASE_MS: i64 = 30_000;
pub const NOTIFICATIONS_PAGE_MAX: i64 = 100;

/// An event due for delivery, with what the dispatcher needs to send it.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: String,
    pub mchid: String,
    pub notify_url: String,
    pub event_type: String,
    pub summary: String,
    pub original_type: String,
    /// The plaintext resource (encrypted at delivery).
    #[serde(skip)]
    pub resource: String,
    #[serde(skip)]
    pub merchant_id: i64,
    /// pending, delivered, abandoned
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

/// One try at delivering a notification.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryAttempt {
    pub attempt: i64,
    pub at_ms: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

const COLUMNS: &str = "n.id, m.mchid, n.notify_url, n.event_type, n.summary, n.original_type, n.resource, n.merchant_id, n.state, n.attempts, n.next_attempt_at, n.last_status, n.last_error, n.created_at, n.delivered_at";

fn notification_from(r: &store::Row) -> Result<Notification> {
    Ok(Notification {
        id: r.text(0)?,
        mchid: r.text(1)?,
        notify_url: r.text(2)?,
        event_type: r.text(3)?,
        summary: r.text(4)?,
        original_type: r.text(5)?,
        resource: r.text(6)?,
        merchant_id: r.int(7)?,
        state: r.text(8)?,
        attempts: r.int(9)?,
        next_attempt_at_ms: r.int(10)?,
        last_status: r.opt_int(11)?,
        last_error: r.opt_text(12)?,
        created_at_ms: r.int(13)?,
        delivered_at_ms: r.opt_int(14)?,
    })
}

impl Platform {
    /// Take up to `limit` due events, each under a fresh lease held by the caller.
    pub async fn lease_due_notifications(&self, limit: i64) -> Result<Vec<Notification>> {
        let now = self.now_ms();
        let due = self.blocking(move |db| {
            let due = db.with(|c| {
                c.query(
                    &format!("SELECT {COLUMNS} FROM notifications n JOIN merchants m ON m.id = n.merchant_id WHERE n.state = 'pending' AND n.next_attempt_at <= $1 AND n.lease_until <= $1 ORDER BY n.next_attempt_at LIMIT $2"),
                    params![now, limit],
                )
            })?;
            due.iter().map(notification_from).collect::<Result<Vec<_>>>()
        })
        .await?;
        // Each lease is a conditional write (of two dispatchers only one changes the row), a guard of its
        // own committer request; submitted together, a round's leases share the committer's transaction.
        let leases = due.into_iter().map(|n| async move {
            let lease = store::Effect {
                sql: "UPDATE notifications SET lease_until = $2, attempts = attempts + 1 WHERE id = $1 AND state = 'pending' AND lease_until <= $3",
                params: params![n.id.as_str(), now + LEASE_MS, now].to_vec(),
            };
            match self.commit_rows(vec![lease], Vec::new()).await {
                Ok(Ok(())) => Ok(Some(Notification { attempts: n.attempts + 1, ..n })),
                Ok(Err(_)) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let mut leased = Vec::new();
        for n in futures_join_all(leases).await {
            if let Some(n) = n? {
                leased.push(n);
            }
        }
        Ok(leased)
    }

    /// Record how a delivery went: delivered, or retried on the schedule (abandoned after the last try).
    pub async fn finish_delivery(&self, n: &Notification, status: Option<u16>, error: Option<String>, latency_ms: i64) -> Result<()> {
        let now = self.now_ms();
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let attempt = n.attempts;
        let next = RETRY_SCHEDULE_S.get(usize::try_from(attempt - 1).unwrap_or(0)).map(|s| now + s * 1000);
        let state = match (delivered, next) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "abandoned",
        };
        let (id, status) = (n.id.clone(), status.map(i64::from));
        let error = error.map(|e| e.chars().take(500).collect::<String>());
        // Written with the committer's batch: deliveries finishing together share one transaction.
        let effects = vec![
            store::Effect {
                sql: "INSERT INTO notification_attempts (notification_id, attempt, at, status, error, latency_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                params: params![id.as_str(), attempt, now, status, error.clone(), latency_ms].to_vec(),
            },
            store::Effect {
                sql: "UPDATE notifications SET state = $2, next_attempt_at = $3, lease_until = 0, last_status = $4, last_error = $5, delivered_at = $6 WHERE id = $1",
                params: params![id.as_str(), state, next.unwrap_or(now), status, error, delivered.then_some(now)].to_vec(),
            },
        ];
        self.commit_rows(Vec::new(), effects).await?.expect("no guards, so no guard fails");
        Ok(())
    }

    /// Notifications of a merchant (or all), newest first, for the operator.
    pub async fn notifications(&self, mchid: Option<&str>, limit: i64) -> Result<Vec<Notification>> {
        let limit = limit.clamp(1, NOTIFICATIONS_PAGE_MAX);
        let mchid = mchid.unwrap_or("").to_string();
        self.blocking(move |db| {
            let rows = db.with(|c| {
                c.query(
                    &format!("SELECT {COLUMNS} FROM notifications n JOIN merchants m ON m.id = n.merchant_id WHERE ($1 = '' OR m.mchid = $1) ORDER BY n.created_at DESC, n.id LIMIT $2"),
                    params![mchid.as_str(), limit],
                )
            })?;
            rows.iter().map(notification_from).collect()
        })
        .await
    }

    /// One notification with every delivery attempt (time, HTTP status or error, latency), oldest first.
    pub async fn notification(&self, id: &str) -> Result<(Notification, Vec<DeliveryAttempt>)> {
        let id = id.to_string();
        self.blocking(move |db| {
            let row = db
                .with(|c| {
                    c.query_one(
                        &format!("SELECT {COLUMNS} FROM notifications n JOIN merchants m ON m.id = n.merchant_id WHERE n.id = $1"),
                        params![id.as_str()],
                    )
                })?
                .ok_or(PlatformError::NotFound("notification"))?;
            let attempts = db.with(|c| {
                c.query(
                    "SELECT attempt, at, status, error, latency_ms FROM notification_attempts WHERE notification_id = $1 ORDER BY attempt",
                    params![id.as_str()],
                )
            })?;
            let attempts = attempts
                .iter()
                .map(|a| {
                    Ok(DeliveryAttempt {
                        attempt: a.int(0)?,
                        at_ms: a.int(1)?,
                        status: a.opt_int(2)?,
                        error: a.opt_text(3)?,
                        latency_ms: a.int(4)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((notification_from(&row)?, attempts))
        })
        .await
    }

    /// Send an event again now (an operator's replay; also revives an abandoned one).
    pub async fn replay_notification(&self, id: &str) -> Result<()> {
        let (id, now) = (id.to_string(), self.now_ms());
        let changed = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.execute(
                        "UPDATE notifications SET state = 'pending', next_attempt_at = $2, attempts = 0 WHERE id = $1 AND lease_until <= $2",
                        params![id.as_str(), now],
                    )
                })?)
            })
            .await?;
        if changed == 0 {
            return Err(PlatformError::NotFound("notification (or it is being delivered right now)"));
        }
        self.outbox_wake.notify_one();
        Ok(())
    }
}

/// Await every future, concurrently, in order (a small `join_all` without a dependency).
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.expect("every future finished")).collect()
}
