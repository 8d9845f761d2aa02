//! `/admin/api/screening`: import a sanctions list (OFAC SDN CSV, UN consolidated XML) and review the
//! possible matches screening found (risk).

use super::{Answer, ApiError, Operator, Params, St, parse_json};
use axum::Json;
use axum::extract::Path;
use platform::risk::sanctions::{Hit, HitState, ListKind};
use serde::Deserialize;
use serde_json::{Value, json};

/// The list as its publisher serves it (CSV or XML) is the body.
pub(super) async fn import(op: Operator, state: St, Path(list): Path<String>, body: axum::body::Bytes) -> Answer<Json<Value>> {
    let kind = ListKind::parse(&list).ok_or_else(|| ApiError::bad_request("list: ofac_sdn or un"))?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the list is not UTF-8"))?;
    let (names, hits) = state.platform.import_sanctions_list(op.acting(), kind, text).await?;
    Ok(Json(json!({"list": kind, "names": names, "new_hits": hits})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HitsParams {
    state: Option<String>,
}

/// The hits name the people screened (their legal names): reading them is audited.
pub(super) async fn hits(op: Operator, state: St, Params(q): Params<HitsParams>) -> Answer<Json<Vec<Hit>>> {
    let wanted = match q.state.as_deref() {
        None => None,
        Some(s) => Some(HitState::parse(s).ok_or_else(|| ApiError::bad_request("state: pending, cleared or confirmed"))?),
    };
    let hits = state.platform.sanctions.hits(wanted).await?;
    let detail = format!("{} possible matches listed", hits.len());
    state.platform.audit.record(&op.user.actor(), "people.read", "screening:hits", &detail, "operator API").await?;
    Ok(Json(hits))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionIn {
    state: String,
}

/// `{"state": "cleared" | "confirmed"}`. Clearing does not unfreeze: a lift of the freeze is asked for
/// and approved apart (four eyes).
pub(super) async fn decide(op: Operator, state: St, Path(id): Path<String>, body: axum::body::Bytes) -> Answer<Json<Hit>> {
    let r: DecisionIn = parse_json(&body)?;
    let decision = HitState::parse(&r.state).ok_or_else(|| ApiError::bad_request("state: cleared or confirmed"))?;
    Ok(Json(state.platform.sanctions.decide(op.acting(), platform::ids::parse("id", &id)?, decision).await?))
}
