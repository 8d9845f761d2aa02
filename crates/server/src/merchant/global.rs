//! WeChat Pay's global API, `/v3/global/...`, for merchants outside the mainland and the institutions
//! that acquire them, on the same wire rules as the domestic one (signatures, notifications, errors):
//! orders (`native`, `jsapi`, `app`, `mweb`) with `trade_type` and `merchant_category_code` required,
//! queries answering `id`, `payer_total`, `payer_currency` and `amount.exchange_rate`, close, refunds
//! with `payer_refund`, and the platform certificates. Two modes: common (`mchid`, `appid`) and
//! institution (`sp_mchid`, `sp_appid`, `sub_mchid`: an institution acts for its own sub-merchants only).

use super::WxError;
use super::auth::{authenticate, parse_body, query_param, same_mchid, sub_merchant};
use super::orders::{AmountIn, OrderFields, place_order_answer};
use super::signing::{signed, signed_json};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use platform::PlatformError;
use platform::merchants::MerchantAuth;
use platform::payments::{NewRefund, Order, Refund, TradeType};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type Answer = Result<Response, WxError>;

#[derive(Deserialize)]
struct GlobalPayerIn {
    openid: Option<String>,
    sp_openid: Option<String>,
    sub_openid: Option<String>,
}

#[derive(Deserialize)]
struct GlobalPrepayIn {
    appid: Option<String>,
    mchid: Option<String>,
    sp_appid: Option<String>,
    sp_mchid: Option<String>,
    sub_appid: Option<String>,
    sub_mchid: Option<String>,
    description: String,
    out_trade_no: String,
    trade_type: String,
    merchant_category_code: String,
    time_expire: Option<String>,
    #[allow(dead_code)]
    time_start: Option<String>,
    attach: Option<String>,
    notify_url: String,
    goods_tag: Option<String>,
    amount: AmountIn,
    payer: Option<GlobalPayerIn>,
    scene_info: Option<Value>,
    #[allow(dead_code)]
    detail: Option<Value>,
    #[allow(dead_code)]
    limit_pay: Option<String>,
}

/// Who a global request acts for: the signer itself (common mode) or, in institution mode, one of the
/// signer's sub-merchants (`sp` is then the institution).
pub(super) struct Acting {
    pub(super) merchant: Arc<MerchantAuth>,
    pub(super) sp: Option<Arc<MerchantAuth>>,
}

impl Acting {
    /// The app id of the mode: `appid` in common mode, `sp_appid` in institution mode.
    pub(super) fn appid(&self, appid: Option<String>, sp_appid: Option<String>) -> Result<String, WxError> {
        match (&self.sp, appid, sp_appid) {
            (None, Some(appid), None) | (Some(_), None, Some(appid)) => Ok(appid),
            (None, ..) => Err(WxError::param("appid", "body", "common mode names appid")),
            (Some(_), ..) => Err(WxError::param("sp_appid", "body", "institution mode names sp_appid")),
        }
    }

    /// The one whose key signs the answer: the institution, or the merchant itself.
    pub(super) fn signer(&self) -> &MerchantAuth {
        self.sp.as_deref().unwrap_or(&self.merchant)
    }
}

/// Common mode names `mchid` (the signer); institution mode `sp_mchid` (the signer) and `sub_mchid`.
pub(super) async fn acting(
    state: &AppState,
    signer: Arc<MerchantAuth>,
    mchid: Option<&str>,
    sp_mchid: Option<&str>,
    sub_mchid: Option<&str>,
    location: &str,
) -> Result<Acting, WxError> {
    match (mchid, sp_mchid, sub_mchid) {
        (Some(m), None, None) => {
            same_mchid(&signer, m, location)?;
            Ok(Acting { merchant: signer, sp: None })
        }
        (None, Some(sp), Some(sub)) => {
            if sp != signer.merchant.mchid {
                return Err(WxError::param("sp_mchid", location, "does not match the mchid of the Authorization header"));
            }
            let merchant = sub_merchant(state, &signer, sub, location).await?;
            Ok(Acting { merchant, sp: Some(signer) })
        }
        _ => Err(WxError::param("mchid", location, "give mchid (common mode), or sp_mchid and sub_mchid (institution mode)")),
    }
}

/// `merchant_category_code`: four digits (ISO 18245), as WeChat requires on every global order.
pub(super) fn check_mcc(mcc: &str) -> Result<(), WxError> {
    if mcc.len() != 4 || !mcc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WxError::param("merchant_category_code", "body", "a 4-digit merchant category code (ISO 18245)"));
    }
    Ok(())
}

/// The path's kind of order, and the `trade_type` the body must name for it.
fn trade_type_of(path: &str) -> (TradeType, &'static str) {
    match path {
        "native" => (TradeType::Native, "NATIVE"),
        "jsapi" => (TradeType::Jsapi, "JSAPI"),
        "app" => (TradeType::App, "APP"),
        _ => (TradeType::H5, "MWEB"),
    }
}

pub(super) async fn prepay(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
    kind: &'static str,
) -> Answer {
    let signer = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: GlobalPrepayIn = parse_body(&body)?;
    let (trade_type, wire) = trade_type_of(kind);
    if r.trade_type != wire {
        return Err(WxError::param("trade_type", "body", format!("{wire} on this path")));
    }
    check_mcc(&r.merchant_category_code)?;
    let who = acting(&state, signer, r.mchid.as_deref(), r.sp_mchid.as_deref(), r.sub_mchid.as_deref(), "body").await?;
    let appid = who.appid(r.appid, r.sp_appid)?;
    let payer_openid = r.payer.and_then(|p| p.sub_openid.or(p.sp_openid).or(p.openid));
    if trade_type == TradeType::Jsapi && payer_openid.is_none() {
        return Err(WxError::param("payer.openid", "body", "a JSAPI order names its payer"));
    }
    let fields = OrderFields {
        appid,
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
    let (order, mut out) = place_order_answer(&state, &who.merchant, who.sp.as_deref(), trade_type, fields).await?;
    if let Some(h5) = out.as_object_mut().and_then(|o| o.remove("h5_url")) {
        out["mweb_url"] = h5;
    }
    let _ = order;
    signed_json(&state, who.signer(), &headers, &out).await
}

/// An order as the global API writes it: the domestic shape with `id`, and the exchange rate always in
/// `amount` (10^8 when the payer paid in the order's own currency).
pub fn global_transaction_json(order: &Order) -> Value {
    let mut out = order.transaction_json();
    out["id"] = json!(order.transaction_id);
    if order.paid() && order.exchange.is_none() {
        out["amount"]["exchange_rate"] = json!({"type": "USERPAYMENT_RATE", "rate": 100_000_000u64});
    }
    out
}

/// A refund as the global API writes it: `id`, `payer_refund`, the exchange rate of the payment.
pub fn global_refund_json(refund: &Refund) -> Value {
    let order = &refund.order;
    let (payer_currency, payer_refund, rate) = match (&order.exchange, refund.payer_amount_minor) {
        (Some(e), Some(share)) => (e.currency, share, e.rate.per_1e8()),
        _ => (order.currency, refund.amount_minor, Some(100_000_000)),
    };
    let mut out = json!({
        "id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "create_time": wxpay::time::format_rfc3339(refund.created_at_ms / 1000),
        "status": refund.status.as_str(),
        "amount": {
            "refund": refund.amount_minor, "currency": order.currency.code(),
            "payer_refund": payer_refund, "payer_currency": payer_currency.code(),
            "exchange_rate": {"type": "USERPAYMENT_RATE", "rate": rate},
        },
    });
    if let Some(at) = refund.success_at_ms {
        out["success_time"] = json!(wxpay::time::format_rfc3339(at / 1000));
    }
    out
}

/// Who a query acts for, from its query string.
pub(super) async fn acting_from_query(state: &AppState, signer: Arc<MerchantAuth>, uri: &Uri) -> Result<Acting, WxError> {
    acting(state, signer, query_param(uri, "mchid"), query_param(uri, "sp_mchid"), query_param(uri, "sub_mchid"), "query").await
}

/// An order of the acting merchant, placed in this mode (an institution's orders are its own).
pub(super) fn in_mode(order: Order, who: &Acting) -> Result<Order, WxError> {
    if order.sp_merchant_id != who.sp.as_ref().map(|s| s.merchant.id) {
        return Err(PlatformError::NotFound("order").into());
    }
    Ok(order)
}

pub(super) async fn query_by_id(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let signer = authenticate(&state, &method, &uri, &headers, b"").await?;
    let who = acting_from_query(&state, signer, &uri).await?;
    let order = in_mode(state.platform.payments.order_by_transaction_id(who.merchant.merchant.id, &id).await?, &who)?;
    signed_json(&state, who.signer(), &headers, &global_transaction_json(&order)).await
}

pub(super) async fn query_by_out_trade_no(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(no): Path<String>,
) -> Answer {
    let signer = authenticate(&state, &method, &uri, &headers, b"").await?;
    let who = acting_from_query(&state, signer, &uri).await?;
    let order = in_mode(state.platform.payments.order_by_out_trade_no(who.merchant.merchant.id, &no).await?, &who)?;
    signed_json(&state, who.signer(), &headers, &global_transaction_json(&order)).await
}

#[derive(Deserialize)]
struct GlobalCloseIn {
    mchid: Option<String>,
    sp_mchid: Option<String>,
    sub_mchid: Option<String>,
}

pub(super) async fn close(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let signer = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: GlobalCloseIn = parse_body(&body)?;
    let who = acting(&state, signer, r.mchid.as_deref(), r.sp_mchid.as_deref(), r.sub_mchid.as_deref(), "body").await?;
    in_mode(state.platform.payments.order_by_out_trade_no(who.merchant.merchant.id, &no).await?, &who)?;
    state.platform.payments.close_order(who.merchant.merchant.id, &no).await?;
    signed(&state, who.signer(), &headers, StatusCode::NO_CONTENT, Vec::new()).await
}

#[derive(Deserialize)]
struct GlobalRefundAmountIn {
    refund: i64,
    total: i64,
    currency: String,
}

#[derive(Deserialize)]
struct GlobalRefundIn {
    mchid: Option<String>,
    sp_mchid: Option<String>,
    sub_mchid: Option<String>,
    transaction_id: Option<String>,
    id: Option<String>,
    out_trade_no: Option<String>,
    out_refund_no: String,
    reason: Option<String>,
    notify_url: Option<String>,
    amount: GlobalRefundAmountIn,
}

/// A refund: `mchid` (or `sp_mchid` + `sub_mchid`) may be given and is then checked against the signer;
/// without it the signer refunds its own order.
pub(super) async fn refund(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    let signer = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: GlobalRefundIn = parse_body(&body)?;
    let mchid = r.mchid.as_deref().or((r.sp_mchid.is_none() && r.sub_mchid.is_none()).then_some(signer.merchant.mchid.as_str()));
    let mchid = mchid.map(str::to_string);
    let who = acting(&state, signer.clone(), mchid.as_deref(), r.sp_mchid.as_deref(), r.sub_mchid.as_deref(), "body").await?;
    let new = NewRefund {
        sp_merchant_id: who.sp.as_ref().map(|s| s.merchant.id),
        transaction_id: r.transaction_id.or(r.id),
        out_trade_no: r.out_trade_no,
        out_refund_no: r.out_refund_no,
        reason: r.reason,
        notify_url: r.notify_url,
        refund_minor: r.amount.refund,
        total_minor: r.amount.total,
        currency: r.amount.currency,
    };
    let refund = state.platform.payments.refund_order(who.merchant.merchant.id, new).await?;
    signed_json(&state, who.signer(), &headers, &global_refund_json(&refund)).await
}

pub(super) async fn query_refund(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(no): Path<String>,
) -> Answer {
    let signer = authenticate(&state, &method, &uri, &headers, b"").await?;
    let who = acting_from_query(&state, signer, &uri).await?;
    let refund = state.platform.payments.refund_by_out_refund_no(who.merchant.merchant.id, &no).await?;
    if refund.order.sp_merchant_id != who.sp.as_ref().map(|s| s.merchant.id) {
        return Err(PlatformError::NotFound("refund").into());
    }
    signed_json(&state, who.signer(), &headers, &global_refund_json(&refund)).await
}
