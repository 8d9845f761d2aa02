//! `/admin/api/merchants/{mchid}/refunds`: an operator refunds a merchant's paid order to its payer
//! (finance), in the merchant's name, with a reason. A refund of [`LARGE_REFUND_MAJOR`] or more of the
//! order's currency waits for a second finance operator (four eyes); a smaller one runs at once. Either
//! way the refund, its notification and the audit row commit together.
//!
//! [`LARGE_REFUND_MAJOR`]: platform::payments::refunds::LARGE_REFUND_MAJOR

use super::{Answer, ApiError, Operator, St, parse_json};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use platform::operators::Role;
use platform::operators::approvals::ApprovalAction;
use platform::payments::refunds::large_refund;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefundIn {
    transaction_id: String,
    /// Major units of the order's currency (`"12.34"`).
    amount: String,
    /// Idempotency: the same number is the same refund (made up when absent).
    out_refund_no: Option<String>,
}

/// What an approved refund does (the approval's payload).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ManualRefund {
    pub mchid: String,
    pub transaction_id: String,
    pub amount_minor: i64,
    pub out_refund_no: String,
}

pub(super) async fn refund(
    op: Operator,
    state: St,
    Path(mchid): Path<String>,
    body: axum::body::Bytes,
) -> Answer<(StatusCode, Json<Value>)> {
    let r: RefundIn = parse_json(&body)?;
    let merchant = state.platform.merchants.merchant(&mchid).await?.merchant.id;
    let order = state.platform.payments.order_by_transaction_id(merchant, &r.transaction_id).await?;
    let amount = money::Money::parse_positive(&r.amount, order.currency).map_err(|e| ApiError::bad_request(format!("amount: {e}")))?;
    let out_refund_no = r.out_refund_no.unwrap_or_else(|| format!("OPS{}", platform::ids::object_id(state.platform.now_ms())));
    let refund = ManualRefund { mchid, transaction_id: r.transaction_id, amount_minor: amount.minor(), out_refund_no };
    let summary = format!("refund {amount} of transaction {} (merchant {}) to its payer", refund.transaction_id, refund.mchid);
    if large_refund(amount.minor(), order.currency) {
        let payload = serde_json::to_string(&refund).map_err(|e| ApiError::from(platform::PlatformError::Internal(e.to_string())))?;
        let approvals = &state.platform.operators.approvals;
        let approval = approvals.request(op.acting(), ApprovalAction::ManualRefund, Role::Finance, payload, summary).await?;
        return Ok(super::approvals::waiting(approval));
    }
    let audit = state.platform.audit.effect(
        &op.user.actor(),
        "payments.manual_refund",
        &format!("merchant:{}", refund.mchid),
        &summary,
        &op.reason,
    );
    let conditions = store::Conditions { guards: Vec::new(), effects: vec![audit] };
    Ok((StatusCode::OK, Json(run(&state, &refund, &op.reason, conditions).await?)))
}

/// Make the refund, committed with `conditions`: the refund as the merchant API shows it.
pub(super) async fn run(state: &crate::AppState, r: &ManualRefund, reason: &str, conditions: store::Conditions) -> Answer<Value> {
    let merchant = state.platform.merchants.merchant(&r.mchid).await?.merchant.id;
    let payments = &state.platform.payments;
    let refund = payments.refund_by_operator(merchant, &r.transaction_id, r.amount_minor, &r.out_refund_no, reason, conditions).await?;
    Ok(refund.refund_json())
}
