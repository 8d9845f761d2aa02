//! `/admin/api/charities`: an operator registers a merchant as a charity (its registration number and
//! jurisdiction: the verified badge people see), sets its fee on donations (none by default), and
//! suspends or reinstates it; finance records a card gift's chargeback (the issuer took the money
//! back: the gift and its match are reversed). Each change commits with its audit row.

use super::{Answer, ApiError, Operator, St, audit_row, parse_json};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use platform::charity::{Charity, CharityState};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CharityIn {
    mchid: String,
    charity_number: String,
    /// ISO 3166-1 alpha-2 of the registry ("HK").
    jurisdiction: String,
    fee_bps: Option<i64>,
}

pub(super) async fn register(op: Operator, state: St, body: axum::body::Bytes) -> Answer<(StatusCode, Json<Charity>)> {
    let r: CharityIn = parse_json(&body)?;
    let detail = format!("{} {}", r.jurisdiction, r.charity_number);
    let audit = audit_row(&state, &op, "charities.register", &format!("merchant:{}", r.mchid), &detail);
    let charity = state.platform.charity.register(&r.mchid, &r.charity_number, &r.jurisdiction, r.fee_bps, audit).await?;
    Ok((StatusCode::CREATED, Json(charity)))
}

pub(super) async fn charity(_: Operator, state: St, Path(mchid): Path<String>) -> Answer<Json<Charity>> {
    Ok(Json(state.platform.charity.charity(&mchid).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StateIn {
    state: String,
}

pub(super) async fn set_state(op: Operator, state: St, Path(mchid): Path<String>, body: axum::body::Bytes) -> Answer<Json<Charity>> {
    let r: StateIn = parse_json(&body)?;
    let to = CharityState::parse(&r.state).ok_or_else(|| ApiError::bad_request("state: active or suspended"))?;
    let audit = audit_row(&state, &op, "charities.set_state", &format!("merchant:{mchid}"), to.as_str());
    Ok(Json(state.platform.charity.set_state(&mchid, to, audit).await?))
}

/// A campaign's totals beside the ledger's balances (the match's escrow, the charity's receivable).
pub(super) async fn reconciliation(_: Operator, state: St, Path(id): Path<String>) -> Answer<Json<platform::charity::Reconciliation>> {
    Ok(Json(state.platform.charity.reconcile(platform::ids::parse("id", &id)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChargebackIn {
    /// The issuer's dispute reference and reason, for the audit trail.
    reason: String,
}

/// A card gift charged back by its issuer: reversed with its match, once.
pub(super) async fn charge_back(
    op: Operator,
    state: St,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Answer<Json<platform::charity::DonationView>> {
    let r: ChargebackIn = parse_json(&body)?;
    if r.reason.trim().is_empty() || r.reason.chars().count() > 200 {
        return Err(ApiError::bad_request("reason: the issuer's dispute reference, 1 to 200 characters"));
    }
    let audit = audit_row(&state, &op, "donations.charge_back", &format!("donation:{id}"), r.reason.trim());
    Ok(Json(state.platform.charity.charge_back(platform::ids::parse("id", &id)?, audit).await?))
}
