//! `/v3/pay/transactions/{jsapi,app,h5,native}`, the queries by transaction id and out_trade_no, close.

use super::WxError;
use super::auth::{authenticate, parse_body, query_mchid, same_mchid};
use super::signing::{signed, signed_json};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use platform::merchants::MerchantAuth;
use platform::payments::{NewOrder, TradeType};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub(super) struct AmountIn {
    pub total: i64,
    pub currency: Option<String>,
}

#[derive(Deserialize)]
struct PayerIn {
    openid: Option<String>,
}

#[derive(Deserialize)]
struct PrepayIn {
    appid: String,
    mchid: String,
    description: String,
    out_trade_no: String,
    time_expire: Option<String>,
    attach: Option<String>,
    notify_url: String,
    goods_tag: Option<String>,
    amount: AmountIn,
    payer: Option<PayerIn>,
    scene_info: Option<Value>,
    // Accepted and kept out of the way: fapiao, detail, limits on how to pay, profit sharing.
    #[allow(dead_code)]
    support_fapiao: Option<bool>,
    #[allow(dead_code)]
    detail: Option<Value>,
    #[allow(dead_code)]
    limit_pay: Option<Value>,
    #[allow(dead_code)]
    settle_info: Option<Value>,
}

/// What every prepay request carries, direct or partner.
pub(super) struct OrderFields {
    pub appid: String,
    pub sub_appid: Option<String>,
    pub description: String,
    pub out_trade_no: String,
    pub time_expire: Option<String>,
    pub attach: Option<String>,
    pub notify_url: String,
    pub goods_tag: Option<String>,
    pub amount: AmountIn,
    pub payer_openid: Option<String>,
    pub scene_info: Option<Value>,
}

pub(super) async fn prepay(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
    trade_type: TradeType,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: PrepayIn = parse_body(&body)?;
    same_mchid(&merchant, &r.mchid, "body")?;
    let fields = OrderFields {
        appid: r.appid,
        sub_appid: None,
        description: r.description,
        out_trade_no: r.out_trade_no,
        time_expire: r.time_expire,
        attach: r.attach,
        notify_url: r.notify_url,
        goods_tag: r.goods_tag,
        amount: r.amount,
        payer_openid: r.payer.and_then(|p| p.openid),
        scene_info: r.scene_info,
    };
    place_order(&state, &headers, &merchant, None, trade_type, fields).await
}

/// An H5 order names the payer's IP and its page type.
fn check_h5(scene_info: Option<&Value>) -> Result<(), WxError> {
    let h5 = scene_info.and_then(|s| s.get("h5_info")).and_then(|h| h.get("type")).and_then(Value::as_str);
    if scene_info.and_then(|s| s.get("payer_client_ip")).and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(WxError::param("scene_info.payer_client_ip", "body", "an H5 order names the payer's IP address"));
    }
    if !matches!(h5, Some("iOS" | "Android" | "Wap")) {
        return Err(WxError::param("scene_info.h5_info.type", "body", "iOS, Android or Wap"));
    }
    Ok(())
}

/// Place the order and answer its prepay_id, code_url or h5_url, signed for the caller.
pub(super) async fn place_order(
    state: &AppState,
    headers: &HeaderMap,
    merchant: &MerchantAuth,
    sp: Option<&MerchantAuth>,
    trade_type: TradeType,
    r: OrderFields,
) -> Result<Response, WxError> {
    let (_, out) = place_order_answer(state, merchant, sp, trade_type, r).await?;
    signed_json(state, sp.unwrap_or(merchant), headers, &out).await
}

/// Place the order; the order and what answers it (its prepay_id, code_url or h5_url).
pub(super) async fn place_order_answer(
    state: &AppState,
    merchant: &MerchantAuth,
    sp: Option<&MerchantAuth>,
    trade_type: TradeType,
    r: OrderFields,
) -> Result<(platform::payments::Order, Value), WxError> {
    let time_expire_s = match &r.time_expire {
        None => None,
        Some(t) => Some(
            wxpay::time::parse_rfc3339(t)
                .ok_or_else(|| WxError::param("time_expire", "body", "an RFC 3339 time such as 2018-06-08T10:34:56+08:00"))?,
        ),
    };
    if trade_type == TradeType::H5 {
        check_h5(r.scene_info.as_ref())?;
    }
    let scene_info = r.scene_info.as_ref().map(Value::to_string);
    if scene_info.as_ref().is_some_and(|s| s.len() > 4096) {
        return Err(WxError::param("scene_info", "body", "at most 4 KiB"));
    }
    let new = NewOrder {
        trade_type,
        appid: r.appid,
        description: r.description,
        out_trade_no: r.out_trade_no,
        time_expire_s,
        attach: r.attach,
        notify_url: r.notify_url,
        goods_tag: r.goods_tag,
        total_minor: r.amount.total,
        // Absent: the merchant's own currency (the only one it is priced in).
        currency: r.amount.currency.unwrap_or_else(|| merchant.merchant.settlement_currency.code().into()),
        payer_openid: r.payer_openid,
        scene_info,
        sub_appid: r.sub_appid,
    };
    let payments = &state.platform.payments;
    let order = payments.create_order(merchant, sp, new).await?;
    let out = match trade_type {
        TradeType::Jsapi | TradeType::App => json!({"prepay_id": payments.prepay_id(&order)}),
        TradeType::Native => json!({"code_url": payments.code_url(&order)}),
        TradeType::H5 => json!({"h5_url": payments.h5_url(&order)}),
        TradeType::Micropay => unreachable!("payment-code orders come through codepay"),
    };
    Ok((order, out))
}

pub(super) async fn query_by_transaction_id(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(transaction_id): Path<String>,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    query_mchid(&uri, &merchant)?;
    let order = state.platform.payments.order_by_transaction_id(merchant.merchant.id, &transaction_id).await?;
    signed_json(&state, &merchant, &headers, &order.transaction_json()).await
}

pub(super) async fn query_by_out_trade_no(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    query_mchid(&uri, &merchant)?;
    let order = state.platform.payments.order_by_out_trade_no(merchant.merchant.id, &out_trade_no).await?;
    signed_json(&state, &merchant, &headers, &order.transaction_json()).await
}

#[derive(Deserialize)]
struct CloseIn {
    mchid: String,
}

pub(super) async fn close(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: CloseIn = parse_body(&body)?;
    same_mchid(&merchant, &r.mchid, "body")?;
    state.platform.payments.close_order(merchant.merchant.id, &out_trade_no).await?;
    signed(&state, &merchant, &headers, StatusCode::NO_CONTENT, Vec::new()).await
}
