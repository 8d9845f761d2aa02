//! `/admin/api/merchants/...`: onboarding merchants, their API keys and app ids, static codes, covers.

use super::{Answer, Operator, St, audit_row, parse_json};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use platform::merchants::MerchantSetup;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OnboardIn {
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
    /// Licence and registration data: a JSON object, kept as given.
    licence: Option<serde_json::Value>,
}

fn direct() -> String {
    "direct".into()
}

/// Onboard a merchant. The answer carries its APIv3 key: the only time it is shown.
pub(super) async fn onboard(op: Operator, state: St, body: axum::body::Bytes) -> Answer<(StatusCode, Json<Value>)> {
    let r: OnboardIn = parse_json(&body)?;
    let setup = MerchantSetup {
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
        licence: r.licence.map(|l| l.to_string()),
    };
    let (merchant, apiv3_key, hits) = state.platform.onboard_merchant(op.acting(), setup).await?;
    let mut out = serde_json::to_value(&merchant).expect("a merchant serialises");
    out["apiv3_key"] = json!(apiv3_key);
    out["screening_hits"] = json!(hits);
    Ok((StatusCode::CREATED, Json(out)))
}

pub(super) async fn merchant(_: Operator, state: St, Path(mchid): Path<String>) -> Answer<Json<Value>> {
    let auth = state.platform.merchants.merchant(&mchid).await?;
    let mut out = serde_json::to_value(&auth.merchant).expect("a merchant serialises");
    out["key_serials"] = json!(auth.keys.iter().map(|(s, _)| s).collect::<Vec<_>>());
    out["appids"] = json!(auth.appids);
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyIn {
    /// An X.509 certificate PEM (the serial comes from it) or a public key PEM (with `serial_no`).
    pem: String,
    serial_no: Option<String>,
}

pub(super) async fn add_key(
    op: Operator,
    state: St,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Answer<(StatusCode, Json<Value>)> {
    let r: KeyIn = parse_json(&body)?;
    let (actor, audit) = (op.user.actor(), &state.platform.audit);
    let audited = |serial: &str| Some(audit.effect(&actor, "merchants.add_key", &format!("merchant:{mchid}"), serial, &op.reason));
    let serial = state.platform.merchants.register_key_audited(&mchid, &r.pem, r.serial_no.as_deref(), audited).await?;
    Ok((StatusCode::CREATED, Json(json!({"serial_no": serial}))))
}

pub(super) async fn revoke_key(op: Operator, state: St, Path((mchid, serial)): Path<(String, String)>) -> Answer<StatusCode> {
    let audit = state.platform.audit.effect(&op.user.actor(), "merchants.revoke_key", &format!("merchant:{mchid}"), &serial, &op.reason);
    state.platform.merchants.revoke_key(&mchid, &serial, Some(audit)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AppIn {
    appid: String,
    kind: String,
    name: String,
}

pub(super) async fn add_app(
    op: Operator,
    state: St,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Answer<(StatusCode, Json<Value>)> {
    let r: AppIn = parse_json(&body)?;
    let audit = audit_row(&state, &op, "merchants.add_app", &format!("merchant:{mchid}"), &r.appid);
    state.platform.merchants.register_app(&mchid, &r.appid, &r.kind, &r.name, audit).await?;
    Ok((StatusCode::CREATED, Json(json!({"appid": r.appid}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StaticCodeIn {
    appid: String,
    description: String,
    notify_url: String,
}

/// A printed QR code for the till: people scan it and enter the amount.
pub(super) async fn add_static_code(
    op: Operator,
    state: St,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Answer<(StatusCode, Json<Value>)> {
    let r: StaticCodeIn = parse_json(&body)?;
    let audit = audit_row(&state, &op, "merchants.add_static_code", &format!("merchant:{mchid}"), &r.description);
    let code_url = state.platform.payments.create_static_code(&mchid, &r.appid, &r.description, &r.notify_url, audit).await?;
    // The EMV payload once the merchant has a QR profile (its Latin name and city).
    let emv = state.platform.payments.emv_payload(&code_url).await.ok();
    Ok((StatusCode::CREATED, Json(json!({"code_url": code_url, "emv": emv}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CoverIn {
    title: String,
    image_url: String,
}

/// Publish a red-packet cover for the merchant (people choose it when they send a packet).
pub(super) async fn publish_cover(
    op: Operator,
    state: St,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Answer<(StatusCode, Json<platform::red_packets::Cover>)> {
    let r: CoverIn = parse_json(&body)?;
    let audit = audit_row(&state, &op, "merchants.publish_cover", &format!("merchant:{mchid}"), &r.title);
    let cover = state.platform.red_packets.publish_cover(&mchid, &r.title, &r.image_url, audit).await?;
    Ok((StatusCode::CREATED, Json(cover)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserIn {
    username: String,
    password: String,
    role: String,
}

/// A merchant console user (an owner, or a cashier).
pub(super) async fn add_user(
    op: Operator,
    state: St,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Answer<(StatusCode, Json<Value>)> {
    let r: UserIn = parse_json(&body)?;
    let role =
        platform::merchants::MerchantRole::parse(&r.role).ok_or_else(|| platform::PlatformError::invalid("role", "owner or cashier"))?;
    let detail = format!("{} ({})", r.username, role.as_str());
    let audit = audit_row(&state, &op, "merchants.add_user", &format!("merchant:{mchid}"), &detail);
    let user = state.platform.merchants.create_user(&mchid, &r.username, &r.password, role, audit).await?;
    Ok((StatusCode::CREATED, Json(json!(user))))
}
