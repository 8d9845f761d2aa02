//! Who a merchant request speaks for: its signature over the raw target and body with the merchant's
//! registered key, within the clock window, with a nonce never used before in that window (remembered
//! durably, on every instance), and within the merchant's request rate.

use super::WxError;
use crate::AppState;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use platform::PlatformError;
use platform::merchants::{MerchantAuth, NONCE_WINDOW_S};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// Requests per second each merchant may make, across all instances: a token bucket per mchid on each
/// instance, refilled with this instance's share (the rate divided by the live instances, counted by a
/// heartbeat every second). Past it, `429 RATELIMIT_EXCEEDED` and nothing done.
pub struct RateLimiter {
    per_s: f64,
    instances: AtomicU32,
    buckets: Mutex<HashMap<String, (f64, std::time::Instant)>>,
}

/// Buckets kept at most (idle ones are dropped past it).
const BUCKETS_MAX: usize = 100_000;

impl RateLimiter {
    pub fn new(per_s: u32) -> RateLimiter {
        assert!(per_s > 0);
        RateLimiter { per_s: f64::from(per_s), instances: AtomicU32::new(1), buckets: Mutex::new(HashMap::new()) }
    }

    /// How many instances share the rate (from the heartbeat).
    pub fn set_instances(&self, n: u32) {
        self.instances.store(n.max(1), Ordering::Relaxed);
    }

    pub(super) fn allow(&self, mchid: &str) -> bool {
        let share = self.per_s / f64::from(self.instances.load(Ordering::Relaxed));
        let mut buckets = self.buckets.lock().expect("rate limiter");
        let now = std::time::Instant::now();
        if buckets.len() > BUCKETS_MAX {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 10);
        }
        let (tokens, at) = buckets.entry(mchid.to_string()).or_insert((share, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * share).min(share.max(1.0));
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub(crate) fn unix_now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Check a request's signature over its raw target and raw body; the merchant it speaks for.
pub(super) async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Arc<MerchantAuth>, WxError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| WxError::sign("the Authorization header is missing"))?
        .to_str()
        .map_err(|_| WxError::sign("the Authorization header is not text"))?;
    let auth = wxpay::Authorization::parse(header).map_err(|e| WxError::sign(e.to_string()))?;
    let now = unix_now_s();
    if (now - auth.timestamp).abs() > NONCE_WINDOW_S {
        return Err(WxError::sign(format!("timestamp {} is more than {NONCE_WINDOW_S} s from the server's clock ({now})", auth.timestamp)));
    }
    let merchant = state.platform.merchants.merchant(&auth.mchid).await.map_err(|e| match e {
        PlatformError::NotFound(_) => WxError::sign("unknown mchid"),
        e => e.into(),
    })?;
    let key = merchant.key(&auth.serial_no).ok_or_else(|| WxError::sign("unknown serial_no for this mchid"))?;
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let message = wxpay::request_message(method.as_str(), target, auth.timestamp, &auth.nonce, body);
    key.verify(&message, &auth.signature).map_err(|_| WxError::sign("sign not match"))?;
    if !state.merchant_rate.allow(&auth.mchid) {
        return Err(WxError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATELIMIT_EXCEEDED",
            "频率超限 (too many requests for this merchant: retry later)",
        ));
    }
    if !state.platform.merchants.fresh_nonce(&auth.mchid, &auth.nonce, now).await? {
        return Err(WxError::sign("this nonce_str was already used (a replayed request)"));
    }
    Ok(merchant)
}

/// Parse a JSON body; a malformed one is PARAM_ERROR naming the field.
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, WxError> {
    crate::http::json_body(body).map_err(|(path, inner)| {
        // serde names a missing field in its message, not its path.
        let missing = inner.strip_prefix("missing field `").and_then(|m| m.split('`').next());
        let field = match (path.as_deref(), missing) {
            (None, Some(m)) => m.to_string(),
            (Some(p), Some(m)) => format!("{p}.{m}"),
            (None, None) => String::new(),
            (Some(p), None) => p.to_string(),
        };
        WxError::param(&field, "body", inner)
    })
}

/// A query parameter's value (raw, as bill dates, types and tokens need no decoding).
pub(super) fn query_param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|kv| kv.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

pub(super) fn same_mchid(merchant: &MerchantAuth, mchid: &str, location: &str) -> Result<(), WxError> {
    if mchid != merchant.merchant.mchid {
        return Err(WxError::param("mchid", location, "does not match the mchid of the Authorization header"));
    }
    Ok(())
}

/// The `mchid` query parameter, which must be the caller's.
pub(super) fn query_mchid(uri: &Uri, merchant: &MerchantAuth) -> Result<(), WxError> {
    let mchid = query_param(uri, "mchid").ok_or_else(|| WxError::param("mchid", "query", "is required"))?;
    same_mchid(merchant, mchid, "query")
}

/// A service provider's sub-merchant, which must be its own.
pub(super) async fn sub_merchant(
    state: &AppState,
    sp: &MerchantAuth,
    sub_mchid: &str,
    location: &str,
) -> Result<Arc<MerchantAuth>, WxError> {
    let sub =
        state.platform.merchants.merchant(sub_mchid).await.map_err(|_| WxError::param("sub_mchid", location, "no such sub-merchant"))?;
    if sub.merchant.parent_id != Some(sp.merchant.id) {
        return Err(WxError::new(StatusCode::FORBIDDEN, "NO_AUTH", "this sub_mchid is not a sub-merchant of this service provider"));
    }
    Ok(sub)
}
