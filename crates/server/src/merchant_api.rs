//! The merchant API, `/v3/...`: wire-compatible with WeChat Pay API v3 (see
//! `shared/reference/wechatpay-v3.md`), so a merchant's unmodified SDK works against Qianbao.
//!
//! Every request is authenticated before its body is parsed: the `WECHATPAY2-SHA256-RSA2048`
//! Authorization header is checked against the raw request target and the raw body bytes with the
//! merchant's registered key, its timestamp must be within five minutes of this server's clock, and its
//! nonce must not have been seen in that window. Every 2xx response (204 too) is signed with a platform
//! key and carries the five `Wechatpay-*` headers; every response carries a `Request-ID`. Errors are
//! `{code, message, detail}` with WeChat's codes and statuses.

use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::{MerchantAuth, NewOrder, NewRefund, PlatformError, TradeType};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Requests whose timestamp is further than this from our clock are refused (WeChat's window).
pub const CLOCK_SKEW_S_MAX: i64 = 300;
/// Nonces remembered per instance (a replay inside the window is refused). Beyond this many, the oldest
/// half is dropped: a burst larger than this can only make an old nonce forgettable, never a fresh one.
pub const NONCES_MAX: usize = 1_000_000;
/// The largest merchant request body.
pub const MERCHANT_BODY_BYTES_MAX: usize = 64 * 1024;

/// Count every merchant API answer by code (`OK` for 2xx), for `/metrics`.
pub async fn count_answers(State(state): State<Arc<AppState>>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let code = match response.status().as_u16() {
        200..=299 => "OK",
        401 => "SIGN_ERROR",
        404 => "NOT_FOUND",
        429 => "RATELIMIT_EXCEEDED",
        400 => "BAD_REQUEST",
        403 => "FORBIDDEN",
        _ => "SYSTEM_ERROR",
    };
    state.metrics.merchant_answer(code);
    response
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v3/pay/transactions/jsapi", post(|s, m, u, h, b| prepay(s, m, u, h, b, TradeType::Jsapi)))
        .route("/v3/pay/transactions/app", post(|s, m, u, h, b| prepay(s, m, u, h, b, TradeType::App)))
        .route("/v3/pay/transactions/h5", post(|s, m, u, h, b| prepay(s, m, u, h, b, TradeType::H5)))
        .route("/v3/pay/transactions/native", post(|s, m, u, h, b| prepay(s, m, u, h, b, TradeType::Native)))
        .route("/v3/pay/transactions/id/{transaction_id}", get(query_by_transaction_id))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}", get(query_by_out_trade_no))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", post(close))
        .route("/v3/pay/transactions/codepay", post(codepay))
        .route("/v3/pay/transactions/out-trade-no/{out_trade_no}/reverse", post(reverse))
        .route("/v3/refund/domestic/refunds", post(refund))
        .route("/v3/refund/domestic/refunds/{out_refund_no}", get(query_refund))
        .route("/v3/certificates", get(certificates))
        .route("/v3/pay/partner/transactions/jsapi", post(|s, m, u, h, b| partner_prepay(s, m, u, h, b, TradeType::Jsapi)))
        .route("/v3/pay/partner/transactions/app", post(|s, m, u, h, b| partner_prepay(s, m, u, h, b, TradeType::App)))
        .route("/v3/pay/partner/transactions/h5", post(|s, m, u, h, b| partner_prepay(s, m, u, h, b, TradeType::H5)))
        .route("/v3/pay/partner/transactions/native", post(|s, m, u, h, b| partner_prepay(s, m, u, h, b, TradeType::Native)))
        .route("/v3/pay/partner/transactions/id/{transaction_id}", get(partner_query_by_transaction_id))
        .route("/v3/pay/partner/transactions/out-trade-no/{out_trade_no}", get(partner_query_by_out_trade_no))
        .route("/v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close", post(partner_close))
        .route("/v3/bill/tradebill", get(trade_bill))
        .route("/v3/bill/fundflowbill", get(fund_flow_bill))
        .route("/v3/billdownload/file", get(download_bill))
}

/// Requests per second each merchant may make (a token bucket per mchid, refilled continuously, holding
/// one second's worth): past it, `429 RATELIMIT_EXCEEDED` and nothing done.
pub struct RateLimiter {
    per_s: f64,
    buckets: Mutex<HashMap<String, (f64, std::time::Instant)>>,
}

impl RateLimiter {
    pub fn new(per_s: u32) -> RateLimiter {
        assert!(per_s > 0);
        RateLimiter { per_s: f64::from(per_s), buckets: Mutex::new(HashMap::new()) }
    }

    fn allow(&self, mchid: &str) -> bool {
        let mut buckets = self.buckets.lock().expect("rate limiter");
        let now = std::time::Instant::now();
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 10);
        }
        let (tokens, at) = buckets.entry(mchid.to_string()).or_insert((self.per_s, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_s).min(self.per_s);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Nonces seen in the last window, per merchant.
#[derive(Default)]
pub struct NonceCache(Mutex<HashMap<(String, String), i64>>);

impl NonceCache {
    /// Remember a nonce; false if it was already seen within the window.
    fn fresh(&self, mchid: &str, nonce: &str, now_s: i64) -> bool {
        let mut seen = self.0.lock().expect("nonce cache");
        if seen.len() >= NONCES_MAX {
            seen.retain(|_, at| *at > now_s - CLOCK_SKEW_S_MAX * 2);
            if seen.len() >= NONCES_MAX {
                let mut ats: Vec<i64> = seen.values().copied().collect();
                ats.sort_unstable();
                let median = ats[ats.len() / 2];
                seen.retain(|_, at| *at > median);
            }
        }
        seen.insert((mchid.to_string(), nonce.to_string()), now_s).is_none_or(|at| at < now_s - CLOCK_SKEW_S_MAX * 2)
    }
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

impl From<PlatformError> for WxError {
    fn from(e: PlatformError) -> WxError {
        let message = e.to_string();
        match e {
            PlatformError::Invalid { field, message } => WxError::param(field, "body", message),
            PlatformError::NotFound("order") => WxError::new(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在 (no such order)"),
            PlatformError::NotFound(what) => WxError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", format!("no such {what}")),
            PlatformError::Conflict { code, .. } => {
                let (status, code) = match code {
                    "OUT_TRADE_NO_USED" => (StatusCode::FORBIDDEN, "OUT_TRADE_NO_USED"),
                    "APPID_MCHID_NOT_MATCH" => (StatusCode::BAD_REQUEST, "APPID_MCHID_NOT_MATCH"),
                    "ORDER_PAID" => (StatusCode::BAD_REQUEST, "ORDER_PAID"),
                    "ORDER_CLOSED" => (StatusCode::BAD_REQUEST, "ORDER_CLOSED"),
                    "NOT_ENOUGH" => (StatusCode::FORBIDDEN, "NOT_ENOUGH"),
                    _ => (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                };
                WxError::new(status, code, message)
            }
            PlatformError::Forbidden(_) => WxError::new(StatusCode::FORBIDDEN, "NO_AUTH", message),
            PlatformError::InsufficientBalance => WxError::new(StatusCode::FORBIDDEN, "NOT_ENOUGH", message),
            PlatformError::Internal(detail) => {
                tracing::error!(%detail, "merchant API internal error");
                WxError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "系统错误 (internal error; retry with the same parameters)")
            }
            _ => WxError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message),
        }
    }
}

/// The five `Wechatpay-*` headers that sign `body` (a response's or a notification's) with `signer`.
pub(crate) fn signature_headers(signer: &platform::PlatformKey, body: &[u8]) -> [(&'static str, String); 5] {
    let (timestamp, nonce) = (unix_now_s(), wxpay::random_alphanumeric(32));
    let signature = signer.key.sign(&wxpay::response_message(timestamp, &nonce, body));
    [
        ("Wechatpay-Timestamp", timestamp.to_string()),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Serial", signer.serial.clone()),
        ("Wechatpay-Signature", wxpay::base64::encode(&signature)),
        ("Wechatpay-Signature-Type", wxpay::SCHEME.to_string()),
    ]
}

/// A fresh request id (UUID-shaped, random).
pub(crate) fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    wxpay::random_fill(&mut bytes);
    let x: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

pub(crate) fn unix_now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Check a request's signature over its raw target and raw body; the merchant it speaks for.
async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Arc<MerchantAuth>, WxError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| WxError::sign("the Authorization header is missing"))?
        .to_str()
        .map_err(|_| WxError::sign("the Authorization header is not text"))?;
    let auth = wxpay::Authorization::parse(header).map_err(|e| WxError::sign(e.to_string()))?;
    let now = unix_now_s();
    if (now - auth.timestamp).abs() > CLOCK_SKEW_S_MAX {
        return Err(WxError::sign(format!(
            "timestamp {} is more than {CLOCK_SKEW_S_MAX} s from the server's clock ({now})",
            auth.timestamp
        )));
    }
    let merchant = state.platform.merchant(&auth.mchid).await.map_err(|e| match e {
        PlatformError::NotFound(_) => WxError::sign("unknown mchid"),
        e => e.into(),
    })?;
    let key = merchant.key(&auth.serial_no).ok_or_else(|| WxError::sign("unknown serial_no for this mchid"))?;
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let message = wxpay::request_message(method.as_str(), target, auth.timestamp, &auth.nonce, body);
    key.verify(&message, &auth.signature).map_err(|_| WxError::sign("sign not match"))?;
    if !state.nonces.fresh(&auth.mchid, &auth.nonce, now) {
        return Err(WxError::sign("this nonce_str was already used (a replayed request)"));
    }
    if !state.merchant_rate.allow(&auth.mchid) {
        return Err(WxError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATELIMIT_EXCEEDED",
            "频率超限 (too many requests for this merchant: retry later)",
        ));
    }
    Ok(merchant)
}

/// A signed 2xx response: `Wechatpay-Timestamp`, `-Nonce`, `-Serial`, `-Signature`, `-Signature-Type`
/// over the exact body bytes, with the key the request asked for (`Wechatpay-Serial: PUB_KEY_ID_...`
/// selects public-key mode).
async fn signed(
    state: &AppState,
    merchant: &MerchantAuth,
    request_headers: &HeaderMap,
    status: StatusCode,
    body: Vec<u8>,
) -> Result<Response, WxError> {
    let keys = state.platform.platform_keys().await?;
    let public_key_mode = merchant.merchant.public_key_mode
        || request_headers.get("wechatpay-serial").and_then(|v| v.to_str().ok()).is_some_and(|s| s.starts_with("PUB_KEY_ID_"));
    let signature = signature_headers(keys.signer(public_key_mode), &body);
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    if status != StatusCode::NO_CONTENT {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    }
    for (name, value) in signature {
        h.insert(name, HeaderValue::from_str(&value).expect("ASCII header value"));
    }
    Ok(response)
}

async fn signed_json(state: &AppState, merchant: &MerchantAuth, request_headers: &HeaderMap, body: &Value) -> Result<Response, WxError> {
    signed(state, merchant, request_headers, StatusCode::OK, serde_json::to_vec(body).expect("JSON serialises")).await
}

/// Parse a JSON body; a malformed one is PARAM_ERROR naming the field.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, WxError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        // serde names a missing field in its message, not its path.
        let missing = inner.strip_prefix("missing field `").and_then(|m| m.split('`').next());
        let field = match (path.as_str(), missing) {
            (".", Some(m)) => m.to_string(),
            (_, Some(m)) => format!("{path}.{m}"),
            (".", None) => String::new(),
            _ => path,
        };
        WxError::param(&field, "body", inner)
    })
}

#[derive(Deserialize)]
struct AmountIn {
    total: i64,
    currency: Option<String>,
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

fn same_mchid(merchant: &MerchantAuth, mchid: &str, location: &str) -> Result<(), WxError> {
    if mchid != merchant.merchant.mchid {
        return Err(WxError::param("mchid", location, "does not match the mchid of the Authorization header"));
    }
    Ok(())
}

async fn prepay(
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

/// What every prepay request carries, direct or partner.
struct OrderFields {
    appid: String,
    sub_appid: Option<String>,
    description: String,
    out_trade_no: String,
    time_expire: Option<String>,
    attach: Option<String>,
    notify_url: String,
    goods_tag: Option<String>,
    amount: AmountIn,
    payer_openid: Option<String>,
    scene_info: Option<Value>,
}

/// Place the order and answer its prepay_id, code_url or h5_url, signed for `signer` (the caller).
async fn place_order(
    state: &AppState,
    headers: &HeaderMap,
    merchant: &MerchantAuth,
    sp: Option<&MerchantAuth>,
    trade_type: TradeType,
    r: OrderFields,
) -> Result<Response, WxError> {
    let time_expire_s = match &r.time_expire {
        None => None,
        Some(t) => Some(
            wxpay::time::parse_rfc3339(t)
                .ok_or_else(|| WxError::param("time_expire", "body", "an RFC 3339 time such as 2018-06-08T10:34:56+08:00"))?,
        ),
    };
    if trade_type == TradeType::H5 {
        let h5 = r.scene_info.as_ref().and_then(|s| s.get("h5_info")).and_then(|h| h.get("type")).and_then(Value::as_str);
        if r.scene_info.as_ref().and_then(|s| s.get("payer_client_ip")).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(WxError::param("scene_info.payer_client_ip", "body", "an H5 order names the payer's IP address"));
        }
        if !matches!(h5, Some("iOS" | "Android" | "Wap")) {
            return Err(WxError::param("scene_info.h5_info.type", "body", "iOS, Android or Wap"));
        }
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
        total: r.amount.total,
        currency: r.amount.currency.unwrap_or_else(|| "CNY".into()),
        payer_openid: r.payer_openid,
        scene_info,
        sub_appid: r.sub_appid,
    };
    let order = state.platform.create_order(merchant, sp, new).await?;
    let out = match trade_type {
        TradeType::Jsapi | TradeType::App => json!({"prepay_id": state.platform.prepay_id(&order)}),
        TradeType::Native => json!({"code_url": state.platform.code_url(&order)}),
        TradeType::H5 => json!({"h5_url": state.platform.h5_url(&order)}),
        TradeType::Micropay => unreachable!("payment-code orders come through codepay"),
    };
    signed_json(state, sp.unwrap_or(merchant), headers, &out).await
}

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

/// A service provider's sub-merchant, which must be its own.
async fn sub_merchant(state: &AppState, sp: &MerchantAuth, sub_mchid: &str, location: &str) -> Result<Arc<MerchantAuth>, WxError> {
    let sub = state.platform.merchant(sub_mchid).await.map_err(|_| WxError::param("sub_mchid", location, "no such sub-merchant"))?;
    if sub.merchant.parent_id != Some(sp.merchant.id) {
        return Err(WxError::new(StatusCode::FORBIDDEN, "NO_AUTH", "this sub_mchid is not a sub-merchant of this service provider"));
    }
    Ok(sub)
}

/// The partner (service provider) prepay endpoints: the provider signs, the sub-merchant is paid.
async fn partner_prepay(
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
async fn partner_query_scope(state: &AppState, uri: &Uri, sp: &MerchantAuth) -> Result<Arc<MerchantAuth>, WxError> {
    let sp_mchid = query_param(uri, "sp_mchid").ok_or_else(|| WxError::param("sp_mchid", "query", "is required"))?;
    if sp_mchid != sp.merchant.mchid {
        return Err(WxError::param("sp_mchid", "query", "does not match the mchid of the Authorization header"));
    }
    let sub_mchid = query_param(uri, "sub_mchid").ok_or_else(|| WxError::param("sub_mchid", "query", "is required"))?;
    sub_merchant(state, sp, sub_mchid, "query").await
}

/// Only the provider that placed a partner order sees it.
fn placed_by(order: platform::Order, sp: &MerchantAuth) -> Result<platform::Order, WxError> {
    if order.sp_merchant_id != Some(sp.merchant.id) {
        return Err(PlatformError::NotFound("order").into());
    }
    Ok(order)
}

async fn partner_query_by_transaction_id(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(transaction_id): Path<String>,
) -> Result<Response, WxError> {
    let sp = authenticate(&state, &method, &uri, &headers, b"").await?;
    let sub = partner_query_scope(&state, &uri, &sp).await?;
    let order = placed_by(state.platform.order_by_transaction_id(sub.merchant.id, &transaction_id).await?, &sp)?;
    signed_json(&state, &sp, &headers, &order.transaction_json()).await
}

async fn partner_query_by_out_trade_no(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
) -> Result<Response, WxError> {
    let sp = authenticate(&state, &method, &uri, &headers, b"").await?;
    let sub = partner_query_scope(&state, &uri, &sp).await?;
    let order = placed_by(state.platform.order_by_out_trade_no(sub.merchant.id, &out_trade_no).await?, &sp)?;
    signed_json(&state, &sp, &headers, &order.transaction_json()).await
}

#[derive(Deserialize)]
struct PartnerCloseIn {
    sp_mchid: String,
    sub_mchid: String,
}

async fn partner_close(
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
    placed_by(state.platform.order_by_out_trade_no(sub.merchant.id, &out_trade_no).await?, &sp)?;
    state.platform.close_order(sub.merchant.id, &out_trade_no).await?;
    signed(&state, &sp, &headers, StatusCode::NO_CONTENT, Vec::new()).await
}

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

/// The merchant scanned a person's payment code. Paid at once at or below the no-PIN threshold (200);
/// otherwise 202 with `trade_state: USERPAYING` until the person confirms with the PIN (poll the query).
async fn codepay(
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
        total: r.amount.total,
        currency: r.amount.currency.unwrap_or_else(|| "CNY".into()),
        payer_openid: None,
        scene_info: r.scene_info.as_ref().map(Value::to_string),
        sub_appid: None,
    };
    let order = state.platform.charge_payment_code(&merchant, new, &r.payer.auth_code).await?;
    let status = if order.trade_state == "USERPAYING" { StatusCode::ACCEPTED } else { StatusCode::OK };
    signed(&state, &merchant, &headers, status, serde_json::to_vec(&order.transaction_json()).expect("JSON serialises")).await
}

#[derive(Deserialize)]
struct ReverseIn {
    appid: String,
    mchid: String,
}

async fn reverse(
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
    let order = state.platform.reverse_order(merchant.merchant.id, &out_trade_no).await?;
    signed_json(&state, &merchant, &headers, &json!({"appid": r.appid, "mchid": order.mchid, "out_trade_no": order.out_trade_no})).await
}

/// The `mchid` query parameter, which must be the caller's.
fn query_mchid(uri: &Uri, merchant: &MerchantAuth) -> Result<(), WxError> {
    let mchid = query_param(uri, "mchid").ok_or_else(|| WxError::param("mchid", "query", "is required"))?;
    same_mchid(merchant, mchid, "query")
}

async fn query_by_transaction_id(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(transaction_id): Path<String>,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    query_mchid(&uri, &merchant)?;
    let order = state.platform.order_by_transaction_id(merchant.merchant.id, &transaction_id).await?;
    signed_json(&state, &merchant, &headers, &order.transaction_json()).await
}

async fn query_by_out_trade_no(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    query_mchid(&uri, &merchant)?;
    let order = state.platform.order_by_out_trade_no(merchant.merchant.id, &out_trade_no).await?;
    signed_json(&state, &merchant, &headers, &order.transaction_json()).await
}

#[derive(Deserialize)]
struct CloseIn {
    mchid: String,
}

async fn close(
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
    state.platform.close_order(merchant.merchant.id, &out_trade_no).await?;
    signed(&state, &merchant, &headers, StatusCode::NO_CONTENT, Vec::new()).await
}

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

async fn refund(
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
    let refund = state
        .platform
        .refund_order(
            owner,
            NewRefund {
                sp_merchant_id: sp,
                transaction_id: r.transaction_id,
                out_trade_no: r.out_trade_no,
                out_refund_no: r.out_refund_no,
                reason: r.reason,
                notify_url: r.notify_url,
                refund: r.amount.refund,
                total: r.amount.total,
                currency: r.amount.currency,
            },
        )
        .await?;
    signed_json(&state, &merchant, &headers, &refund.refund_json()).await
}

async fn query_refund(
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
    let refund = state.platform.refund_by_out_refund_no(owner, &out_refund_no).await?;
    if refund.order.sp_merchant_id != sp {
        return Err(PlatformError::NotFound("refund").into());
    }
    signed_json(&state, &merchant, &headers, &refund.refund_json()).await
}

/// A query parameter's value (raw, as bill dates, types and tokens need no decoding).
fn query_param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|kv| kv.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

/// `{hash_type, hash_value, download_url}` for a bill: SHA-1 of the uncompressed text, and a link that
/// works for 30 s.
async fn bill_link(
    state: &AppState,
    merchant: &MerchantAuth,
    headers: &HeaderMap,
    uri: &Uri,
    kind: &str,
    bill_type: &str,
) -> Result<Response, WxError> {
    let day = query_param(uri, "bill_date").ok_or_else(|| WxError::param("bill_date", "query", "is required (YYYY-MM-DD)"))?;
    let (_, end) = platform::cst_day_bounds(day).map_err(|_| WxError::param("bill_date", "query", "a date YYYY-MM-DD"))?;
    if end > state.platform.now_ms() {
        return Err(WxError::param("bill_date", "query", "a bill is ready once its day is over (China Standard Time)"));
    }
    let gzip = match query_param(uri, "tar_type") {
        None => false,
        Some("GZIP") => true,
        Some(_) => return Err(WxError::param("tar_type", "query", "GZIP or absent")),
    };
    // A service provider asks for its sub-merchant's bill with `sub_mchid`.
    let owner = match query_param(uri, "sub_mchid") {
        Some(sub) => sub_merchant(state, merchant, sub, "query").await?.merchant.id,
        None => merchant.merchant.id,
    };
    let bill = platform::BillRequest {
        merchant_id: owner,
        requester_id: merchant.merchant.id,
        kind: kind.into(),
        day: day.into(),
        bill_type: bill_type.into(),
        gzip,
        expires_at_ms: state.platform.now_ms() + platform::BILL_LINK_TTL_MS,
    };
    let text = state.platform.bill(&bill).await?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let url = format!(
        "{}/v3/billdownload/file?token={}",
        state.platform.config().public_url.trim_end_matches('/'),
        state.platform.bill_token(&bill)
    );
    signed_json(state, merchant, headers, &json!({"hash_type": "SHA1", "hash_value": hash, "download_url": url})).await
}

async fn trade_bill(State(state): State<Arc<AppState>>, method: Method, uri: Uri, headers: HeaderMap) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let bill_type = query_param(&uri, "bill_type").unwrap_or("ALL");
    if !["ALL", "SUCCESS", "REFUND"].contains(&bill_type) {
        return Err(WxError::param("bill_type", "query", "ALL, SUCCESS or REFUND"));
    }
    bill_link(&state, &merchant, &headers, &uri, "trade", bill_type).await
}

async fn fund_flow_bill(State(state): State<Arc<AppState>>, method: Method, uri: Uri, headers: HeaderMap) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let account = query_param(&uri, "account_type").unwrap_or("BASIC");
    if !["BASIC", "OPERATION", "FEES"].contains(&account) {
        return Err(WxError::param("account_type", "query", "BASIC, OPERATION or FEES"));
    }
    bill_link(&state, &merchant, &headers, &uri, "fundflow", account).await
}

/// The bill itself: CSV (`text/plain`), or gzip when the link was asked for with `tar_type=GZIP`.
async fn download_bill(State(state): State<Arc<AppState>>, method: Method, uri: Uri, headers: HeaderMap) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let token = query_param(&uri, "token").ok_or_else(|| WxError::param("token", "query", "is required"))?;
    let bill = state.platform.open_bill_token(token, merchant.merchant.id).map_err(|e| WxError::param("token", "query", e.to_string()))?;
    let text = state.platform.bill(&bill).await?;
    let (content_type, body) = if bill.gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, text.as_bytes()).map_err(|e| PlatformError::Internal(e.to_string()))?;
        ("application/x-gzip", encoder.finish().map_err(|e| PlatformError::Internal(e.to_string()))?)
    } else {
        ("text/plain; charset=utf-8", text.into_bytes())
    };
    let mut response = signed(&state, &merchant, &headers, StatusCode::OK, body).await?;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// Every valid platform certificate, each encrypted under the caller's APIv3 key.
async fn certificates(State(state): State<Arc<AppState>>, method: Method, uri: Uri, headers: HeaderMap) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let keys = state.platform.platform_keys().await?;
    let mut data = Vec::new();
    for key in &keys.certificates {
        let pem = wxpay::pem_encode("CERTIFICATE", key.certificate.as_deref().expect("a certificate key has its certificate"));
        let nonce = wxpay::random_alphanumeric(12);
        let ciphertext = wxpay::aead_encrypt(&merchant.apiv3_key, nonce.as_bytes(), b"certificate", pem.as_bytes())
            .map_err(|e| PlatformError::Internal(e.to_string()))?;
        data.push(json!({
            "serial_no": key.serial,
            "effective_time": wxpay::time::format_rfc3339(key.effective_at_ms / 1000),
            "expire_time": wxpay::time::format_rfc3339(key.expires_at_ms / 1000),
            "encrypt_certificate": {
                "algorithm": "AEAD_AES_256_GCM",
                "nonce": nonce,
                "associated_data": "certificate",
                "ciphertext": wxpay::base64::encode(&ciphertext),
            },
        }));
    }
    signed_json(&state, &merchant, &headers, &json!({"data": data})).await
}

/// A `Request-ID` on every response (WeChat's; merchants quote it when they report a problem).
pub async fn request_id(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert("request-id", HeaderValue::from_str(&new_request_id()).expect("hex"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_fresh_once_per_merchant() {
        let cache = NonceCache::default();
        assert!(cache.fresh("1900000109", "abc", 1000));
        assert!(!cache.fresh("1900000109", "abc", 1001));
        assert!(cache.fresh("1900000110", "abc", 1001));
    }

    #[test]
    fn body_fields_become_json_pointers() {
        let e = WxError::param("amount.total", "body", "must be positive");
        assert_eq!(e.detail.unwrap()["field"], "/amount/total");
        let e = WxError::param("mchid", "query", "is required");
        assert_eq!(e.detail.unwrap()["field"], "mchid");
    }
}
