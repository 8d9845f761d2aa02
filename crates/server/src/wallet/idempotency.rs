//! The `Idempotency-Key` layer: authenticate first, then replay a kept answer, refuse a key reused for a
//! different request, or run the request (once at a time per key on this instance) and keep its final
//! answer. Answers carrying a secret (a session) are marked `NoReplay` by their handler and never kept.
//!
//! The answer goes out as soon as the request has run; its record is committed after, with other
//! requests' rows, while the key stays held on this instance (a twin here waits for the record and
//! replays it). Waiting for the record before answering would cost every request a second commit and
//! buy nothing for the money: what a request moved is already exactly once, because the object it made
//! has an id derived from its key, so a retry that finds no record (another instance, or a crash in
//! between) finds that object instead.

use super::{SignedIn, WalletError};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::idempotency::{Record, check_key, request_hash};
use platform::{Conflict, PlatformError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The request's key, for its handler.
#[derive(Debug, Clone)]
pub(crate) struct KeyOf(pub String);

/// Put on a response that must never be replayed (it carries a secret, or is not final: a pending
/// network payment).
#[derive(Debug, Clone, Copy)]
pub struct NoReplay;

/// A twin of a request still running on this instance is waited for at most this long.
const TWIN_WAIT_MAX: Duration = Duration::from_secs(30);
/// Keys in flight on this instance at most (past it, new keyed requests are refused as busy).
const IN_FLIGHT_MAX: usize = 100_000;

/// Keys whose request is running on this instance.
#[derive(Default)]
pub struct InFlight {
    keys: Mutex<HashSet<(String, String)>>,
    done: tokio::sync::Notify,
}

/// Holds a key while its request runs and until its answer is kept.
struct Running {
    state: Arc<AppState>,
    key: (String, String),
}

impl Drop for Running {
    fn drop(&mut self) {
        let in_flight = &self.state.in_flight;
        in_flight.keys.lock().expect("in-flight lock").remove(&self.key);
        in_flight.done.notify_waiters();
    }
}

impl InFlight {
    /// Wait until no twin runs, then hold the key; `None` if a twin runs too long.
    async fn enter(state: &Arc<AppState>, scope: &str, key: &str) -> Option<Running> {
        let this = &state.in_flight;
        let entry = (scope.to_string(), key.to_string());
        let deadline = Instant::now() + TWIN_WAIT_MAX;
        loop {
            let notified = this.done.notified();
            {
                let mut keys = this.keys.lock().expect("in-flight lock");
                if keys.len() < IN_FLIGHT_MAX && keys.insert(entry.clone()) {
                    return Some(Running { state: state.clone(), key: entry });
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }
}

pub(crate) async fn required(state: State<Arc<AppState>>, request: Request, next: Next) -> Response {
    keyed(state, request, next, true).await
}

pub(crate) async fn optional(state: State<Arc<AppState>>, request: Request, next: Next) -> Response {
    keyed(state, request, next, false).await
}

async fn keyed(State(state): State<Arc<AppState>>, mut request: Request, next: Next, required: bool) -> Response {
    // Authenticate first: a key belongs to a person, and a bad token is refused before any key is read.
    let principal = match crate::http::bearer(request.headers()) {
        Some(token) => match state.platform.people.authenticate(token).await {
            Ok(person) => Some(person),
            Err(e) => return WalletError(e).into_response(),
        },
        None if required => return WalletError(PlatformError::Unauthorized).into_response(),
        None => None,
    };
    if let Some(person) = principal {
        request.extensions_mut().insert(SignedIn(person));
    }
    let key = match request.headers().get("idempotency-key").map(|v| v.to_str()) {
        None if required => {
            return WalletError(PlatformError::invalid("Idempotency-Key", "this request moves money: send an Idempotency-Key header"))
                .into_response();
        }
        None => return next.run(request).await,
        Some(Err(_)) => {
            return WalletError(PlatformError::invalid("Idempotency-Key", "1 to 64 printable ASCII characters")).into_response();
        }
        Some(Ok(k)) => k.to_string(),
    };
    if let Err(e) = check_key(&key) {
        return WalletError(e).into_response();
    }
    let scope = match principal {
        Some(person) => format!("p:{person}"),
        None => format!("a:{}", request.uri().path()),
    };
    let (parts, body) = request.into_parts();
    // The body was read already (see `http::bounded_body`): this only collects it.
    let bytes = axum::body::to_bytes(body, crate::http::BODY_BYTES_MAX).await.unwrap_or_default();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let hash = request_hash(parts.method.as_str(), &target, &bytes);
    let Some(running) = InFlight::enter(&state, &scope, &key).await else {
        return WalletError(PlatformError::conflict(
            Conflict::RequestInProgress,
            "a request with this Idempotency-Key is still running: retry shortly",
        ))
        .into_response();
    };
    match state.platform.idempotency.lookup(&scope, &key).await {
        Err(e) => return WalletError(e).into_response(),
        Ok(Some(kept)) if kept.request_hash != hash => {
            return WalletError(PlatformError::conflict(
                Conflict::IdempotencyKeyReused,
                "this Idempotency-Key was used for a different request",
            ))
            .into_response();
        }
        Ok(Some(kept)) => return replay(kept),
        Ok(None) => {}
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(KeyOf(key.clone()));
    let response = next.run(request).await;
    keep(running, hash, response).await
}

/// Keep a final answer (not a server failure: the client may retry those; not a secret), committed
/// after the answer leaves, the key held until it is (see the module docs).
async fn keep(running: Running, hash: Vec<u8>, response: Response) -> Response {
    if response.status().is_server_error() || response.extensions().get::<NoReplay>().is_some() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, crate::http::BODY_BYTES_MAX).await.unwrap_or_default();
    let record = Record { request_hash: hash, status: parts.status.as_u16(), body: String::from_utf8_lossy(&bytes).into_owned() };
    tokio::spawn(async move {
        let (scope, key) = &running.key;
        if let Err(e) = running.state.platform.idempotency.record(scope, key, record).await {
            tracing::error!(error = %e, "keeping an idempotent answer");
        }
        drop(running);
    });
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(kept: Record) -> Response {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let mut response = (status, kept.body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
