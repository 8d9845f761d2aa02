//! The day's exchange rate a merchant abroad is paid at, in two dialects:
//! - `POST /pay/queryexchagerate` (sic: WeChat's spelling), API v2's XML call that merchants' existing
//!   code makes: `appid`, `mch_id`, `sub_mch_id?`, `fee_type`, `date` (yyyyMMdd), `sign` (MD5, or
//!   HMAC-SHA256 with `sign_type`), signed with the merchant's key (Qianbao keeps one per merchant: its
//!   APIv3 key serves v2's signatures too). The answer is XML, `return_code` `SUCCESS` or `FAIL` with
//!   `return_msg` (v2 answers HTTP 200 either way), signed the same way.
//! - `GET /v3/global/exchange-rates?fee_type=HKD&date=yyyyMMdd[&payer_currency=CNY]`, Qianbao's own v3
//!   call (v3 has none): signed and answered as every v3 call, JSON with the reference rate, its
//!   source and the markup besides the rate.
//!
//! The rate is what a payer in `payer_currency` (CNY unless named) pays for one unit of `fee_type` on
//! the payment channel, × 10^8, as it stood at the end of `date` (China Standard Time, as WeChat's rate
//! day is), or now for today.

use super::WxError;
use super::auth::{authenticate, query_param};
use super::global_settlements::day_param;
use super::signing::signed_json;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use platform::PlatformError;
use platform::fx::{Channel, Price};
use platform::settlement::{local_day_bounds, statement_day};
use serde_json::json;
use std::sync::Arc;
use wxpay::v2::{self, Fields, SignType};

/// The rate of `fee_type` in `payer` on `day` (YYYY-MM-DD, CST): at the day's end, or now for today.
async fn day_rate(state: &AppState, fee_type: &str, payer: &str, day: &str) -> Result<(Price, u64), PlatformError> {
    let currency = |field: &'static str, code: &str| {
        money::Currency::from_code(code).map_err(|_| PlatformError::invalid(field, "an ISO 4217 currency code such as HKD"))
    };
    let (buy, sell) = (currency("fee_type", fee_type)?, currency("payer_currency", payer)?);
    if buy == sell {
        return Err(PlatformError::invalid("fee_type", "a currency other than the payer's"));
    }
    let (start, end) = local_day_bounds(day, "Asia/Shanghai").map_err(|_| PlatformError::invalid("date", "a date yyyyMMdd"))?;
    let now = state.platform.now_ms();
    if start > now {
        return Err(PlatformError::invalid("date", "a rate is known from its day on (China Standard Time)"));
    }
    let at = (end <= now).then_some(end - 1);
    let price = state.platform.fx.price_at(buy, sell, Channel::Payment, at).await?;
    let rate = price.rate.per_1e8().ok_or_else(|| PlatformError::Internal("a customer rate with more than 8 decimals".into()))?;
    Ok((price, rate))
}

/// `GET /v3/global/exchange-rates`.
pub(super) async fn v3_rate(State(state): State<Arc<AppState>>, method: Method, uri: Uri, headers: HeaderMap) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let fee_type = query_param(&uri, "fee_type").ok_or_else(|| WxError::param("fee_type", "query", "is required (ISO 4217)"))?;
    let payer = query_param(&uri, "payer_currency").unwrap_or("CNY");
    let day = day_param(&uri, "date")?;
    // The inputs are the query's: a refusal names the query parameter.
    let (price, rate) = day_rate(&state, fee_type, payer, &day).await.map_err(|e| match e {
        PlatformError::Invalid { field, message } => WxError::param(field, "query", message),
        e => e.into(),
    })?;
    let answer = json!({
        "fee_type": fee_type, "payer_currency": payer, "rate_time": day.replace('-', ""), "rate": rate,
        "reference_rate": price.mid.decimal(), "reference_source": price.mid_source, "markup_bps": price.markup_bps,
    });
    signed_json(&state, &merchant, &headers, &answer).await
}

/// A v2 answer: XML, HTTP 200.
fn xml(fields: &Fields) -> Response {
    let mut response = (StatusCode::OK, v2::to_xml(fields)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    response
}

fn fail(message: impl Into<String>) -> Response {
    xml(&Fields::from([("return_code".to_string(), "FAIL".to_string()), ("return_msg".to_string(), message.into())]))
}

/// `POST /pay/queryexchagerate`: every refusal is `return_code: FAIL` naming what is wrong.
pub(super) async fn v2_rate(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    match v2_answer(&state, &body).await {
        Ok(fields) => xml(&fields),
        Err(message) => fail(message),
    }
}

/// What a v2 caller is told of a platform error: the reason when it is theirs to fix, never internal text.
fn v2_message(e: PlatformError) -> String {
    match e {
        PlatformError::Internal(detail) => {
            tracing::error!(%detail, "v2 rate query internal error");
            "SYSTEM_ERROR: retry later".into()
        }
        PlatformError::Unavailable => "SYSTEM_ERROR: the service is unavailable, retry later".into(),
        e => e.to_string(),
    }
}

async fn v2_answer(state: &AppState, body: &[u8]) -> Result<Fields, String> {
    let fields = v2::parse_xml(body).map_err(|e| e.to_string())?;
    let get = |name: &str| fields.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let mch_id = get("mch_id").ok_or("mch_id is required")?;
    let sign_type = SignType::parse(get("sign_type")).ok_or("sign_type is MD5 or HMAC-SHA256")?;
    let merchant = state.platform.merchants.merchant(mch_id).await.map_err(|e| match e {
        PlatformError::NotFound(_) => "unknown mch_id".to_string(),
        e => v2_message(e),
    })?;
    if !v2::verify(&fields, &merchant.apiv3_key, sign_type) {
        return Err("签名错误 (sign not match: MD5 or HMAC-SHA256 of the sorted fields with &key=<your key>)".into());
    }
    if !state.merchant_rate.allow(mch_id) {
        return Err("频率超限 (too many requests for this merchant: retry later)".into());
    }
    if let Some(sub) = get("sub_mch_id") {
        let sub = state.platform.merchants.merchant(sub).await.map_err(|_| "unknown sub_mch_id".to_string())?;
        if sub.merchant.parent_id != Some(merchant.merchant.id) {
            return Err("sub_mch_id is not a sub-merchant of mch_id".into());
        }
    }
    let fee_type = get("fee_type").ok_or("fee_type is required")?;
    let date = get("date").ok_or("date is required (yyyyMMdd)")?;
    let day = statement_day(date).map_err(|_| "date is yyyyMMdd".to_string())?;
    let (_, rate) = day_rate(state, fee_type, "CNY", &day).await.map_err(v2_message)?;
    let mut out = Fields::new();
    for name in ["appid", "mch_id", "sub_mch_id"] {
        if let Some(v) = get(name) {
            out.insert(name.into(), v.into());
        }
    }
    out.insert("return_code".into(), "SUCCESS".into());
    out.insert("return_msg".into(), "OK".into());
    out.insert("fee_type".into(), fee_type.into());
    out.insert("rate_time".into(), date.into());
    out.insert("rate".into(), rate.to_string());
    out.insert("nonce_str".into(), wxpay::random_alphanumeric(32));
    let sign = v2::sign(&out, &merchant.apiv3_key, sign_type);
    out.insert("sign".into(), sign);
    Ok(out)
}
