//! `/networks/v1/{network}/...`: a partner network's wallet paying Qianbao merchants. Every request must
//! carry the network's signature; every answer carries Qianbao's. Errors are results
//! (`resultStatus` F), mapped from the platform's in one place ([`failure`]).
//! - `codes/identify {codeValue}` → supported? merchant, amount (or none: the payer enters it), currency.
//! - `payments/pay {paymentRequestId, codeValue, paymentAmount, customerId}` → the payment (idempotent).
//! - `payments/inquiry {paymentRequestId}` → what Qianbao did with it.

use super::{BODY_BYTES_MAX, amount_json, amount_of, result, signature, signature_header};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use platform::PlatformError;
use platform::networks::{InboundPay, NetworkPayment};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/networks/v1/{network}/codes/identify", post(identify))
        .route("/networks/v1/{network}/payments/pay", post(pay))
        .route("/networks/v1/{network}/payments/inquiry", post(inquiry))
}

/// Signatures are fresh by the wall clock (replay protection), whatever the platform's business clock
/// (a sandbox's manual one) says.
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A signed answer.
fn answer(state: &AppState, network: &str, path: &str, status: StatusCode, body: Value) -> Response {
    let key = state.platform.networks.connector(network).map(|c| c.config().key.clone()).unwrap_or_default();
    let bytes = body.to_string();
    let time = wall_clock_ms();
    let sig = signature_header(&signature(&key, "POST", path, super::client::CLIENT_ID, time, bytes.as_bytes()));
    let headers = [
        ("content-type", "application/json".to_string()),
        ("client-id", super::client::CLIENT_ID.to_string()),
        ("request-time", time.to_string()),
        ("signature", sig),
    ];
    let mut response = (status, bytes).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.parse().expect("a header value"));
    }
    response
}

/// The one mapping of platform errors for the networks.
fn failure(e: &PlatformError) -> (StatusCode, Value) {
    let (code, status) = match e {
        PlatformError::Invalid { .. } => ("PARAM_ILLEGAL", StatusCode::BAD_REQUEST),
        PlatformError::NotFound(_) => ("NOT_FOUND", StatusCode::NOT_FOUND),
        PlatformError::Conflict { code, .. } => (code.as_str(), StatusCode::CONFLICT),
        PlatformError::Unavailable => ("SYSTEM_BUSY", StatusCode::SERVICE_UNAVAILABLE),
        _ => ("UNKNOWN_EXCEPTION", StatusCode::INTERNAL_SERVER_ERROR),
    };
    if e.is_internal() {
        tracing::error!(error = %e, "network API");
    }
    let message = if e.is_internal() { "internal error".to_string() } else { e.to_string() };
    (status, json!({"result": result(code, if status.is_server_error() { "U" } else { "F" }, &message)}))
}

/// The request's body, once the network's signature verifies.
fn checked(state: &AppState, network: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, (StatusCode, Value)> {
    let unknown = || (StatusCode::NOT_FOUND, json!({"result": result("NETWORK_UNKNOWN", "F", "no such partner network")}));
    let connector = state.platform.networks.connector(network).map_err(|_| unknown())?;
    if body.len() > BODY_BYTES_MAX {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, json!({"result": result("PARAM_ILLEGAL", "F", "the body is larger than 64 KiB")})));
    }
    let client = super::verify(&connector.config().key, "POST", path, headers, body, wall_clock_ms())
        .map_err(|why| (StatusCode::UNAUTHORIZED, json!({"result": result("INVALID_SIGNATURE", "F", &why)})))?;
    if client != network {
        return Err((StatusCode::UNAUTHORIZED, json!({"result": result("INVALID_CLIENT", "F", "Client-Id is not this network")})));
    }
    serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, json!({"result": result("PARAM_ILLEGAL", "F", &format!("not JSON: {e}"))})))
}

fn text<'a>(body: &'a Value, field: &'static str) -> Result<&'a str, PlatformError> {
    body[field].as_str().ok_or_else(|| PlatformError::invalid(field, "a string"))
}

async fn identify(
    State(state): State<Arc<AppState>>,
    Path(network): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let path = format!("/networks/v1/{network}/codes/identify");
    let outcome = match checked(&state, &network, &path, &headers, &body) {
        Err((status, v)) => Err((status, v)),
        Ok(body) => match text(&body, "codeValue") {
            Err(e) => Err(failure(&e)),
            Ok(code) => state.platform.networks.identify_for(&network, code).await.map_err(|e| failure(&e)),
        },
    };
    let (status, body) = match outcome {
        Ok(None) => (StatusCode::OK, json!({"result": result("SUCCESS", "S", "not a Qianbao code"), "supported": false})),
        Ok(Some(i)) => (
            StatusCode::OK,
            json!({
                "result": result("SUCCESS", "S", "success"),
                "supported": true,
                "merchant": {"mchid": i.mchid, "name": i.merchant_name, "country": i.country, "mcc": i.mcc},
                "currency": i.currency.code(),
                "amount": i.amount.map(amount_json),
                "description": i.description,
            }),
        ),
        Err(e) => e,
    };
    answer(&state, &network, &path, status, body)
}

fn payment_json(p: &NetworkPayment) -> Value {
    json!({
        "result": result("SUCCESS", "S", "success"),
        "paymentRequestId": p.request_id,
        "paymentId": p.id.to_string(),
        "transactionId": p.network_reference,
        "paymentAmount": amount_json(p.amount),
        "paymentStatus": "SUCCESS",
        "paymentTime": p.finished_at_ms,
    })
}

async fn pay(State(state): State<Arc<AppState>>, Path(network): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let path = format!("/networks/v1/{network}/payments/pay");
    let (status, body) = match checked(&state, &network, &path, &headers, &body) {
        Err(e) => e,
        Ok(body) => match pay_request(&state, &network, &body).await {
            Ok(p) => (StatusCode::OK, payment_json(&p)),
            Err(e) => failure(&e),
        },
    };
    answer(&state, &network, &path, status, body)
}

async fn pay_request(state: &AppState, network: &str, body: &Value) -> Result<NetworkPayment, PlatformError> {
    let amount = amount_of(&body["paymentAmount"])
        .ok_or_else(|| PlatformError::invalid("paymentAmount", "{\"currency\": ISO 4217, \"value\": minor units as a string}"))?;
    let customer = body["customerId"].as_str().unwrap_or("");
    if customer.len() > 64 {
        return Err(PlatformError::invalid("customerId", "at most 64 characters"));
    }
    let pay = InboundPay { request_id: text(body, "paymentRequestId")?, code: text(body, "codeValue")?, amount, customer };
    state.platform.networks.pay_in(network, pay).await
}

async fn inquiry(State(state): State<Arc<AppState>>, Path(network): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let path = format!("/networks/v1/{network}/payments/inquiry");
    let (status, body) = match checked(&state, &network, &path, &headers, &body) {
        Err(e) => e,
        Ok(body) => match text(&body, "paymentRequestId") {
            Err(e) => failure(&e),
            Ok(id) => match state.platform.networks.inbound_payment(&network, id).await {
                Ok(p) => (StatusCode::OK, payment_json(&p)),
                Err(PlatformError::NotFound(_)) => {
                    (StatusCode::OK, json!({"result": result("SUCCESS", "S", "success"), "paymentStatus": "NOT_FOUND"}))
                }
                Err(e) => failure(&e),
            },
        },
    };
    answer(&state, &network, &path, status, body)
}
