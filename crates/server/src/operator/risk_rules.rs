//! `/admin/api/risk/rules`: the risk engine's rule set, read and replaced whole (risk). A set that does
//! not parse, or names a window, limit or id out of bounds, is refused before anything changes.

use super::{Answer, Operator, St};
use axum::Json;
use platform::risk::Rule;
use serde_json::{Value, json};

pub(super) async fn rules(_: Operator, state: St) -> Answer<Json<Vec<Rule>>> {
    Ok(Json(state.platform.people.risk.current().await?))
}

pub(super) async fn set_rules(op: Operator, state: St, body: axum::body::Bytes) -> Answer<Json<Value>> {
    let rules = platform::risk::engine::parse_rules(&body)?;
    let engine = &state.platform.people.risk;
    let before = engine.current().await?.len();
    let detail = format!("{before} rules → {}: {}", rules.len(), rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", "));
    let audit = state.platform.audit.effect(&op.user.actor(), "risk.set_rules", "risk:rules", &detail, &op.reason);
    let count = rules.len();
    engine.set_rules(rules, &op.user.actor(), audit).await?;
    Ok(Json(json!({"rules": count})))
}
