//! `/v3/pay/partner/...`: a service provider places, queries and closes its sub-merchants' orders.

use super::WxError;
use super::auth::{authenticate, parse_body, query_param, sub_merchant};
use super::orders::{AmountIn, OrderFields, place_order};
use super::signing::{signed, signed_json};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use platform::PlatformError;
use platform::merchants::MerchantAuth;
use platform::payments::{Order, TradeType};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
struct PartnerPayerIn {
    sp_openid: Option<String>,
    sub_openid: Option<String>,
}

#[derive(Deserialize)]
struct PartnerPrepayIn {
    sp_appid: String,
    sp_mchid: String,
    sub_appid: Option<String>,
    sub_mchid: String,
    description: String,
    out_trade_no: String,
    time_expire: Option<String>,
    attach: Option<String>,
    notify_url: String,
    goods_tag: Option<String>,
    amount: AmountIn,
    payer: Option<PartnerPayerIn>,
    scene_info: Option<Value>,
    #[allow(dead_code)]
    detail: Option<Value>,
    #[allow(dead_code)]
    settle_info: Option<Value>,
    #[allow(dead_code)]
    support_fapiao: Option<bool>,
}

/// The provider signs, the sub-merchant is paid.
pub(super) async fn prepay(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
    trade_type: TradeType,
) -> Result<Response, WxError> {
    let sp = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: PartnerPrepayIn = parse_body(&body)?;
    if r.sp_mchid != sp.merchant.mchid {
        return Err(WxError::param("sp_mchid", "body", "does not match the mchid of the Authorization header"));
    }
    let sub = sub_merchant(&state, &sp, &r.sub_mchid, "body").await?;
    let payer_openid = r.payer.and_then(|p| p.sub_openid.or(p.sp_openid));
    if trade_type == TradeType::Jsapi && payer_openid.is_none() {
        return Err(WxError::param("payer.sp_openid", "body", "a JSAPI order names its payer (sp_openid or sub_openid)"));
    }
    let fields = OrderFields {
        appid: r.sp_appid,
        sub_appid: r.sub_appid,
        description: r.description,
        out_trade_no: r.out_trade_no,
        time_expire: r.time_expire,
        attach: r.attach,
        notify_url: r.notify_url,
        goods_tag: r.goods_tag,
        amount: r.amount,
        payer_openid,
        scene_info: r.scene_info,
    };
    place_order(&state, &headers, &sub, Some(&sp), trade_type, fields).await
}

/// `sp_mchid` and `sub_mchid` query parameters of a partner query: the caller and one of its own.
async fn query_scope(state: &AppState, uri: &Uri, sp: &MerchantAuth) -> Result<Arc<MerchantAuth>, WxError> {
    let sp_mchid = query_param(uri, "sp_mchid").ok_or_else(|| WxError::param("sp_mchid", "query", "is required"))?;
    if sp_mchid != sp.merchant.mchid {
        return Err(WxError::param("sp_mchid", "query", "does not match the mchid of the Authorization header"));
    }
    let sub_mchid = query_param(uri, "sub_mchid").ok_or_else(|| WxError::param("sub_mchid", "query", "is required"))?;
    sub_merchant(state, sp, sub_mchid, "query").await
}

/// Only the provider that placed a partner order sees it.
fn placed_by(order: Order, sp: &MerchantAuth) -> Result<Order, WxError> {
    if order.sp_merchant_id != Some(sp.merchant.id) {
        return Err(PlatformError::NotFound("order").into());
    }
    Ok(order)
}

pub(super) async fn query_by_transaction_id(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(transaction_id): Path<String>,
) -> Result<Response, WxError> {
    let sp = authenticate(&state, &method, &uri, &headers, b"").await?;
    let sub = query_scope(&state, &uri, &sp).await?;
    let order = placed_by(state.platform.payments.order_by_transaction_id(sub.merchant.id, &transaction_id).await?, &sp)?;
    signed_json(&state, &sp, &headers, &order.transaction_json()).await
}

pub(super) async fn query_by_out_trade_no(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
) -> Result<Response, WxError> {
    let sp = authenticate(&state, &method, &uri, &headers, b"").await?;
    let sub = query_scope(&state, &uri, &sp).await?;
    let order = placed_by(state.platform.payments.order_by_out_trade_no(sub.merchant.id, &out_trade_no).await?, &sp)?;
    signed_json(&state, &sp, &headers, &order.transaction_json()).await
}

#[derive(Deserialize)]
struct PartnerCloseIn {
    sp_mchid: String,
    sub_mchid: String,
}

pub(super) async fn close(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let sp = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: PartnerCloseIn = parse_body(&body)?;
    if r.sp_mchid != sp.merchant.mchid {
        return Err(WxError::param("sp_mchid", "body", "does not match the mchid of the Authorization header"));
    }
    let sub = sub_merchant(&state, &sp, &r.sub_mchid, "body").await?;
    placed_by(state.platform.payments.order_by_out_trade_no(sub.merchant.id, &out_trade_no).await?, &sp)?;
    state.platform.payments.close_order(sub.merchant.id, &out_trade_no).await?;
    signed(&state, &sp, &headers, StatusCode::NO_CONTENT, Vec::new()).await
}
