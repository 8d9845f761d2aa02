//! `/admin/api/approvals`: four eyes. A dangerous change (a ledger correction, a markup, lifting a
//! freeze, a large manual refund) waits here
//! until a second operator approves it (it then runs, in one transaction with the decision and its audit
//! row) or rejects it.

use super::ledger::{EventResult, TransferIn};
use super::{Answer, ApiError, Operator, Params, St, parse_json};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use platform::operators::approvals::{Approval, ApprovalAction, ApprovalState, decided};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    state: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn list(_: Operator, state: St, Params(q): Params<ListParams>) -> Answer<Json<Vec<Approval>>> {
    let wanted = match q.state.as_deref() {
        None => None,
        Some(s) => Some(ApprovalState::parse(s).ok_or_else(|| ApiError::bad_request("state: pending, approved, rejected or expired"))?),
    };
    Ok(Json(state.platform.operators.approvals.list(wanted, q.limit.unwrap_or(50)).await?))
}

pub(super) async fn approval(_: Operator, state: St, Path(id): Path<String>) -> Answer<Json<Approval>> {
    Ok(Json(state.platform.operators.approvals.get(platform::ids::parse("id", &id)?).await?))
}

/// Approve: the action runs now, with the decision, or not at all.
pub(super) async fn approve(op: Operator, state: St, Path(id): Path<String>) -> Answer<Json<Value>> {
    let id = platform::ids::parse("id", &id)?;
    Ok(Json(approve_and_run(&state, op.acting(), id).await?))
}

/// Approve a request and run its action in the same transaction (the API's and the console's way):
/// the approval as it now is and what the action answered.
pub(crate) async fn approve_and_run(state: &crate::AppState, acting: platform::operators::Acting<'_>, id: i64) -> Answer<Value> {
    let approvals = &state.platform.operators.approvals;
    let acting_actor = acting.by.actor();
    let (approval, conditions) = approvals.decide(acting, id).await?;
    let result = match approval.action {
        ApprovalAction::LedgerCorrection => {
            let transfers: Vec<TransferIn> = parse_json(approval.payload.as_bytes())?;
            let batch = transfers.into_iter().map(TransferIn::into_ledger).collect();
            let results = state.platform.ledger.correct(batch, conditions).await?.ok_or_else(decided)?;
            let events: Vec<EventResult> = results.iter().cloned().enumerate().map(EventResult::from_transfer).collect();
            if results.iter().any(|r| r.is_err()) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "ACTION_FAILED",
                    format!(
                        "the correction did not apply, nothing moved, the request is still pending (reject it or let it expire): {}",
                        failures(&events)
                    ),
                ));
            }
            json!(events)
        }
        ApprovalAction::MarkupChange => {
            let m: super::fx::MarkupIn = parse_json(approval.payload.as_bytes())?;
            let before = state.platform.fx.set_markup(m.base.as_deref(), m.quote.as_deref(), &m.channel, m.markup_bps, conditions).await?;
            let before = before.ok_or_else(decided)?;
            json!({"markup_bps_before": before, "markup_bps": m.markup_bps})
        }
        ApprovalAction::Unfreeze => {
            let lift: super::freezes::LiftIn = parse_json(approval.payload.as_bytes())?;
            let freeze = platform::ids::parse("freeze_id", &lift.freeze_id)?;
            let lifted = state.platform.freezes.lift(freeze, &acting_actor, conditions).await?.ok_or_else(decided)?;
            json!(lifted)
        }
        ApprovalAction::ManualRefund => {
            let refund: super::refunds::ManualRefund = parse_json(approval.payload.as_bytes())?;
            super::refunds::run(state, &refund, &approval.reason, conditions).await?
        }
    };
    approvals.record_result(id, result.to_string()).await?;
    Ok(json!({"approval": approvals.get(id).await?, "result": result}))
}

fn failures(events: &[EventResult]) -> String {
    let failed: Vec<String> = events
        .iter()
        .filter(|e| e.result != "created" && e.result != "exists")
        .take(10)
        .map(|e| format!("event {}: {}", e.index, e.result))
        .collect();
    failed.join(", ")
}

pub(super) async fn reject(op: Operator, state: St, Path(id): Path<String>) -> Answer<Json<Approval>> {
    let id = platform::ids::parse("id", &id)?;
    Ok(Json(state.platform.operators.approvals.reject(op.acting(), id).await?))
}

/// The answer to a request that now waits for a second operator.
pub(super) fn waiting(approval: Approval) -> (StatusCode, Json<Value>) {
    let message = "a second operator must approve this: POST /admin/api/approvals/{id}/approve";
    (StatusCode::ACCEPTED, Json(json!({"approval": approval, "message": message})))
}
