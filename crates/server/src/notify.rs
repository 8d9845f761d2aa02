//! The notification dispatcher: delivers the outbox's events to merchants' `notify_url`s as WeChat Pay
//! does — the resource encrypted with AEAD_AES_256_GCM under the merchant's APIv3 key, the request
//! signed with a platform key (the five `Wechatpay-*` headers) — and retries on WeChat's schedule until
//! a 2xx. Leases (see `platform::outbox`) keep two dispatchers from sending one event at once; the
//! outbox is in the database, so deliveries survive restarts.

use platform::{Notification, Platform};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events leased per round.
pub const LEASE_BATCH_MAX: i64 = 64;
/// Deliveries in flight at once.
pub const DELIVERIES_IN_FLIGHT_MAX: usize = 32;
/// A merchant must answer within this (WeChat's 5 s).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle dispatcher looks for due retries.
pub const IDLE_POLL: Duration = Duration::from_millis(500);

/// Whether a notify_url's host is a public address. Merchants choose notify URLs, so without this check
/// a merchant could make Qianbao POST into the operator's own network (loopback, private ranges,
/// link-local cloud metadata). Sandboxes and tests that deliver to localhost turn it off.
fn public_destination(url: &str) -> Result<(), String> {
    use std::net::{IpAddr, ToSocketAddrs};
    let rest = url.split_once("://").map(|(_, r)| r).ok_or("no scheme")?;
    let authority = rest.split('/').next().unwrap_or("");
    let default_port = if url.starts_with("https://") { 443 } else { 80 };
    let target = if authority.rsplit_once(':').is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())) && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let addresses: Vec<IpAddr> =
        target.to_socket_addrs().map_err(|e| format!("cannot resolve {authority}: {e}"))?.map(|a| a.ip()).collect();
    let private = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    match addresses.iter().find(|ip| private(ip)) {
        Some(ip) => Err(format!("refused: {authority} resolves to the non-public address {ip}")),
        None if addresses.is_empty() => Err(format!("cannot resolve {authority}")),
        None => Ok(()),
    }
}

/// Run the dispatcher until the process ends. `private_destinations`: deliver to loopback and private
/// addresses too (sandboxes, tests).
pub fn spawn(
    platform: Arc<Platform>,
    metrics: Arc<crate::server_metrics::ServerMetrics>,
    private_destinations: bool,
) -> tokio::task::JoinHandle<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(DELIVERY_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent("Qianbao-Notify/1.0")
        .build()
        .into();
    tokio::spawn(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(DELIVERIES_IN_FLIGHT_MAX));
        loop {
            let batch = match platform.lease_due_notifications(LEASE_BATCH_MAX).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "leasing notifications");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, platform.outbox_wake.notified()).await;
                continue;
            }
            for n in batch {
                let permit = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
                let (platform, agent, metrics) = (platform.clone(), agent.clone(), metrics.clone());
                tokio::spawn(async move {
                    deliver(&platform, &agent, &metrics, private_destinations, n).await;
                    drop(permit);
                });
            }
        }
    })
}

/// One delivery attempt, recorded whatever happens.
async fn deliver(
    platform: &Platform,
    agent: &ureq::Agent,
    metrics: &crate::server_metrics::ServerMetrics,
    private_destinations: bool,
    n: Notification,
) {
    let started = Instant::now();
    let outcome = match request(platform, &n).await {
        Ok((body, headers)) => {
            let (agent, url) = (agent.clone(), n.notify_url.clone());
            tokio::task::spawn_blocking(move || {
                if !private_destinations && let Err(refused) = public_destination(&url) {
                    return (None, Some(refused));
                }
                let mut request = agent.post(&url);
                for (name, value) in &headers {
                    request = request.header(*name, value);
                }
                match request.send(&body[..]) {
                    Ok(response) => (Some(response.status().as_u16()), None),
                    Err(e) => (None, Some(e.to_string())),
                }
            })
            .await
            .unwrap_or_else(|e| (None, Some(format!("delivery task failed: {e}"))))
        }
        Err(e) => (None, Some(e.to_string())),
    };
    let (status, error) = outcome;
    let error = error.or_else(|| status.filter(|s| !(200..300).contains(s)).map(|s| format!("the merchant answered HTTP {s}")));
    let latency_ms = started.elapsed().as_millis() as i64;
    metrics.delivery(error.is_none(), started.elapsed().as_secs_f64());
    tracing::info!(event = %n.id, event_type = %n.event_type, attempt = n.attempts, status = ?status, latency_ms, "notification delivery");
    if let Err(e) = platform.finish_delivery(&n, status, error, latency_ms).await {
        tracing::error!(event = %n.id, error = %e, "recording a notification delivery");
    }
}

/// The signed, encrypted request for one event.
async fn request(platform: &Platform, n: &Notification) -> Result<(Vec<u8>, Vec<(&'static str, String)>), platform::PlatformError> {
    let merchant = platform.merchant(&n.mchid).await?;
    let nonce = wxpay::random_alphanumeric(12);
    let ciphertext = wxpay::aead_encrypt(&merchant.apiv3_key, nonce.as_bytes(), n.original_type.as_bytes(), n.resource.as_bytes())
        .map_err(|e| platform::PlatformError::Internal(e.to_string()))?;
    let body = serde_json::to_vec(&json!({
        "id": n.id,
        "create_time": wxpay::time::format_rfc3339(n.created_at_ms / 1000),
        "resource_type": "encrypt-resource",
        "event_type": n.event_type,
        "summary": n.summary,
        "resource": {
            "original_type": n.original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": wxpay::base64::encode(&ciphertext),
            "associated_data": n.original_type,
            "nonce": nonce,
        },
    }))
    .expect("JSON serialises");
    let keys = platform.platform_keys().await?;
    let mut headers = vec![("Content-Type", "application/json".to_string()), ("Request-ID", crate::merchant_api::new_request_id())];
    headers.extend(crate::merchant_api::signature_headers(keys.signer(merchant.merchant.public_key_mode), &body));
    Ok((body, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_go_only_to_public_addresses_unless_allowed() {
        assert!(public_destination("http://127.0.0.1:9000/notify").is_err());
        assert!(public_destination("https://10.1.2.3/notify").is_err());
        assert!(public_destination("http://169.254.169.254/latest/meta-data").is_err());
        assert!(public_destination("http://[::1]:8080/n").is_err());
        assert!(public_destination("https://192.168.0.10:8443/n").is_err());
        assert!(public_destination("https://203.0.113.9/notify").is_ok());
        assert!(public_destination("http://100.64.0.1/n").is_err(), "carrier-grade NAT is not public");
    }
}
