//! `/api/v1/people`, `/sessions`, `/me`: registration, sign-in, the profile, the PIN, KYC.

use super::idempotency::NoReplay;
use super::{Answer, SignedIn, St, json, parse};
use axum::Extension;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterIn {
    phone: String,
    password: String,
    region: String,
    display_name: String,
}

pub(super) async fn register(state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: RegisterIn = parse(&body)?;
    let p = state.platform.people.register(&r.phone, &r.password, &r.region, &r.display_name).await?;
    Ok(json(StatusCode::CREATED, &p))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInIn {
    phone: String,
    password: String,
}

/// A new session; its answer carries the token, so it is never kept for a replay.
pub(super) async fn sign_in(state: St, client: Option<Extension<crate::http::ClientAddr>>, body: axum::body::Bytes) -> Answer<Response> {
    let r: SignInIn = parse(&body)?;
    let address = client.map(|Extension(c)| c.0.ip());
    let session = state.platform.people.sign_in(&r.phone, &r.password, address).await?;
    let mut response = json(StatusCode::CREATED, &session);
    response.extensions_mut().insert(NoReplay);
    Ok(response)
}

pub(super) async fn sign_out(_who: SignedIn, state: St, headers: axum::http::HeaderMap) -> Answer<StatusCode> {
    state.platform.people.sign_out(crate::http::bearer(&headers).unwrap_or_default()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn me(SignedIn(id): SignedIn, state: St) -> Answer<Response> {
    let p = state.platform.people.person(id).await?;
    let balances = state.platform.wallet.balances(id).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"person": p, "balances": balances})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CloseIn {
    pin: String,
}

/// Close my wallet (nothing may remain in it); my personal data is erased after the retention period.
pub(super) async fn close(SignedIn(id): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: CloseIn = parse(&body)?;
    let erased_after_ms = state.platform.close_wallet(id, &r.pin).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"closed": true, "personal_data_erased_after_ms": erased_after_ms})))
}

/// Everything Qianbao holds about the signed-in person, as a JSON download.
pub(super) async fn export(SignedIn(id): SignedIn, state: St) -> Answer<Response> {
    let data = state.platform.export_person(id).await?;
    let mut response = json(StatusCode::OK, &data);
    let disposition = format!("attachment; filename=\"qianbao-{id}.json\"");
    response.headers_mut().insert(axum::http::header::CONTENT_DISPOSITION, disposition.parse().expect("a header value"));
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PinIn {
    pin: String,
    current_pin: Option<String>,
}

pub(super) async fn set_pin(SignedIn(id): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: PinIn = parse(&body)?;
    state.platform.people.set_pin(id, &r.pin, r.current_pin.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KycIn {
    legal_name: String,
    document_type: String,
    document_number: String,
}

pub(super) async fn submit_kyc(SignedIn(id): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: KycIn = parse(&body)?;
    let tier = state.platform.submit_kyc(id, &r.legal_name, &r.document_type, &r.document_number).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"kyc_tier": tier})))
}
