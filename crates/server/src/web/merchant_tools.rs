//! The merchant console's integration tools: the **delivery log** of the merchant's notifications (each
//! one's state and every delivery attempt), a **test notification** sent to a notify URL the owner gives
//! (signed and encrypted as every notification is, delivered by the same outbox), and **static codes**
//! (make one for the till, list them, print its sticker: the QR code in its EMV form when the merchant
//! has a QR profile, so other networks' wallets read it too), and the **red-packet covers** it publishes
//! for people to dress their packets in.

use super::merchant::{Local, failed, owner_form, session, to_sign_in};
use super::wallet::{csrf, redirect};
use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use platform::PlatformError;
use platform::merchants::MerchantRole;
use std::sync::Arc;

/// Notifications and static codes listed at once.
const LISTED_MAX: i64 = 50;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/merchant/notifications", get(notifications))
        .route("/merchant/notifications/test", post(send_test))
        .route("/merchant/notifications/{id}", get(notification))
        .route("/merchant/codes", get(codes).post(add_code))
        .route("/merchant/codes/{id}/sticker", get(sticker))
        .route("/merchant/covers", get(covers).post(publish_cover))
}

async fn notifications(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    let local = match Local::of(&state, &user).await {
        Ok(local) => local,
        Err(failed) => return failed,
    };
    let list = match state.platform.outbox.list(Some(&user.mchid), LISTED_MAX).await {
        Ok(list) => list,
        Err(e) => return failed(e),
    };
    let view: Vec<_> = list
        .iter()
        .map(|n| {
            minijinja::context! {
                id => n.id, event_type => n.event_type, url => n.notify_url, state => n.state.as_str(), attempts => n.attempts,
                last_status => n.last_status, at => local.time(n.created_at_ms),
            }
        })
        .collect();
    let q: std::collections::HashMap<String, String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let context = minijinja::context! {
        user => user, csrf => csrf(&state, &token), notifications => view, owner => user.role == MerchantRole::Owner,
        sent => q.contains_key("sent"), error => q.get("error").map(|e| e.chars().take(200).collect::<String>()),
        inbox => state.web.inbox.as_ref().map(|_| format!("{}/sandbox/inbox/{}", state.platform.config().public_url.trim_end_matches('/'), user.mchid)),
    };
    page("merchant_notifications.html", lang, chosen, context)
}

async fn send_test(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let (user, _, f) = match owner_form(&state, &headers, &body, lang).await {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let url = f.get("notify_url").map(|u| u.trim()).unwrap_or("");
    match state.platform.outbox.send_test(user.merchant_id, url).await {
        Ok(()) => redirect("/merchant/notifications?sent=1"),
        Err(e @ PlatformError::Invalid { .. }) => redirect(&format!(
            "/merchant/notifications?error={}",
            form_urlencoded::byte_serialize(e.to_string().as_bytes()).collect::<String>()
        )),
        Err(e) => failed(e),
    }
}

async fn notification(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    let local = match Local::of(&state, &user).await {
        Ok(local) => local,
        Err(failed) => return failed,
    };
    let (n, attempts) = match state.platform.outbox.get(&id).await {
        Ok(found) if found.0.mchid == user.mchid => found,
        Ok(_) | Err(PlatformError::NotFound(_)) => return failed(PlatformError::NotFound("notification")),
        Err(e) => return failed(e),
    };
    let attempts: Vec<_> = attempts
        .iter()
        .map(|a| minijinja::context! { attempt => a.attempt, at => local.time(a.at_ms), status => a.status, error => a.error, latency_ms => a.latency_ms })
        .collect();
    let context = minijinja::context! {
        user => user, csrf => csrf(&state, &token), id => n.id, event_type => n.event_type, url => n.notify_url, state => n.state.as_str(),
        at => local.time(n.created_at_ms), attempts => attempts,
    };
    page("merchant_notification.html", lang, chosen, context)
}

async fn codes(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    let local = match Local::of(&state, &user).await {
        Ok(local) => local,
        Err(failed) => return failed,
    };
    let (codes, auth) = match (
        state.platform.payments.static_codes(user.merchant_id, LISTED_MAX).await,
        state.platform.merchants.merchant(&user.mchid).await,
    ) {
        (Ok(c), Ok(a)) => (c, a),
        (Err(e), _) | (_, Err(e)) => return failed(e),
    };
    let view: Vec<_> = codes
        .iter()
        .map(|c| minijinja::context! { id => c.id.to_string(), description => c.description, appid => c.appid, url => c.code_url, at => local.time(c.created_at_ms) })
        .collect();
    let q: std::collections::HashMap<String, String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let context = minijinja::context! {
        user => user, csrf => csrf(&state, &token), codes => view, appids => auth.appids.clone(), owner => user.role == MerchantRole::Owner,
        error => q.get("error").map(|e| e.chars().take(200).collect::<String>()),
    };
    page("merchant_codes.html", lang, chosen, context)
}

async fn add_code(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let (user, _, f) = match owner_form(&state, &headers, &body, lang).await {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let field = |name: &str| f.get(name).map(|v| v.trim()).unwrap_or("");
    let audit = super::merchant::audit_effect(&state, &user, "console.add_static_code", field("description"));
    let made = state
        .platform
        .payments
        .create_static_code(&user.mchid, field("appid"), field("description"), field("notify_url"), Some(audit))
        .await;
    match made {
        Ok(_) => redirect("/merchant/codes"),
        Err(e @ (PlatformError::Invalid { .. } | PlatformError::Conflict { .. })) => {
            redirect(&format!("/merchant/codes?error={}", form_urlencoded::byte_serialize(e.to_string().as_bytes()).collect::<String>()))
        }
        Err(e) => failed(e),
    }
}

/// A static code's printable sticker: the merchant's name, what the code is for, the QR code.
async fn sticker(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, _)) = session(&state, &headers).await else { return to_sign_in() };
    let Ok(id) = id.parse::<i64>() else { return failed(PlatformError::NotFound("static code")) };
    let code = match state.platform.payments.merchant_static_code(user.merchant_id, id).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    // The EMV form when the merchant has a QR profile: one sticker for every network's wallet.
    let payload = state.platform.payments.emv_payload(&code.code_url).await.unwrap_or_else(|_| code.code_url.clone());
    let svg = match crate::qr::render_svg(&payload) {
        Ok(svg) => svg,
        Err(e) => return failed(PlatformError::Internal(e)),
    };
    let name = match state.platform.merchants.merchant(&user.mchid).await {
        Ok(auth) => auth.merchant.name.clone(),
        Err(e) => return failed(e),
    };
    let context = minijinja::context! { merchant => name, description => code.description, svg => svg, emv => payload != code.code_url };
    page("merchant_sticker.html", lang, chosen, context)
}

async fn covers(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    let local = match Local::of(&state, &user).await {
        Ok(local) => local,
        Err(failed) => return failed,
    };
    let covers = match state.platform.red_packets.covers_of(user.merchant_id, LISTED_MAX).await {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let view: Vec<_> = covers
        .iter()
        .map(|c| minijinja::context! { title => c.title, image_url => c.image_url, at => local.time(c.created_at_ms) })
        .collect();
    let q: std::collections::HashMap<String, String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let context = minijinja::context! {
        user => user, csrf => csrf(&state, &token), covers => view, owner => user.role == MerchantRole::Owner,
        error => q.get("error").map(|e| e.chars().take(200).collect::<String>()),
    };
    page("merchant_covers.html", lang, chosen, context)
}

async fn publish_cover(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let (user, _, f) = match owner_form(&state, &headers, &body, lang).await {
        Ok(ok) => ok,
        Err(refused) => return refused,
    };
    let field = |name: &str| f.get(name).map(|v| v.trim()).unwrap_or("");
    let audit = super::merchant::audit_effect(&state, &user, "console.publish_cover", field("title"));
    match state.platform.red_packets.publish_cover(&user.mchid, field("title"), field("image_url"), Some(audit)).await {
        Ok(_) => redirect("/merchant/covers"),
        Err(e @ PlatformError::Invalid { .. }) => {
            redirect(&format!("/merchant/covers?error={}", form_urlencoded::byte_serialize(e.to_string().as_bytes()).collect::<String>()))
        }
        Err(e) => failed(e),
    }
}
