//! `/v3/refund/domestic/refunds`: a refund and its query (a service provider's for its sub-merchants).

use super::WxError;
use super::auth::{authenticate, parse_body, query_param, sub_merchant};
use super::signing::signed_json;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use platform::PlatformError;
use platform::payments::NewRefund;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
struct RefundAmountIn {
    refund: i64,
    total: i64,
    currency: String,
}

#[derive(Deserialize)]
struct RefundIn {
    transaction_id: Option<String>,
    out_trade_no: Option<String>,
    out_refund_no: String,
    reason: Option<String>,
    notify_url: Option<String>,
    funds_account: Option<String>,
    amount: RefundAmountIn,
    /// Partner refunds: the sub-merchant whose order it is.
    sub_mchid: Option<String>,
    #[allow(dead_code)]
    goods_detail: Option<Value>,
}

pub(super) async fn refund(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: RefundIn = parse_body(&body)?;
    if r.funds_account.as_deref().is_some_and(|f| f != "AVAILABLE") {
        return Err(WxError::param("funds_account", "body", "AVAILABLE or absent"));
    }
    // A service provider refunds its sub-merchant's orders; a merchant its own.
    let (owner, sp) = match &r.sub_mchid {
        Some(sub) => (sub_merchant(&state, &merchant, sub, "body").await?.merchant.id, Some(merchant.merchant.id)),
        None => (merchant.merchant.id, None),
    };
    let new = NewRefund {
        sp_merchant_id: sp,
        transaction_id: r.transaction_id,
        out_trade_no: r.out_trade_no,
        out_refund_no: r.out_refund_no,
        reason: r.reason,
        notify_url: r.notify_url,
        refund_minor: r.amount.refund,
        total_minor: r.amount.total,
        currency: r.amount.currency,
    };
    let refund = state.platform.payments.refund_order(owner, new).await?;
    signed_json(&state, &merchant, &headers, &refund.refund_json()).await
}

pub(super) async fn query_refund(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(out_refund_no): Path<String>,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let (owner, sp) = match query_param(&uri, "sub_mchid") {
        Some(sub) => (sub_merchant(&state, &merchant, sub, "query").await?.merchant.id, Some(merchant.merchant.id)),
        None => (merchant.merchant.id, None),
    };
    let refund = state.platform.payments.refund_by_out_refund_no(owner, &out_refund_no).await?;
    if refund.order.sp_merchant_id != sp {
        return Err(PlatformError::NotFound("refund").into());
    }
    signed_json(&state, &merchant, &headers, &refund.refund_json()).await
}
