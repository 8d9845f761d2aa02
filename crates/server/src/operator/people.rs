//! `/admin/api/people/{id}/kyc`: an operator verifies a person (tier 2) or downgrades them.

use super::{Answer, Operator, St, parse_json};
use axum::Json;
use axum::extract::Path;
use platform::PersonId;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TierIn {
    tier: i64,
}

pub(super) async fn set_kyc_tier(
    op: Operator,
    state: St,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Answer<Json<serde_json::Value>> {
    let r: TierIn = parse_json(&body)?;
    let person = PersonId::parse("id", &id)?;
    let before = state.platform.people.person(person).await?.kyc_tier;
    let detail = format!("tier {before} → {}", r.tier);
    let audit = state.platform.audit.effect(&op.user.actor(), "people.set_kyc_tier", &format!("person:{person}"), &detail, &op.reason);
    let tier = state.platform.people.set_kyc_tier_audited(person, r.tier, audit).await?;
    Ok(Json(serde_json::json!({"kyc_tier": tier})))
}
