//! `/v3/global/micropay/transactions/pay` (the merchant scanned a person's payment code, abroad) and its
//! reversal by `out_trade_no` or by `id`, in common or institution mode. The order is in the merchant's
//! currency; a person whose wallet holds another pays it converted at the moment of payment, as any
//! global order.

use super::WxError;
use super::auth::{authenticate, parse_body};
use super::global::{acting, check_mcc, global_transaction_json, in_mode};
use super::orders::AmountIn;
use super::signing::signed;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use platform::payments::{NewOrder, Order, TradeState, TradeType};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

type Answer = Result<Response, WxError>;

#[derive(Deserialize)]
struct AuthCodeIn {
    auth_code: String,
}

#[derive(Deserialize)]
struct GlobalMicropayIn {
    appid: Option<String>,
    mchid: Option<String>,
    sp_appid: Option<String>,
    sp_mchid: Option<String>,
    sub_mchid: Option<String>,
    description: String,
    out_trade_no: String,
    trade_type: Option<String>,
    merchant_category_code: String,
    attach: Option<String>,
    goods_tag: Option<String>,
    payer: AuthCodeIn,
    amount: AmountIn,
    scene_info: Option<Value>,
    #[allow(dead_code)]
    detail: Option<Value>,
}

/// Paid at once at or below the no-PIN threshold (200); otherwise 202 with `trade_state: USERPAYING`
/// until the person confirms with the PIN (poll the query), as the domestic codepay answers.
pub(super) async fn pay(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    let signer = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: GlobalMicropayIn = parse_body(&body)?;
    if r.trade_type.as_deref().is_some_and(|t| t != "MICROPAY") {
        return Err(WxError::param("trade_type", "body", "MICROPAY on this path"));
    }
    check_mcc(&r.merchant_category_code)?;
    let who = acting(&state, signer, r.mchid.as_deref(), r.sp_mchid.as_deref(), r.sub_mchid.as_deref(), "body").await?;
    let appid = who.appid(r.appid, r.sp_appid)?;
    let scene_info = r.scene_info.as_ref().map(Value::to_string);
    if scene_info.as_ref().is_some_and(|s| s.len() > 4096) {
        return Err(WxError::param("scene_info", "body", "at most 4 KiB"));
    }
    let new = NewOrder {
        trade_type: TradeType::Micropay,
        appid,
        description: r.description,
        out_trade_no: r.out_trade_no,
        time_expire_s: None,
        attach: r.attach,
        // The result comes in the answer (or the merchant's query): no notification.
        notify_url: String::new(),
        goods_tag: r.goods_tag,
        total_minor: r.amount.total,
        currency: r.amount.currency.unwrap_or_else(|| who.merchant.merchant.settlement_currency.code().into()),
        payer_openid: None,
        scene_info,
        sub_appid: None,
    };
    let payments = &state.platform.payments;
    let order = payments.charge_payment_code(&who.merchant, who.sp.as_deref(), new, &r.payer.auth_code).await?;
    let status = if order.trade_state == TradeState::UserPaying { StatusCode::ACCEPTED } else { StatusCode::OK };
    signed(&state, who.signer(), &headers, status, json_bytes(&order)).await
}

#[derive(Deserialize)]
struct GlobalReverseIn {
    mchid: Option<String>,
    sp_mchid: Option<String>,
    sub_mchid: Option<String>,
}

/// How the reverse path names the order.
enum Named {
    OutTradeNo(String),
    Id(String),
}

pub(super) async fn reverse_by_out_trade_no(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    reverse(&state, &method, &uri, &headers, Named::OutTradeNo(no), &body).await
}

pub(super) async fn reverse_by_id(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    reverse(&state, &method, &uri, &headers, Named::Id(id), &body).await
}

/// Unpaid, the order is revoked; paid, refunded in full (at the payment's rate) and revoked. The answer
/// is the order as it now stands (`trade_state: REVOKED`).
async fn reverse(state: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap, named: Named, body: &[u8]) -> Answer {
    let signer = authenticate(state, method, uri, headers, body).await?;
    let r: GlobalReverseIn = parse_body(body)?;
    let who = acting(state, signer, r.mchid.as_deref(), r.sp_mchid.as_deref(), r.sub_mchid.as_deref(), "body").await?;
    let payments = &state.platform.payments;
    let merchant = who.merchant.merchant.id;
    let order = match named {
        Named::OutTradeNo(no) => payments.order_by_out_trade_no(merchant, &no).await?,
        Named::Id(id) => payments.order_by_transaction_id(merchant, &id).await?,
    };
    let order = in_mode(order, &who)?;
    let reversed = payments.reverse_order(merchant, &order.out_trade_no).await?;
    signed(state, who.signer(), headers, StatusCode::OK, json_bytes(&reversed)).await
}

fn json_bytes(order: &Order) -> Vec<u8> {
    serde_json::to_vec(&global_transaction_json(order)).expect("JSON serialises")
}
