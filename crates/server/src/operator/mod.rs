//! The operator API, `/admin/api/...`: the operator token, every action audited, errors
//! `{"code", "message"}` mapped from the platform's in one place ([`ApiError`]). One file per resource.

mod audit;
mod fx;
pub mod ledger;
mod merchants;
mod networks;
mod notifications;
mod people;
mod platform_keys;
mod qr;
mod sandbox;
mod settlements;

use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use platform::PlatformError;
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/api/ledger/accounts", post(ledger::create_accounts))
        .route("/admin/api/ledger/transfers", post(ledger::create_transfers))
        .route("/admin/api/ledger/accounts/{id}", get(ledger::account))
        .route("/admin/api/ledger/transfers/{id}", get(ledger::transfer))
        .route("/admin/api/sandbox/clock", post(sandbox::advance_clock))
        .route("/admin/api/people/{id}/kyc", post(people::set_kyc_tier))
        .route("/admin/api/audit", get(audit::audit_log))
        .route("/admin/api/merchants", post(merchants::onboard))
        .route("/admin/api/merchants/{mchid}", get(merchants::merchant))
        .route("/admin/api/merchants/{mchid}/keys", post(merchants::add_key))
        .route("/admin/api/merchants/{mchid}/keys/{serial}", delete(merchants::revoke_key))
        .route("/admin/api/merchants/{mchid}/apps", post(merchants::add_app))
        .route("/admin/api/merchants/{mchid}/users", post(merchants::add_user))
        .route("/admin/api/merchants/{mchid}/static-codes", post(merchants::add_static_code))
        .route("/admin/api/merchants/{mchid}/covers", post(merchants::publish_cover))
        .route("/admin/api/merchants/{mchid}/qr-profile", axum::routing::put(qr::set_profile))
        .route("/admin/api/merchants/{mchid}/schemes/{scheme}", axum::routing::put(qr::register_scheme))
        .route("/admin/api/networks", get(networks::networks))
        .route("/admin/api/networks/{network}/reconciliations/{day}", get(networks::reconciliation))
        .route("/admin/api/networks/{network}/settlements/{day}", post(networks::settle))
        .route("/admin/api/platform-keys", get(platform_keys::platform_keys))
        .route("/admin/api/platform-keys/rotate", post(platform_keys::rotate))
        .route("/admin/api/platform-keys/{serial}/retire", post(platform_keys::retire))
        .route("/admin/api/settlements", get(settlements::settlements))
        .route("/admin/api/settlements/run", post(settlements::run))
        .route("/admin/api/partners/{mchid}/settlements/{day}", get(settlements::partner_file))
        .route("/admin/api/notifications", get(notifications::notifications))
        .route("/admin/api/notifications/{id}", get(notifications::notification))
        .route("/admin/api/notifications/{id}/replay", post(notifications::replay))
        .route("/admin/api/fx/rates", axum::routing::put(fx::set_rate).get(fx::rates))
        .route("/admin/api/fx/rates/import", post(fx::import_rates))
        .route("/admin/api/fx/markups", axum::routing::put(fx::set_markup))
        .route("/admin/api/fx/pairs/{base}/{quote}", axum::routing::put(fx::set_pair))
        .route("/admin/api/fx/quotes/{id}", get(fx::quote))
        .route("/admin/api/fx/positions", get(fx::positions))
        .route("/admin/api/fx/cross-border-report", get(fx::cross_border_report))
}

/// An operator API error: HTTP status plus a stable code and a message a person can act on.
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

/// The one mapping of platform errors on the operator API; internal detail goes to the log only.
impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> ApiError {
        let message = e.to_string();
        match e {
            PlatformError::Invalid { .. } => ApiError::bad_request(message),
            PlatformError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", message),
            PlatformError::Conflict { code, .. } => ApiError::new(StatusCode::CONFLICT, code.as_str(), message),
            PlatformError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message),
            PlatformError::Unauthorized => ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message),
            PlatformError::Unavailable => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message),
            e => {
                tracing::error!(error = %e, "operator API");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "internal error; see the server log")
            }
        }
    }
}

type Answer<T> = Result<T, ApiError>;

/// The operator, by the operator token (compared in constant time). Extract it first: an unauthorized
/// request hears 401 before anything about its parameters.
pub struct Operator;

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Operator, ApiError> {
        let presented = crate::http::bearer(&parts.headers).unwrap_or("");
        if presented.is_empty() || !crate::http::constant_time_eq(presented.as_bytes(), state.admin_token.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "operator token missing or wrong (Authorization: Bearer <token>)",
            ));
        }
        Ok(Operator)
    }
}

/// The request's query parameters, or the documented JSON error.
pub struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequestParts<Arc<AppState>> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<AppState>) -> Result<Params<T>, ApiError> {
        crate::http::query(&parts.uri).map(Params).map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
    }
}

/// Parse a JSON body ourselves so a malformed one gets our error format, naming what is wrong.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Answer<T> {
    crate::http::json_body(body).map_err(|(path, what)| match path {
        Some(path) => ApiError::bad_request(format!("invalid JSON body at {path}: {what}")),
        None => ApiError::bad_request(format!("invalid JSON body: {what}")),
    })
}

/// Record an operator action (there is one operator token today; roles will name the actor).
async fn audit(state: &AppState, action: &str, target: &str, detail: &str) -> Answer<()> {
    Ok(state.platform.audit.record("operator", action, target, detail).await?)
}

type St = axum::extract::State<Arc<AppState>>;
