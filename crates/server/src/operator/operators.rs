//! `/admin/api/bootstrap`, `/admin/api/sessions`, `/admin/api/operators`: the first admin, signing in
//! and out, a second factor, and operators with their roles.

use super::{Answer, Operator, St, parse_json};
use axum::Json;
use axum::extract::Path;
use platform::operators::{OperatorUser, parse_roles};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FirstAdminIn {
    username: String,
    password: String,
}

/// The bootstrap token creates the first admin, once.
pub(super) async fn bootstrap(state: St, body: axum::body::Bytes) -> Answer<Json<OperatorUser>> {
    let r: FirstAdminIn = parse_json(&body)?;
    Ok(Json(state.platform.operators.create_first_admin(&r.username, &r.password, "bootstrap").await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInIn {
    username: String,
    password: String,
    totp: Option<String>,
}

pub(super) async fn sign_in(
    state: St,
    client: Option<axum::Extension<crate::http::ClientAddr>>,
    body: axum::body::Bytes,
) -> Answer<Json<Value>> {
    let r: SignInIn = parse_json(&body)?;
    let address = client.map(|axum::Extension(c)| c.0.ip());
    let (token, expires_at_ms, user) = state.platform.operators.sign_in(&r.username, &r.password, r.totp.as_deref(), address).await?;
    Ok(Json(json!({"token": token, "expires_at_ms": expires_at_ms, "operator": user})))
}

pub(super) async fn sign_out(op: Operator, state: St) -> Answer<axum::http::StatusCode> {
    state.platform.operators.sign_out(&op.token).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

pub(super) async fn me(op: Operator) -> Json<OperatorUser> {
    Json(op.user)
}

/// A new second factor: its secret (base32) and `otpauth://` URI, shown once; it counts after confirm.
pub(super) async fn begin_totp(op: Operator, state: St) -> Answer<Json<Value>> {
    let (secret, uri) = state.platform.operators.begin_totp(&op.user).await?;
    Ok(Json(json!({"secret": secret, "otpauth_uri": uri})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CodeIn {
    totp: String,
}

pub(super) async fn confirm_totp(op: Operator, state: St, body: axum::body::Bytes) -> Answer<Json<Value>> {
    let r: CodeIn = parse_json(&body)?;
    state.platform.operators.confirm_totp(&op.user, &r.totp).await?;
    Ok(Json(json!({"totp": true})))
}

pub(super) async fn list(_: Operator, state: St) -> Answer<Json<Vec<OperatorUser>>> {
    Ok(Json(state.platform.operators.list().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OperatorIn {
    username: String,
    password: String,
    roles: Vec<String>,
}

pub(super) async fn create(op: Operator, state: St, body: axum::body::Bytes) -> Answer<Json<OperatorUser>> {
    let r: OperatorIn = parse_json(&body)?;
    let roles = parse_roles(&r.roles)?;
    Ok(Json(state.platform.operators.create(op.acting(), &r.username, &r.password, roles).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RolesIn {
    roles: Vec<String>,
}

pub(super) async fn set_roles(
    op: Operator,
    state: St,
    Path(username): Path<String>,
    body: axum::body::Bytes,
) -> Answer<Json<OperatorUser>> {
    let r: RolesIn = parse_json(&body)?;
    let roles = parse_roles(&r.roles)?;
    Ok(Json(state.platform.operators.set_roles(op.acting(), &username, roles).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DisabledIn {
    disabled: bool,
}

pub(super) async fn set_disabled(
    op: Operator,
    state: St,
    Path(username): Path<String>,
    body: axum::body::Bytes,
) -> Answer<Json<OperatorUser>> {
    let r: DisabledIn = parse_json(&body)?;
    Ok(Json(state.platform.operators.set_disabled(op.acting(), &username, r.disabled).await?))
}
