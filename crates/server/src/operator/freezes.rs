//! `/admin/api/freezes`: freeze a person, a card or a merchant (risk), list the active freezes, and ask
//! for one to be lifted (a second risk operator approves it).

use super::{Answer, ApiError, Operator, St, parse_json};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use platform::operators::Role;
use platform::operators::approvals::ApprovalAction;
use platform::risk::{Freeze, FreezeKind};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FreezeIn {
    kind: String,
    /// A person's or card's id, or a merchant's mchid.
    id: String,
    #[serde(default)]
    inbound_allowed: bool,
}

pub(super) async fn freeze(op: Operator, state: St, body: axum::body::Bytes) -> Answer<Json<Freeze>> {
    let r: FreezeIn = parse_json(&body)?;
    let kind = FreezeKind::parse(&r.kind).ok_or_else(|| ApiError::bad_request("kind: person, card or merchant"))?;
    let subject = match kind {
        FreezeKind::Person => state.platform.people.person(platform::PersonId::parse("id", &r.id)?).await?.id.to_string(),
        FreezeKind::Card => platform::ids::parse("id", &r.id)?.to_string(),
        FreezeKind::Merchant => state.platform.merchants.merchant(&r.id).await?.merchant.mchid.clone(),
    };
    Ok(Json(state.platform.freezes.freeze(op.acting(), kind, &subject, r.inbound_allowed).await?))
}

pub(super) async fn active(_: Operator, state: St) -> Answer<Json<Vec<Freeze>>> {
    Ok(Json(state.platform.freezes.active().await?))
}

/// Lifting a freeze waits for a second risk operator.
pub(super) async fn request_lift(op: Operator, state: St, Path(id): Path<String>) -> Answer<(StatusCode, Json<Value>)> {
    let freeze = state.platform.freezes.get(platform::ids::parse("id", &id)?).await?;
    if freeze.lifted_at_ms.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, "ALREADY_RESOLVED", "this freeze is lifted already"));
    }
    let summary = format!("lift the freeze of {} {} (frozen by {}: {})", freeze.kind, freeze.subject, freeze.frozen_by, freeze.reason);
    let payload = json!({"freeze_id": freeze.id.to_string()}).to_string();
    let approvals = &state.platform.operators.approvals;
    let approval = approvals.request(op.acting(), ApprovalAction::Unfreeze, Role::Risk, payload, summary).await?;
    Ok(super::approvals::waiting(approval))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LiftIn {
    pub freeze_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CapIn {
    currency: String,
    /// Major units (`"500.00"`); `null` removes the cap.
    amount: Option<String>,
}

/// A merchant's daily cap on takings (risk): payments past it are refused with `MERCHANT_CAP_REACHED`.
pub(super) async fn set_daily_cap(op: Operator, state: St, Path(mchid): Path<String>, body: axum::body::Bytes) -> Answer<Json<Value>> {
    let r: CapIn = parse_json(&body)?;
    let currency = money::Currency::from_code(&r.currency).map_err(|_| ApiError::bad_request("currency: an ISO 4217 code"))?;
    let cap = match &r.amount {
        Some(a) => Some(money::Money::parse_positive(a, currency).map_err(|e| ApiError::bad_request(format!("amount: {e}")))?),
        None => None,
    };
    let detail = cap.map_or("removed".to_string(), |m| format!("{m} a day"));
    let audit = state.platform.audit.effect(&op.user.actor(), "merchants.set_daily_cap", &format!("merchant:{mchid}"), &detail, &op.reason);
    state.platform.merchants.set_daily_cap(&mchid, cap.map(|m| (currency, m.minor())), &op.user.actor(), audit).await?;
    Ok(Json(json!({"mchid": mchid, "currency": currency.code(), "amount": r.amount})))
}
