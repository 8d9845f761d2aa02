//! The notification dispatcher: delivers the outbox's events to merchants' `notify_url`s as WeChat Pay
//! does — the resource encrypted with AEAD_AES_256_GCM under the merchant's APIv3 key, the request
//! signed with a platform key (the five `Wechatpay-*` headers) — and retries on WeChat's schedule until
//! a 2xx. Leases (see `platform::outbox`) keep two dispatchers from sending one event at once; the
//! outbox is in the database, so deliveries survive restarts.
//!
//! Merchants choose notify URLs, so each destination is checked (`Destinations`): by default only
//! public addresses are reached, never the operator's own network. The check is made by the HTTP
//! client's resolver itself, so the address checked is the address connected to (no second lookup a
//! changed DNS answer could slip through).

use platform::Platform;
use platform::outbox::Notification;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// Which addresses notifications may be delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destinations {
    /// Public addresses only (production).
    Public,
    /// Public addresses and this machine's loopback (`--demo`: a merchant on the same machine).
    Loopback,
    /// Anything, private ranges included (sandboxes inside a private network, tests).
    Any,
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                    // 0.0.0.0/8 "this network"
        || a == 10                              // private
        || (a == 100 && (b & 0xc0) == 64)       // 100.64.0.0/10 carrier-grade NAT
        || a == 127                             // loopback
        || (a == 169 && b == 254)               // link-local (cloud metadata)
        || (a == 172 && (b & 0xf0) == 16)       // private
        || (a == 192 && b == 0 && c == 0)       // 192.0.0.0/24 IETF protocol assignments
        || (a == 192 && b == 168)               // private
        || (a == 198 && (b & 0xfe) == 18)       // 198.18.0.0/15 benchmarking
        || a >= 224) // multicast, 240.0.0.0/4 reserved, broadcast
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embeds_v4 = (s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0 || s[5] == 0xffff))  // IPv4-compatible, IPv4-mapped
        || (s[0] == 0x64 && s[1] == 0xff9b)                                        // NAT64 64:ff9b::/96 (and /48)
        || s[0] == 0x2002                                                          // 6to4
        || (s[0] == 0x2001 && s[1] == 0); // Teredo
    !(embeds_v4
        || ip.is_loopback()
        || ip.is_unspecified()
        || (s[0] & 0xfe00) == 0xfc00           // unique local
        || (s[0] & 0xffc0) == 0xfe80           // link-local
        || (s[0] & 0xffc0) == 0xfec0           // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00) // multicast
}

impl Destinations {
    pub fn allows(self, ip: IpAddr) -> bool {
        let public = match ip {
            IpAddr::V4(v4) => public_v4(v4),
            IpAddr::V6(v6) => public_v6(v6),
        };
        match self {
            Destinations::Any => true,
            Destinations::Public => public,
            Destinations::Loopback => public || matches!(ip, IpAddr::V4(v4) if v4.is_loopback()) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    }
}

/// The HTTP client's resolver: the system's answer, with every address the destinations forbid removed
/// (and the request refused when none is left).
#[derive(Debug)]
struct CheckedResolver(Destinations);

impl ureq::unversioned::resolver::Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let all = ureq::unversioned::resolver::DefaultResolver::default().resolve(uri, config, timeout)?;
        let mut allowed = self.empty();
        for addr in all.iter().filter(|a| self.0.allows(a.ip())) {
            allowed.push(*addr);
        }
        match all.iter().find(|a| !self.0.allows(a.ip())) {
            Some(refused) if allowed.is_empty() => Err(ureq::Error::Io(std::io::Error::other(format!(
                "refused: {} resolves to the non-public address {}",
                uri.host().unwrap_or(""),
                refused.ip()
            )))),
            _ if allowed.is_empty() => Err(ureq::Error::HostNotFound),
            _ => Ok(allowed),
        }
    }
}

fn agent(destinations: Destinations) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(DELIVERY_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .user_agent("Qianbao-Notify/1.0")
        .build();
    ureq::Agent::with_parts(config, ureq::unversioned::transport::DefaultConnector::new(), CheckedResolver(destinations))
}

/// Run the dispatcher until the process ends.
pub fn spawn(
    platform: Arc<Platform>,
    metrics: Arc<crate::server_metrics::ServerMetrics>,
    destinations: Destinations,
) -> tokio::task::JoinHandle<()> {
    let agent = agent(destinations);
    tokio::spawn(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(DELIVERIES_IN_FLIGHT_MAX));
        let wake = platform.outbox_wake();
        loop {
            let batch = match platform.outbox.lease_due(LEASE_BATCH_MAX).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "leasing notifications");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, wake.notified()).await;
                continue;
            }
            for n in batch {
                let permit = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
                let (platform, agent, metrics) = (platform.clone(), agent.clone(), metrics.clone());
                tokio::spawn(async move {
                    deliver(&platform, &agent, &metrics, n).await;
                    drop(permit);
                });
            }
        }
    })
}

/// One delivery attempt, recorded whatever happens.
async fn deliver(platform: &Platform, agent: &ureq::Agent, metrics: &crate::server_metrics::ServerMetrics, n: Notification) {
    let started = Instant::now();
    let (status, error) = match request(platform, &n).await {
        Ok((body, headers)) => {
            let (agent, url) = (agent.clone(), n.notify_url.clone());
            tokio::task::spawn_blocking(move || {
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
    let error = error.or_else(|| status.filter(|s| !(200..300).contains(s)).map(|s| format!("the merchant answered HTTP {s}")));
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    metrics.delivery(error.is_none(), started.elapsed().as_secs_f64());
    tracing::info!(event = %n.id, event_type = %n.event_type, attempt = n.attempts, status = ?status, latency_ms, "notification delivery");
    if let Err(e) = platform.outbox.finish_delivery(&n, status, error, latency_ms).await {
        tracing::error!(event = %n.id, error = %e, "recording a notification delivery");
    }
}

/// The signed, encrypted request for one event.
async fn request(platform: &Platform, n: &Notification) -> Result<(Vec<u8>, Vec<(&'static str, String)>), platform::PlatformError> {
    let merchant = platform.outbox.merchant(&n.mchid).await?;
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
    let keys = platform.merchants.platform_keys().await?;
    let mut headers = vec![("Content-Type", "application/json".to_string()), ("Request-ID", crate::merchant::new_request_id())];
    headers.extend(crate::merchant::signature_headers(keys.signer(merchant.merchant.public_key_mode), &body));
    Ok((body, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(d: Destinations, ip: &str) -> bool {
        d.allows(ip.parse().unwrap())
    }

    #[test]
    fn only_public_addresses_by_default() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.0.10",
            "172.16.5.4",
            "100.64.0.1",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "2001:0:1::1",
        ] {
            assert!(!allowed(Destinations::Public, private), "{private} is not public");
        }
        for public in ["203.0.113.9", "8.8.8.8", "2606:4700::1111"] {
            assert!(allowed(Destinations::Public, public), "{public} is public");
        }
    }

    #[test]
    fn the_demo_reaches_loopback_and_nothing_else_private() {
        assert!(allowed(Destinations::Loopback, "127.0.0.1") && allowed(Destinations::Loopback, "::1"));
        for private in ["10.0.0.1", "192.168.1.1", "169.254.169.254", "::ffff:127.0.0.1"] {
            assert!(!allowed(Destinations::Loopback, private), "{private}");
        }
        assert!(allowed(Destinations::Any, "10.0.0.1"));
    }
}
