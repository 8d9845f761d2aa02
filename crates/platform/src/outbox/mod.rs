//! The notification outbox: events queued in the same transaction as the money movement behind them
//! (see `payments`), delivered by the server's dispatcher. A delivery takes a lease on its row first, so
//! two dispatchers (or two instances) never send one event at the same time; the lease ends with the
//! attempt, or by itself if the dispatcher dies. Failed deliveries are retried on WeChat Pay's schedule.

mod store;

use crate::core::Core;
use crate::merchants::Merchants;
use crate::{MerchantId, PlatformError, Result, crypto};
use ::store::Effect;
use serde::Serialize;
use std::sync::Arc;

/// Seconds to wait after the n-th failed attempt (WeChat Pay's schedule: 15 tries over 24 h 4 min).
pub const RETRY_SCHEDULE_S: [i64; 15] = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600];
/// How long a delivery may take before its lease ends and another dispatcher may try again.
pub const LEASE_MS: i64 = 30_000;
pub const NOTIFICATIONS_PAGE_MAX: i64 = 100;

text_enum! {
    pub enum NotificationState {
        Pending => "pending",
        Delivered => "delivered",
        /// Every try of the schedule failed.
        Abandoned => "abandoned",
    }
}

/// An event for the outbox, with a deterministic id (so re-running an effect queues the same event once,
/// and merchants de-duplicate on it): UUID-shaped.
pub(crate) struct Event {
    pub id: String,
    pub kind: &'static str,
    pub summary: &'static str,
    pub original_type: &'static str,
    pub resource: String,
}

impl Event {
    pub fn new(kind: &'static str, summary: &'static str, original_type: &'static str, object: i64, resource: String) -> Event {
        let h = crypto::sha256(format!("{kind}\n{object}").as_bytes());
        let x = crypto::hex(&h[..16]);
        let id = format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..32]);
        Event { id, kind, summary, original_type, resource }
    }
}

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
    pub merchant_id: MerchantId,
    pub state: NotificationState,
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

pub struct Outbox {
    core: Arc<Core>,
    merchants: Arc<Merchants>,
}

impl Outbox {
    pub(crate) fn new(core: Arc<Core>, merchants: Arc<Merchants>) -> Outbox {
        Outbox { core, merchants }
    }

    /// The effect that queues an event, for the commit of the money movement behind it.
    pub(crate) fn queue(&self, event: &Event, merchant: MerchantId, notify_url: &str, now_ms: i64) -> Effect {
        store::insert(event, merchant, notify_url, now_ms)
    }

    /// A test notification to `notify_url` for a merchant (from its console): signed and encrypted as
    /// every notification is and delivered by the same schedule, so the merchant sees its endpoint work.
    pub async fn send_test(&self, merchant: MerchantId, notify_url: &str) -> Result<()> {
        if !crate::payments::valid_notify_url(notify_url) {
            return Err(PlatformError::invalid("notify_url", "an http:// or https:// URL of at most 256 characters, without a query"));
        }
        let now = self.core.now_ms();
        let object = crate::ids::object_id(now);
        let resource =
            serde_json::json!({"message": "a test notification from the merchant console", "test_id": object.to_string()}).to_string();
        let event = Event::new("QIANBAO.TEST", "测试通知", "test", object, resource);
        self.core.commit_rows(Vec::new(), vec![self.queue(&event, merchant, notify_url, now)]).await?;
        self.core.outbox_wake.notify_one();
        Ok(())
    }

    /// Take up to `limit` due events, each under a fresh lease held by the caller. Each lease is a guard
    /// of its own committer request; submitted together, a round's leases share one transaction.
    pub async fn lease_due(&self, limit: i64) -> Result<Vec<Notification>> {
        let now = self.core.now_ms();
        let due = self.core.read(move |c| store::due(c, now, limit)).await?;
        let leases = due.into_iter().map(|n| async move {
            let leased = self.core.commit_rows(vec![store::lease(&n.id, now + LEASE_MS, now)], Vec::new()).await?;
            Ok::<_, PlatformError>(leased.then(|| Notification { attempts: n.attempts + 1, ..n }))
        });
        let mut out = Vec::new();
        for n in crate::core::join_all(leases).await {
            out.extend(n?);
        }
        Ok(out)
    }

    /// Record how a delivery went: delivered, or retried on the schedule (abandoned after the last try).
    /// Deliveries finishing together share one transaction.
    pub async fn finish_delivery(&self, n: &Notification, status: Option<u16>, error: Option<String>, latency_ms: i64) -> Result<()> {
        let now = self.core.now_ms();
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let next = RETRY_SCHEDULE_S.get(usize::try_from(n.attempts - 1).unwrap_or(0)).map(|s| now + s * 1000);
        let state = match (delivered, next) {
            (true, _) => NotificationState::Delivered,
            (false, Some(_)) => NotificationState::Pending,
            (false, None) => NotificationState::Abandoned,
        };
        let status = status.map(i64::from);
        let error: Option<String> = error.map(|e| e.chars().take(500).collect());
        let effects = vec![
            store::attempt(&n.id, n.attempts, now, status, error.as_deref(), latency_ms),
            store::finished(&n.id, state, next.unwrap_or(now), status, error.as_deref(), delivered.then_some(now)),
        ];
        self.core.commit_rows(Vec::new(), effects).await?;
        Ok(())
    }

    /// Notifications of a merchant (or all), newest first, for the operator.
    pub async fn list(&self, mchid: Option<&str>, limit: i64) -> Result<Vec<Notification>> {
        let (mchid, limit) = (mchid.unwrap_or("").to_string(), limit.clamp(1, NOTIFICATIONS_PAGE_MAX));
        self.core.read(move |c| store::list(c, &mchid, limit)).await
    }

    /// One notification with every delivery attempt (time, HTTP status or error, latency), oldest first.
    pub async fn get(&self, id: &str) -> Result<(Notification, Vec<DeliveryAttempt>)> {
        let id = id.to_string();
        self.core.read(move |c| store::get(c, &id)).await?.ok_or(PlatformError::NotFound("notification"))
    }

    /// Send an event again now (an operator's replay; also revives an abandoned one).
    pub async fn replay(&self, id: &str) -> Result<()> {
        let (id, now) = (id.to_string(), self.core.now_ms());
        if !self.core.write(move |c| store::replay(c, &id, now)).await? {
            return Err(PlatformError::NotFound("notification (or it is being delivered right now)"));
        }
        self.core.outbox_wake.notify_one();
        Ok(())
    }

    /// How many notifications wait for delivery.
    pub async fn backlog(&self) -> Result<i64> {
        self.core.read(store::backlog).await
    }

    /// The APIv3 key and mode a merchant's notifications are encrypted and signed with.
    pub async fn merchant(&self, mchid: &str) -> Result<Arc<crate::merchants::MerchantAuth>> {
        self.merchants.merchant(mchid).await
    }
}
