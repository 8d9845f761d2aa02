//! The merchant API, `/v3/...`: wire-compatible with WeChat Pay API v3 (see
//! `shared/reference/wechatpay-v3.md`), so a merchant's unmodified SDK works against Qianbao.
//!
//! Every request is authenticated before its body is parsed (`auth`): the `WECHATPAY2-SHA256-RSA2048`
//! Authorization header is checked against the raw request target and the raw body bytes with the
//! merchant's registered key, its timestamp must be within five minutes of this server's clock, and its
//! nonce must not have been used in that window (on any instance, across restarts). Every 2xx response
//! (204 too) is signed with a platform key and carries the five `Wechatpay-*` headers (`signing`); every
//! response carries a `Request-ID`. Errors are `{code, message, detail}` with WeChat's codes and
//! statuses, mapped from the platform's in one place ([`WxError`]). One file per resource.

mod auth;
mod bills;
mod campaigns;
mod certificates;
mod codepay;
mod emv_codes;
mod exchange_rates;
mod gift_items;
pub mod global;
mod global_merchants;
mod global_micropay;
mod global_settlements;
mod global_statements;
mod official_accounts;
mod orders;
mod partner;
mod refunds;
mod signing;

pub use auth::RateLimiter;
pub use signing::{new_request_id, signature_headers};

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::payments::TradeType;
use platform::{Conflict, PlatformError};
use serde_json::{Value, json};
use std::sync::Arc;

/// The largest merchant request body.
pub const MERCHANT_BODY_BYTES_MAX: usize = 64 * 1024;

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/v3/pay/transactions/jsapi", post(|s, m, u, h, b| orders::prepay(s, m, u, h, b, TradeType::Jsapi)))
        .route("/v3/pay/transactions/app", post(|s, m, u, h, b| orders::prepay(s, m, u, h, b, TradeType::App)))
        .route("/v3/pay/transactions/h5", post(|s, m, u, h, b| orders::prepay(s, m, u, h, b, TradeType::H5)))
        .route("/v3/pay/transactions/native", post(|s, m, u, h, b| orders::prepay(s, m, u, h, b, TradeType::Native)))
        .route("/v3/pay/transactions/id/{transaction_id}", get(orders::query_by_transaction_id))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}", get(orders::query_by_out_trade_no))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", post(orders::close))
        .route("/v3/pay/transactions/codepay", post(codepay::codepay))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}/reverse", post(codepay::reverse))
        .route("/v3/refund/domestic/refunds", post(refunds::refund))
        .route("/v3/refund/domestic/refunds/{out_refund_no}", get(refunds::query_refund))
        .route("/v3/certificates", get(certificates::certificates))
        .route("/v3/qianbao/emv-codes", post(emv_codes::emv_code))
        .route("/v3/qianbao/campaigns", post(campaigns::create))
        .route("/v3/qianbao/campaigns/{id}", get(campaigns::campaign))
        .route("/v3/qianbao/campaigns/{id}/donations", get(campaigns::donations))
        .route("/v3/qianbao/donations/{id}/refund", post(campaigns::refund))
        .route("/v3/qianbao/campaigns/{id}/gift-items", post(gift_items::publish).get(gift_items::list))
        .route("/v3/qianbao/gift-items/{id}/withdraw", post(gift_items::withdraw))
        .route("/v3/qianbao/official-accounts/{appid}/messages", post(official_accounts::publish))
        .route("/v3/pay/partner/transactions/jsapi", post(|s, m, u, h, b| partner::prepay(s, m, u, h, b, TradeType::Jsapi)))
        .route("/v3/pay/partner/transactions/app", post(|s, m, u, h, b| partner::prepay(s, m, u, h, b, TradeType::App)))
        .route("/v3/pay/partner/transactions/h5", post(|s, m, u, h, b| partner::prepay(s, m, u, h, b, TradeType::H5)))
        .route("/v3/pay/partner/transactions/native", post(|s, m, u, h, b| partner::prepay(s, m, u, h, b, TradeType::Native)))
        .route("/v3/pay/partner/transactions/id/{transaction_id}", get(partner::query_by_transaction_id))
        .route("/v3/pay/partner/transactions/out-trade-no/{out_trade_no}", get(partner::query_by_out_trade_no))
        .route("/v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close", post(partner::close))
        .route("/v3/bill/tradebill", get(bills::trade_bill))
        .route("/v3/bill/fundflowbill", get(bills::fund_flow_bill))
        .route("/v3/billdownload/file", get(bills::download_bill))
        .route("/v3/global/transactions/native", post(|s, m, u, h, b| global::prepay(s, m, u, h, b, "native")))
        .route("/v3/global/transactions/jsapi", post(|s, m, u, h, b| global::prepay(s, m, u, h, b, "jsapi")))
        .route("/v3/global/transactions/app", post(|s, m, u, h, b| global::prepay(s, m, u, h, b, "app")))
        .route("/v3/global/transactions/mweb", post(|s, m, u, h, b| global::prepay(s, m, u, h, b, "mweb")))
        .route("/v3/global/transactions/id/{id}", get(global::query_by_id))
        .route("/v3/global/transactions/out-trade-no/{out_trade_no}", get(global::query_by_out_trade_no))
        .route("/v3/global/transactions/out-trade-no/{out_trade_no}/close", post(global::close))
        .route("/v3/global/refunds", post(global::refund))
        .route("/v3/global/refunds/out-refund-no/{out_refund_no}", get(global::query_refund))
        .route("/v3/global/micropay/transactions/pay", post(global_micropay::pay))
        .route("/v3/global/micropay/transactions/out-trade-no/{out_trade_no}/reverse", post(global_micropay::reverse_by_out_trade_no))
        .route("/v3/global/micropay/transactions/id/{id}/reverse", post(global_micropay::reverse_by_id))
        .route("/v3/global/certificates", get(certificates::certificates))
        .route("/v3/global/merchants", post(global_merchants::onboard))
        .route("/v3/global/exchange-rates", get(exchange_rates::v3_rate))
        .route("/pay/queryexchagerate", post(exchange_rates::v2_rate))
        .route("/v3/global/statements", get(global_statements::statement))
        .route("/v3/global/settle/settlements", get(global_settlements::settlements))
        .route_layer(axum::middleware::from_fn(body_limit))
        .route_layer(axum::middleware::from_fn_with_state(state, count_answers))
}

/// Count every merchant API answer by code (`OK` for 2xx), for `/metrics`.
pub async fn count_answers(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let code = match response.status().as_u16() {
        200..=299 => "OK",
        401 => "SIGN_ERROR",
        404 => "NOT_FOUND",
        429 => "RATELIMIT_EXCEEDED",
        400 => "BAD_REQUEST",
        403 => "FORBIDDEN",
        503 => "UNAVAILABLE",
        _ => "SYSTEM_ERROR",
    };
    state.metrics.merchant_answer(code);
    response
}

/// Merchant requests are small: a larger body is refused before it is read further.
async fn body_limit(request: Request, next: Next) -> Response {
    let length =
        request.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|n| n > MERCHANT_BODY_BYTES_MAX) {
        return WxError::param("", "body", format!("the body is larger than {MERCHANT_BODY_BYTES_MAX} bytes")).into_response();
    }
    next.run(request).await
}

/// A `Request-ID` on every response (WeChat's; merchants quote it when they report a problem).
pub async fn request_id(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert("request-id", HeaderValue::from_str(&new_request_id()).expect("hex"));
    response
}

/// A merchant API error in WeChat's format.
#[derive(Debug)]
pub struct WxError {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<Value>,
}

impl WxError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> WxError {
        WxError { status, code, message: message.into(), detail: None }
    }

    fn sign(issue: impl Into<String>) -> WxError {
        let issue = issue.into();
        WxError {
            status: StatusCode::UNAUTHORIZED,
            code: "SIGN_ERROR",
            message: format!("签名错误，请检查后再试 (signature error: {issue})"),
            detail: Some(json!({"field": "signature", "location": "authorization", "detail": {"issue": issue}})),
        }
    }

    /// `field` as a JSON pointer for the body (`amount.total` → `/amount/total`), or a query/path name.
    fn param(field: &str, location: &str, issue: impl Into<String>) -> WxError {
        let issue = issue.into();
        let field = if location == "body" { format!("/{}", field.trim_start_matches('.').replace('.', "/")) } else { field.to_string() };
        WxError {
            status: StatusCode::BAD_REQUEST,
            code: "PARAM_ERROR",
            message: format!("参数错误: {field} {issue}"),
            detail: Some(json!({"field": field, "location": location, "issue": issue})),
        }
    }
}

impl IntoResponse for WxError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(detail) = self.detail {
            body["detail"] = detail;
        }
        (self.status, Json(body)).into_response()
    }
}

/// The one mapping of platform errors to WeChat's codes and statuses.
impl From<PlatformError> for WxError {
    fn from(e: PlatformError) -> WxError {
        let message = e.to_string();
        match e {
            PlatformError::Invalid { field, message } => WxError::param(field, "body", message),
            PlatformError::NotFound("order") => WxError::new(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在 (no such order)"),
            PlatformError::NotFound(what) => WxError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", format!("no such {what}")),
            PlatformError::Conflict { code, .. } => {
                let (status, code) = match code {
                    Conflict::OutTradeNoUsed => (StatusCode::FORBIDDEN, "OUT_TRADE_NO_USED"),
                    Conflict::AppidMchidNotMatch => (StatusCode::BAD_REQUEST, "APPID_MCHID_NOT_MATCH"),
                    Conflict::OrderPaid => (StatusCode::BAD_REQUEST, "ORDER_PAID"),
                    Conflict::OrderClosed => (StatusCode::BAD_REQUEST, "ORDER_CLOSED"),
                    Conflict::NotEnough => (StatusCode::FORBIDDEN, "NOT_ENOUGH"),
                    Conflict::MerchantFrozen => (StatusCode::FORBIDDEN, "NO_AUTH"),
                    Conflict::MerchantCapReached => (StatusCode::FORBIDDEN, "RULE_LIMIT"),
                    Conflict::AccountFrozen | Conflict::CardFrozen => (StatusCode::FORBIDDEN, "ACCOUNT_ERROR"),
                    Conflict::RegionRule | Conflict::LimitCrossBorderDaily | Conflict::LimitCrossBorderYearly | Conflict::RiskDeclined => {
                        (StatusCode::FORBIDDEN, "RULE_LIMIT")
                    }
                    _ => (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                };
                WxError::new(status, code, message)
            }
            PlatformError::Forbidden(_) => WxError::new(StatusCode::FORBIDDEN, "NO_AUTH", message),
            PlatformError::InsufficientBalance => WxError::new(StatusCode::FORBIDDEN, "NOT_ENOUGH", message),
            PlatformError::Unavailable => WxError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SYSTEM_ERROR",
                "系统繁忙 (the service is unavailable: retry with the same parameters)",
            ),
            PlatformError::Internal(detail) => {
                tracing::error!(%detail, "merchant API internal error");
                WxError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "系统错误 (internal error; retry with the same parameters)")
            }
            _ => WxError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_fields_become_json_pointers() {
        let e = WxError::param("amount.total", "body", "must be positive");
        assert_eq!(e.detail.unwrap()["field"], "/amount/total");
        let e = WxError::param("mchid", "query", "is required");
        assert_eq!(e.detail.unwrap()["field"], "mchid");
    }
}
