//! `/admin/api/notifications`: the outbox, every delivery attempt, and replays.

use super::{Answer, Operator, Params, St, audit_asked};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotificationParams {
    mchid: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn notifications(
    _: Operator,
    state: St,
    Params(q): Params<NotificationParams>,
) -> Answer<Json<Vec<platform::outbox::Notification>>> {
    Ok(Json(state.platform.outbox.list(q.mchid.as_deref(), q.limit.unwrap_or(50)).await?))
}

/// A notification and every delivery attempt.
pub(super) async fn notification(_: Operator, state: St, Path(id): Path<String>) -> Answer<Json<Value>> {
    let (n, attempts) = state.platform.outbox.get(&id).await?;
    let mut out = serde_json::to_value(&n).expect("a notification serialises");
    out["delivery_attempts"] = serde_json::to_value(&attempts).expect("attempts serialise");
    Ok(Json(out))
}

pub(super) async fn replay(op: Operator, state: St, Path(id): Path<String>) -> Answer<StatusCode> {
    audit_asked(&state, &op, "notifications.replay", &format!("notification:{id}"), "").await?;
    state.platform.outbox.replay(&id).await?;
    Ok(StatusCode::ACCEPTED)
}
