//! `/admin/api/sandbox/clock`: move the manual clock (sandbox and tests), then resolve what fell due.

use super::{Answer, ApiError, Operator, St, audit_asked, parse_json};
use axum::Json;
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClockIn {
    advance_s: u64,
}

/// The most one call may move the clock.
const ADVANCE_S_MAX: u64 = 10 * 365 * 86_400;

pub(super) async fn advance_clock(op: Operator, state: St, body: axum::body::Bytes) -> Answer<Json<serde_json::Value>> {
    let clock = state
        .manual_clock
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "the server runs on the system clock"))?;
    let r: ClockIn = parse_json(&body)?;
    if r.advance_s > ADVANCE_S_MAX {
        return Err(ApiError::bad_request("advance_s: at most ten years"));
    }
    audit_asked(&state, &op, "sandbox.clock_advance", "clock", &format!("{} s", r.advance_s)).await?;
    clock.advance_s(r.advance_s);
    let report = state.platform.run_deadlines().await?;
    Ok(Json(serde_json::json!({"now_ms": state.platform.now_ms(), "deadlines": report})))
}
