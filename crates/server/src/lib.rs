#![recursion_limit = "512"]
//! Qianbao's HTTP surface, one folder per surface:
//!
//! | folder | surface |
//! | --- | --- |
//! | [`wallet`] | the wallet API, `/api/v1/...`: bearer sessions, `Idempotency-Key` on POSTs |
//! | [`merchant`] | the merchant API, `/v3/...`: WeChat Pay API v3's wire, signatures both ways |
//! | [`operator`] | the operator API, `/admin/api/...`: the operator token |
//!
//! and beside them `/healthz`, `/readyz`, Prometheus `/metrics`, `/openapi.json`, the H5 payment page,
//! and the notification dispatcher (`notify`). `http` holds what every surface shares: bodies read with
//! a deadline and a size limit, work that moves money detached from the connection, bearer tokens, the
//! connection loop with its timeouts. Knows the platform, never SQL. Each surface maps platform errors to
//! its own wire format in one place and never shows internal text.

#[doc(hidden)]
pub mod bill_spool;
pub mod fuzzing;
pub mod http;
pub mod merchant;
pub mod network;
pub mod notify;
pub mod openapi;
pub mod operator;
mod pay_page;
pub mod qr;
pub mod receipt_pdf;
pub mod server_metrics;
pub mod wallet;
pub mod web;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

pub use http::serve;

pub struct AppState {
    pub platform: Arc<platform::Platform>,
    /// The operator token; compared in constant time, never logged.
    pub admin_token: String,
    /// Set when the server runs on a manual clock (sandbox and tests): the operator may move it.
    pub manual_clock: Option<Arc<store::ManualClock>>,
    /// Requests per second per merchant on the merchant API (shared out among the live instances).
    pub merchant_rate: merchant::RateLimiter,
    pub metrics: Arc<server_metrics::ServerMetrics>,
    /// Wallet requests in flight per idempotency key on this instance.
    pub in_flight: wallet::InFlight,
    /// Slots for campaigns' live-total streams on this instance (`wallet::live_slots`).
    pub live_streams: Arc<tokio::sync::Semaphore>,
    /// The pages: what the landing page says about the demo, the sandbox's notification inbox.
    pub web: web::Web,
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Everything on one listener (a loopback deployment, the tests).
    All,
    /// What the public reaches: the wallet, merchant and partner-network APIs and pages; no operator
    /// API, operator console or metrics.
    Public,
    /// What operators reach: the operator API and console, `/metrics`, health.
    Admin,
}

/// Every route on one listener.
pub fn router(state: Arc<AppState>) -> Router {
    router_for(state, Surface::All)
}

pub fn router_for(state: Arc<AppState>, surface: Surface) -> Router {
    let health = Router::new().route("/healthz", get(|| async { "ok\n" })).route("/readyz", get(readyz));
    let public = Router::new()
        .route("/openapi.json", get(|| async { axum::Json(openapi::document()) }))
        .route("/pay/h5", get(pay_page::h5))
        .route("/qr/code.svg", get(qr::svg))
        .route("/qr/code.png", get(qr::png))
        .merge(network::inbound::routes())
        .merge(web::routes())
        .merge(wallet::routes(state.clone()))
        .merge(merchant::routes(state.clone()));
    let admin = Router::new().route("/metrics", get(metrics)).merge(web::ops_routes()).merge(operator::routes(state.clone()));
    let routes = match surface {
        Surface::All => health.merge(public).merge(admin),
        Surface::Public => health.merge(public),
        Surface::Admin => health.merge(admin).route("/assets/app.css", get(web::css)),
    };
    routes
        .layer(axum::middleware::from_fn(http::detach))
        .layer(axum::middleware::from_fn(http::bounded_body))
        .layer(axum::middleware::from_fn(merchant::request_id))
        .layer(axum::middleware::from_fn(http::security_headers))
        .layer(axum::middleware::from_fn(http::log_request))
        .with_state(state)
}

/// 200 when the database answers, 503 when it does not.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.platform.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::with_capacity(4096);
    state.platform.render_metrics(&mut out);
    state.metrics.render(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
