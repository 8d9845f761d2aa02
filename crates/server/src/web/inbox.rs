//! The sandbox's notification inbox: a notify receiver that a merchant's `notify_url` can point at
//! (`POST /sandbox/inbox/{mchid}`), which checks each notification as the merchant's code must (the
//! `Wechatpay-Signature` over timestamp, nonce and body, against the platform key named by
//! `Wechatpay-Serial`) and decrypts its resource with the merchant's APIv3 key, then shows them
//! (`GET /sandbox/inbox/{mchid}`, or `?format=json`). In memory, bounded; sandboxes only.

use super::Lang;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Notifications kept per merchant (the oldest go first).
const ENTRIES_PER_MERCHANT_MAX: usize = 100;
/// Merchants with an inbox at most.
const MERCHANTS_MAX: usize = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub received_at: String,
    pub event_type: String,
    pub summary: String,
    pub verified: bool,
    /// Why it is not verified (or could not be opened).
    pub problem: Option<String>,
    /// The decrypted resource, pretty-printed.
    pub resource: String,
}

#[derive(Default)]
pub struct Inbox {
    entries: Mutex<HashMap<String, VecDeque<Entry>>>,
}

impl Inbox {
    fn push(&self, mchid: &str, entry: Entry) -> bool {
        let mut all = self.entries.lock().expect("inbox");
        if !all.contains_key(mchid) && all.len() >= MERCHANTS_MAX {
            return false;
        }
        let list = all.entry(mchid.to_string()).or_default();
        if list.len() == ENTRIES_PER_MERCHANT_MAX {
            list.pop_back();
        }
        list.push_front(entry);
        true
    }

    pub fn entries(&self, mchid: &str) -> Vec<Entry> {
        self.entries.lock().expect("inbox").get(mchid).map(|l| l.iter().cloned().collect()).unwrap_or_default()
    }
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/sandbox/inbox/{mchid}", post(receive).get(show))
}

fn disabled() -> Response {
    crate::http::error(StatusCode::NOT_FOUND, "NOT_FOUND", "the notification inbox runs in sandboxes only (serve --demo)")
}

/// Check the signature headers against the platform's keys.
async fn verify(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).ok_or(format!("the {name} header is missing"));
    let serial = get("wechatpay-serial")?;
    let timestamp: i64 = get("wechatpay-timestamp")?.parse().map_err(|_| "Wechatpay-Timestamp is not a number".to_string())?;
    let nonce = get("wechatpay-nonce")?;
    let signature = wxpay::base64::decode(get("wechatpay-signature")?).ok_or("Wechatpay-Signature is not base64")?;
    let keys = state.platform.merchants.platform_keys().await.map_err(|e| e.to_string())?;
    let key = std::iter::once(&keys.public_key)
        .chain(keys.certificates.iter())
        .find(|k| k.serial.eq_ignore_ascii_case(serial))
        .ok_or(format!("no platform key has the serial {serial}"))?;
    let verifying = wxpay::VerifyingKey::from_spki_der(&key.key.public_key_spki_der()).map_err(|e| e.to_string())?;
    verifying.verify(&wxpay::response_message(timestamp, nonce, body), &signature).map_err(|_| "the signature does not verify".to_string())
}

async fn receive(State(state): State<Arc<AppState>>, Path(mchid): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(inbox) = &state.web.inbox else { return disabled() };
    let Ok(merchant) = state.platform.merchants.merchant(&mchid).await else {
        return crate::http::error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such merchant");
    };
    let verified = verify(&state, &headers, &body).await;
    let opened = wxpay::open_notification(&body, &merchant.apiv3_key);
    let (event_type, summary, resource) = match &opened {
        Ok(o) => {
            let resource = serde_json::from_slice::<serde_json::Value>(&o.resource)
                .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
                .unwrap_or_else(|_| String::from_utf8_lossy(&o.resource).into_owned());
            let text = |k: &str| o.envelope[k].as_str().unwrap_or_default().to_string();
            (text("event_type"), text("summary"), resource)
        }
        Err(e) => (String::new(), String::new(), format!("not opened: {e}")),
    };
    let problem = match (&verified, &opened) {
        (Err(why), _) => Some(why.clone()),
        (Ok(()), Err(e)) => Some(e.to_string()),
        (Ok(()), Ok(_)) => None,
    };
    let entry = Entry {
        received_at: wxpay::time::format_rfc3339(state.platform.now_ms() / 1000),
        event_type,
        summary,
        verified: problem.is_none(),
        problem,
        resource,
    };
    let ok = entry.verified;
    if !inbox.push(&mchid, entry) {
        return crate::http::error(StatusCode::TOO_MANY_REQUESTS, "INBOX_FULL", "the inbox keeps notifications of 1000 merchants at most");
    }
    // As a merchant's server answers: 200 when the notification checks out, else a failure WeChat retries.
    if ok {
        StatusCode::NO_CONTENT.into_response()
    } else {
        crate::http::error(StatusCode::UNAUTHORIZED, "SIGN_ERROR", "the notification did not check out")
    }
}

async fn show(State(state): State<Arc<AppState>>, Path(mchid): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let Some(inbox) = &state.web.inbox else { return disabled() };
    let entries = inbox.entries(&mchid);
    if uri.query().is_some_and(|q| q.split('&').any(|p| p == "format=json")) {
        return Json(serde_json::json!({"data": entries})).into_response();
    }
    let (lang, chosen) = Lang::of(&uri, &headers);
    let notify_url = format!("{}/sandbox/inbox/{mchid}", state.platform.config().public_url.trim_end_matches('/'));
    super::page("inbox.html", lang, chosen, minijinja::context! { mchid => mchid, entries => entries, notify_url => notify_url })
}
