//! `/v3/pay/transactions/codepay` (the merchant scanned a person's payment code) and its reversal.

use super::WxError;
use super::auth::{authenticate, parse_body, same_mchid};
use super::orders::AmountIn;
use super::signing::{signed, signed_json};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use platform::payments::{NewOrder, TradeState, TradeType};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
struct AuthCodeIn {
    auth_code: String,
}

#[derive(Deserialize)]
struct CodepayIn {
    appid: String,
    mchid: String,
    description: String,
    out_trade_no: String,
    attach: Option<String>,
    goods_tag: Option<String>,
    payer: AuthCodeIn,
    amount: AmountIn,
    scene_info: Option<Value>,
    #[allow(dead_code)]
    detail: Option<Value>,
    #[allow(dead_code)]
    support_fapiao: Option<bool>,
    #[allow(dead_code)]
    settle_info: Option<Value>,
}

/// Paid at once at or below the no-PIN threshold (200); otherwise 202 with `trade_state: USERPAYING`
/// until the person confirms with the PIN (poll the query).
pub(super) async fn codepay(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: CodepayIn = parse_body(&body)?;
    same_mchid(&merchant, &r.mchid, "body")?;
    let new = NewOrder {
        trade_type: TradeType::Micropay,
        appid: r.appid,
        description: r.description,
        out_trade_no: r.out_trade_no,
        time_expire_s: None,
        attach: r.attach,
        // The result comes in the answer (or the merchant's query): no notification.
        notify_url: String::new(),
        goods_tag: r.goods_tag,
        total_minor: r.amount.total,
        currency: r.amount.currency.unwrap_or_else(|| "CNY".into()),
        payer_openid: None,
        scene_info: r.scene_info.as_ref().map(Value::to_string),
        sub_appid: None,
    };
    let order = state.platform.payments.charge_payment_code(&merchant, None, new, &r.payer.auth_code).await?;
    let status = if order.trade_state == TradeState::UserPaying { StatusCode::ACCEPTED } else { StatusCode::OK };
    signed(&state, &merchant, &headers, status, serde_json::to_vec(&order.transaction_json()).expect("JSON serialises")).await
}

#[derive(Deserialize)]
struct ReverseIn {
    appid: String,
    mchid: String,
}

pub(super) async fn reverse(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: ReverseIn = parse_body(&body)?;
    same_mchid(&merchant, &r.mchid, "body")?;
    let order = state.platform.payments.reverse_order(merchant.merchant.id, &out_trade_no).await?;
    signed_json(&state, &merchant, &headers, &json!({"appid": r.appid, "mchid": order.mchid, "out_trade_no": order.out_trade_no})).await
}
