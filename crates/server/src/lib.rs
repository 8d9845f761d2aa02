#![recursion_limit = "512"]
//! Qianbao's HTTP surface: `/healthz`, `/readyz`, Prometheus `/metrics`, `/openapi.json`, the wallet API
//! under `/api/v1/...` (bearer session tokens, see `wallet_api`), and the operator API under
//! `/admin/api/...` (bearer operator token). Knows the platform and the store's read side, never SQL.
//!
//! On the wire, ids and `user_data` are decimal strings (a u128 does not fit a JSON number), amounts are
//! integers in minor units, currencies are ISO 4217 codes, flags are lists of names. Every error is
//! `{"code": "...", "message": "..."}` with a stable code.

pub mod merchant_api;
pub mod notify;
pub mod openapi;
mod operator_merchants;
mod pay_page;
pub mod server_metrics;
pub mod wallet_api;
mod wire;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ledger::BATCH_EVENTS_MAX;
use std::sync::Arc;
use store::{Committer, Store, StoreError};
pub use wire::*;

/// Largest request body (a full batch of transfers as JSON is about 2 MiB).
pub const BODY_BYTES_MAX: usize = 4 * 1024 * 1024;

pub struct AppState {
    pub store: Arc<Store>,
    pub committer: Committer,
    pub platform: Arc<platform::Platform>,
    /// The operator token; compared in constant time, never logged.
    pub admin_token: String,
    /// Set when the server runs on a manual clock (sandbox and tests): the operator may move it.
    pub manual_clock: Option<Arc<store::ManualClock>>,
    /// Merchant API nonces seen within the signature window (replays are refused).
    pub nonces: merchant_api::NonceCache,
    /// Requests per second per merchant on the merchant API.
    pub merchant_rate: merchant_api::RateLimiter,
    pub metrics: Arc<server_metrics::ServerMetrics>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .route("/pay/h5", get(pay_page::h5))
        .route("/admin/api/ledger/accounts", post(create_accounts))
        .route("/admin/api/ledger/transfers", post(create_transfers))
        .route("/admin/api/ledger/accounts/{id}", get(get_account))
        .route("/admin/api/ledger/transfers/{id}", get(get_transfer))
        .route("/admin/api/sandbox/clock", post(advance_clock))
        .route("/admin/api/people/{id}/kyc", post(set_kyc_tier))
        .route("/admin/api/audit", get(audit_log))
        .merge(wallet_api::routes())
        .merge(operator_merchants::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), wallet_api::idempotency))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .merge(
            merchant_api::routes()
                .layer(DefaultBodyLimit::max(merchant_api::MERCHANT_BODY_BYTES_MAX))
                .layer(axum::middleware::from_fn_with_state(state.clone(), merchant_api::count_answers)),
        )
        .layer(axum::middleware::from_fn(merchant_api::request_id))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// One line per request: method, path, status, latency. Never headers (they carry tokens) or bodies.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), latency_us = started.elapsed().as_micros() as u64, "request");
    response
}

/// An API error: HTTP status plus a stable code and a message a person can act on.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({"code": self.code, "message": self.message}))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::TooManyEvents { .. } => ApiError::bad_request(e.to_string()),
            StoreError::Unavailable => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", e.to_string()),
            _ => {
                tracing::error!(error = %e, "store error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "internal error; see the server log")
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn require_operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if presented.is_empty() || !constant_time_eq(presented.as_bytes(), state.admin_token.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "operator token missing or wrong (Authorization: Bearer <token>)",
        ));
    }
    Ok(())
}

/// Parse a JSON body ourselves so a malformed one gets our error format, naming what is wrong.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { String::new() } else { format!(" at {path}") };
        ApiError::bad_request(format!("invalid JSON body{at}: {}", e.inner()))
    })
}

fn check_count(n: usize) -> Result<(), ApiError> {
    if n == 0 || n > BATCH_EVENTS_MAX {
        return Err(ApiError::bad_request(format!("a request carries 1 to {BATCH_EVENTS_MAX} events, got {n}")));
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockIn {
    advance_s: u64,
}

/// Move the manual clock forward (only when the server runs on one), then resolve what fell due.
async fn advance_clock(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_operator(&state, &headers)?;
    let clock = state
        .manual_clock
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "the server runs on the system clock"))?;
    let r: ClockIn = parse_json(&body)?;
    if r.advance_s > 10 * 365 * 86_400 {
        return Err(ApiError::bad_request("advance_s: at most ten years"));
    }
    clock.advance_s(r.advance_s);
    audit(&state, "sandbox.clock_advance", "clock", &format!("{} s", r.advance_s)).await?;
    let report = state
        .platform
        .run_deadlines()
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", e.to_string()))?;
    Ok(Json(serde_json::json!({"now_ms": state.platform.now_ms(), "deadlines": report})))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TierIn {
    tier: i64,
}

/// KYC tier 2 (or a downgrade): the operator has verified the person.
async fn set_kyc_tier(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_operator(&state, &headers)?;
    let r: TierIn = parse_json(&body)?;
    let person = platform::ids::parse("id", &id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match state.platform.set_kyc_tier(person, r.tier).await {
        Ok(tier) => {
            audit(&state, "people.set_kyc_tier", &format!("person:{person}"), &format!("tier {tier}")).await?;
            Ok(Json(serde_json::json!({"kyc_tier": tier})))
        }
        Err(platform::PlatformError::NotFound(what)) => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", format!("no such {what}")))
        }
        Err(e @ platform::PlatformError::Invalid { .. }) => Err(ApiError::bad_request(e.to_string())),
        Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", e.to_string())),
    }
}

/// Record an operator action (there is one operator token today; roles will name the actor).
async fn audit(state: &AppState, action: &str, target: &str, detail: &str) -> Result<(), ApiError> {
    state
        .platform
        .audit("operator", action, target, detail)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", e.to_string()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    limit: Option<i64>,
    before: Option<String>,
}

async fn audit_log(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<AuditParams>,
) -> Result<Json<Vec<platform::AuditEntry>>, ApiError> {
    require_operator(&state, &headers)?;
    let before =
        q.before.as_deref().map(|b| platform::ids::parse("before", b)).transpose().map_err(|e| ApiError::bad_request(e.to_string()))?;
    let entries = state
        .platform
        .audit_log(q.limit.unwrap_or(100), before)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", e.to_string()))?;
    Ok(Json(entries))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.schema_version()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::with_capacity(4096);
    state.store.metrics.render(&mut out);
    state.metrics.render(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

async fn create_accounts(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Vec<EventResult>>, ApiError> {
    require_operator(&state, &headers)?;
    let accounts: Vec<AccountIn> = parse_json(&body)?;
    check_count(accounts.len())?;
    let batch = accounts.into_iter().map(AccountIn::into_ledger).collect();
    let results = state.committer.create_accounts(batch).await?;
    let created = results.iter().filter(|r| r.is_ok()).count();
    audit(&state, "ledger.create_accounts", "ledger", &format!("{} accounts requested, {created} created or existing", results.len()))
        .await?;
    Ok(Json(results.into_iter().enumerate().map(EventResult::from_account).collect()))
}

async fn create_transfers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Vec<EventResult>>, ApiError> {
    require_operator(&state, &headers)?;
    let transfers: Vec<TransferIn> = parse_json(&body)?;
    check_count(transfers.len())?;
    let batch = transfers.into_iter().map(TransferIn::into_ledger).collect();
    let results = state.committer.create_transfers(batch).await?;
    let created = results.iter().filter(|r| r.is_ok()).count();
    audit(&state, "ledger.create_transfers", "ledger", &format!("{} transfers requested, {created} created or existing", results.len()))
        .await?;
    Ok(Json(results.into_iter().enumerate().map(EventResult::from_transfer).collect()))
}

fn parse_id(text: &str) -> Result<u128, ApiError> {
    text.parse::<u128>()
        .ok()
        .filter(|id| *id != 0 && *id != u128::MAX)
        .ok_or_else(|| ApiError::bad_request(format!("id {text:?} is not a decimal u128 between 1 and 2^128-2")))
}

async fn get_account(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Json<AccountOut>, ApiError> {
    require_operator(&state, &headers)?;
    let id = parse_id(&id)?;
    let store = state.store.clone();
    let account = tokio::task::spawn_blocking(move || store.account(id)).await.map_err(|_| StoreError::Unavailable)??;
    account
        .map(|a| Json(AccountOut::from(a)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", format!("no account {id}")))
}

async fn get_transfer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<TransferOut>, ApiError> {
    require_operator(&state, &headers)?;
    let id = parse_id(&id)?;
    let store = state.store.clone();
    let found = tokio::task::spawn_blocking(move || store.transfer(id)).await.map_err(|_| StoreError::Unavailable)??;
    found
        .map(|(t, p)| Json(TransferOut::new(t, p)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", format!("no transfer {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_needs_the_exact_token() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn reserved_and_malformed_ids_are_rejected() {
        assert!(parse_id("0").is_err());
        assert!(parse_id(&u128::MAX.to_string()).is_err());
        assert!(parse_id("-1").is_err());
        assert!(parse_id("12a").is_err());
        assert_eq!(parse_id("42").unwrap(), 42);
    }
}
