//! Operator endpoints for the merchant side: onboarding merchants, their API keys and app ids, the
//! platform's signing keys (and their rotation), and the notification outbox (see and replay).

use crate::{ApiError, AppState, audit, parse_json, require_operator};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use platform::PlatformError;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/api/merchants", post(onboard))
        .route("/admin/api/merchants/{mchid}", get(merchant))
        .route("/admin/api/merchants/{mchid}/keys", post(add_key))
        .route("/admin/api/merchants/{mchid}/keys/{serial}", delete(revoke_key))
        .route("/admin/api/merchants/{mchid}/apps", post(add_app))
        .route("/admin/api/merchants/{mchid}/static-codes", post(add_static_code))
        .route("/admin/api/merchants/{mchid}/covers", post(publish_cover))
        .route("/admin/api/platform-keys", get(platform_keys))
        .route("/admin/api/platform-keys/rotate", post(rotate))
        .route("/admin/api/platform-keys/{serial}/retire", post(retire))
        .route("/admin/api/settlements", get(settlements))
        .route("/admin/api/settlements/run", post(run_settlement))
        .route("/admin/api/notifications", get(notifications))
        .route("/admin/api/notifications/{id}", get(notification))
        .route("/admin/api/notifications/{id}/replay", post(replay))
}

fn api_error(e: PlatformError) -> ApiError {
    match e {
        PlatformError::Invalid { .. } => ApiError::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", e.to_string()),
        PlatformError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", e.to_string()),
        PlatformError::Conflict { code, .. } => ApiError::new(StatusCode::CONFLICT, code, e.to_string()),
        e => {
            tracing::error!(error = %e, "operator merchant API");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "internal error; see the server log")
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnboardIn {
    mchid: Option<String>,
    #[serde(default = "direct")]
    kind: String,
    parent_mchid: Option<String>,
    name: String,
    mcc: String,
    country: String,
    settlement_currency: String,
    fee_bps: i64,
    settlement_account: String,
    #[serde(default)]
    public_key_mode: bool,
}

fn direct() -> String {
    "direct".into()
}

/// Onboard a merchant. The answer carries its APIv3 key: the only time it is shown.
async fn onboard(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_operator(&state, &headers)?;
    let r: OnboardIn = parse_json(&body)?;
    let setup = platform::MerchantSetup {
        mchid: r.mchid,
        kind: r.kind,
        parent_mchid: r.parent_mchid,
        name: r.name,
        mcc: r.mcc,
        country: r.country,
        settlement_currency: r.settlement_currency,
        fee_bps: r.fee_bps,
        settlement_account: r.settlement_account,
        public_key_mode: r.public_key_mode,
    };
    let (merchant, apiv3_key) = state.platform.onboard_merchant(setup).await.map_err(api_error)?;
    audit(&state, "merchants.onboard", &format!("merchant:{}", merchant.mchid), &merchant.name).await?;
    let mut out = serde_json::to_value(&merchant).expect("a merchant serialises");
    out["apiv3_key"] = json!(apiv3_key);
    Ok((StatusCode::CREATED, Json(out)))
}

async fn merchant(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(mchid): Path<String>) -> Result<Json<Value>, ApiError> {
    require_operator(&state, &headers)?;
    let auth = state.platform.merchant(&mchid).await.map_err(api_error)?;
    let mut out = serde_json::to_value(&auth.merchant).expect("a merchant serialises");
    out["key_serials"] = json!(auth.keys.iter().map(|(s, _)| s).collect::<Vec<_>>());
    out["appids"] = json!(auth.appids);
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyIn {
    /// An X.509 certificate PEM (the serial comes from it) or a public key PEM (with `serial_no`).
    pem: String,
    serial_no: Option<String>,
}

async fn add_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_operator(&state, &headers)?;
    let r: KeyIn = parse_json(&body)?;
    let serial = state.platform.register_merchant_key(&mchid, &r.pem, r.serial_no.as_deref()).await.map_err(api_error)?;
    audit(&state, "merchants.add_key", &format!("merchant:{mchid}"), &serial).await?;
    Ok((StatusCode::CREATED, Json(json!({"serial_no": serial}))))
}

async fn revoke_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((mchid, serial)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    require_operator(&state, &headers)?;
    state.platform.revoke_merchant_key(&mchid, &serial).await.map_err(api_error)?;
    audit(&state, "merchants.revoke_key", &format!("merchant:{mchid}"), &serial).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppIn {
    appid: String,
    kind: String,
    name: String,
}

async fn add_app(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_operator(&state, &headers)?;
    let r: AppIn = parse_json(&body)?;
    state.platform.register_app(&mchid, &r.appid, &r.kind, &r.name).await.map_err(api_error)?;
    audit(&state, "merchants.add_app", &format!("merchant:{mchid}"), &r.appid).await?;
    Ok((StatusCode::CREATED, Json(json!({"appid": r.appid}))))
}

/// What a merchant configures its SDK with: every valid platform certificate, and the public key with
/// its id (public-key mode).
fn keys_view(keys: &platform::PlatformKeys) -> Value {
    let certificates: Vec<Value> = keys
        .certificates
        .iter()
        .map(|k| {
            json!({
                "serial_no": k.serial,
                "effective_time": wxpay::time::format_rfc3339(k.effective_at_ms / 1000),
                "expire_time": wxpay::time::format_rfc3339(k.expires_at_ms / 1000),
                "certificate_pem": wxpay::pem_encode("CERTIFICATE", k.certificate.as_deref().unwrap_or_default()),
            })
        })
        .collect();
    json!({
        "certificates": certificates,
        "signing_serial_no": keys.signer(false).serial,
        "public_key": {"public_key_id": keys.public_key.serial, "public_key_pem": keys.public_key.key.public_key_pem()},
    })
}

async fn platform_keys(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require_operator(&state, &headers)?;
    let keys = state.platform.platform_keys().await.map_err(api_error)?;
    Ok(Json(keys_view(&keys)))
}

async fn rotate(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require_operator(&state, &headers)?;
    let keys = state.platform.rotate_platform_certificate().await.map_err(api_error)?;
    audit(&state, "platform_keys.rotate", "platform_keys", &keys.signer(false).serial).await?;
    Ok(Json(keys_view(&keys)))
}

async fn retire(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(serial): Path<String>) -> Result<Json<Value>, ApiError> {
    require_operator(&state, &headers)?;
    let keys = state.platform.retire_platform_key(&serial).await.map_err(api_error)?;
    audit(&state, "platform_keys.retire", "platform_keys", &serial).await?;
    Ok(Json(keys_view(&keys)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationParams {
    mchid: Option<String>,
    limit: Option<i64>,
}

async fn notifications(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<NotificationParams>,
) -> Result<Json<Vec<platform::Notification>>, ApiError> {
    require_operator(&state, &headers)?;
    Ok(Json(state.platform.notifications(q.mchid.as_deref(), q.limit.unwrap_or(50)).await.map_err(api_error)?))
}

/// A notification and every delivery attempt.
async fn notification(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    require_operator(&state, &headers)?;
    let (n, attempts) = state.platform.notification(&id).await.map_err(api_error)?;
    let mut out = serde_json::to_value(&n).expect("a notification serialises");
    out["delivery_attempts"] = serde_json::to_value(&attempts).expect("attempts serialise");
    Ok(Json(out))
}

async fn replay(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    require_operator(&state, &headers)?;
    state.platform.replay_notification(&id).await.map_err(api_error)?;
    audit(&state, "notifications.replay", &format!("notification:{id}"), "").await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettlementParams {
    day: String,
    format: Option<String>,
}

/// A day's settlement report, as JSON or (`format=csv`) CSV.
async fn settlements(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<SettlementParams>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    require_operator(&state, &headers)?;
    let rows = state.platform.settlements(&q.day).await.map_err(api_error)?;
    Ok(match q.format.as_deref() {
        Some("csv") => {
            ([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], platform::Platform::settlements_csv(&rows)).into_response()
        }
        None | Some("json") => Json(rows).into_response(),
        Some(_) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "format: json or csv")),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunIn {
    day: String,
}

/// Settle a day now (it also runs by itself each day); idempotent per merchant, day and currency.
async fn run_settlement(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Vec<platform::Settlement>>, ApiError> {
    require_operator(&state, &headers)?;
    let r: RunIn = parse_json(&body)?;
    let rows = state.platform.settle_day(&r.day).await.map_err(api_error)?;
    audit(&state, "settlements.run", "settlements", &r.day).await?;
    Ok(Json(rows))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticCodeIn {
    appid: String,
    description: String,
    notify_url: String,
}

/// A printed QR code for the till: people scan it and enter the amount.
async fn add_static_code(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_operator(&state, &headers)?;
    let r: StaticCodeIn = parse_json(&body)?;
    let code_url = state.platform.create_static_code(&mchid, &r.appid, &r.description, &r.notify_url).await.map_err(api_error)?;
    audit(&state, "merchants.add_static_code", &format!("merchant:{mchid}"), &r.description).await?;
    Ok((StatusCode::CREATED, Json(json!({"code_url": code_url}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CoverIn {
    title: String,
    image_url: String,
}

/// Publish a red-packet cover for the merchant (people choose it when they send a packet).
async fn publish_cover(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<platform::Cover>), ApiError> {
    require_operator(&state, &headers)?;
    let r: CoverIn = parse_json(&body)?;
    let cover = state.platform.publish_cover(&mchid, &r.title, &r.image_url).await.map_err(api_error)?;
    audit(&state, "merchants.publish_cover", &format!("merchant:{mchid}"), &r.title).await?;
    Ok((StatusCode::CREATED, Json(cover)))
}
