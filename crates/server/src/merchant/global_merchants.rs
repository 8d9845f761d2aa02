//! `POST /v3/global/merchants`: an institution onboards a sub-merchant (institution mode only). The
//! sub-merchant is active at once (`verification_status: APPROVED`): what the institution states is kept
//! as the sub-merchant's licence data for the operator's review, and the same request again answers the
//! same `sub_mchid` (onboarding is idempotent).

use super::WxError;
use super::auth::{authenticate, parse_body};
use super::global::check_mcc;
use super::signing::signed_json;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use platform::merchants::SubMerchantApplication;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
struct BusinessIn {
    business_type: String,
    mcc: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct ContactIn {
    name: String,
    phone: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct SubMerchantIn {
    sp_appid: String,
    sp_mchid: String,
    name: String,
    shortname: String,
    office_phone: String,
    contact: ContactIn,
    business_category: Value,
    merchant_country_code: String,
    merchant_type: String,
    business: BusinessIn,
    settlement_bank_number: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

/// The largest text field of an application (names, phones), in characters: the platform keeps a
/// merchant's name in 100, its settlement account in 64.
const TEXT_CHARS_MAX: usize = 100;
const ACCOUNT_CHARS_MAX: usize = 64;
/// What an application may state besides the named fields, serialised (it is kept as licence data).
const EXTRA_BYTES_MAX: usize = 2048;

fn text(name: &'static str, value: &str) -> Result<(), WxError> {
    if value.trim().is_empty() || value.chars().count() > TEXT_CHARS_MAX {
        return Err(WxError::param(name, "body", format!("1 to {TEXT_CHARS_MAX} characters")));
    }
    Ok(())
}

fn check(r: &SubMerchantIn) -> Result<(), WxError> {
    for (name, value) in
        [("name", &r.name), ("shortname", &r.shortname), ("office_phone", &r.office_phone), ("contact.name", &r.contact.name)]
    {
        text(name, value)?;
    }
    if !["ENTERPRISE", "INDIVIDUAL"].contains(&r.merchant_type.as_str()) {
        return Err(WxError::param("merchant_type", "body", "ENTERPRISE or INDIVIDUAL"));
    }
    if !["ONLINE", "OFFLINE", "BOTH"].contains(&r.business.business_type.as_str()) {
        return Err(WxError::param("business.business_type", "body", "ONLINE, OFFLINE or BOTH"));
    }
    check_mcc(&r.business.mcc).map_err(|_| WxError::param("business.mcc", "body", "a 4-digit merchant category code (ISO 18245)"))?;
    if r.merchant_country_code.len() != 3 || !r.merchant_country_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WxError::param("merchant_country_code", "body", "an ISO 3166-1 numeric code such as 344"));
    }
    let account = r.settlement_bank_number.trim();
    if account.is_empty() || account.chars().count() > ACCOUNT_CHARS_MAX || account.chars().any(char::is_control) {
        return Err(WxError::param("settlement_bank_number", "body", format!("1 to {ACCOUNT_CHARS_MAX} characters")));
    }
    let extra = serde_json::to_string(&r.rest).map(|t| t.len()).unwrap_or(usize::MAX)
        + serde_json::to_string(&r.business.rest).map(|t| t.len()).unwrap_or(usize::MAX);
    if extra > EXTRA_BYTES_MAX {
        return Err(WxError::param("business", "body", format!("the fields beyond the named ones take at most {EXTRA_BYTES_MAX} bytes")));
    }
    if !(r.business_category.is_u64() || r.business_category.as_str().is_some_and(|s| !s.is_empty() && s.len() <= 16)) {
        return Err(WxError::param("business_category", "body", "the category's number"));
    }
    Ok(())
}

pub(super) async fn onboard(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let signer = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: SubMerchantIn = parse_body(&body)?;
    if r.sp_mchid != signer.merchant.mchid {
        return Err(WxError::param("sp_mchid", "body", "does not match the mchid of the Authorization header"));
    }
    check(&r)?;
    let licence = json!({
        "sp_appid": r.sp_appid,
        "shortname": r.shortname,
        "office_phone": r.office_phone,
        "contact": {"name": r.contact.name, "phone": r.contact.phone, "email": r.contact.email},
        "business_category": r.business_category,
        "merchant_type": r.merchant_type,
        "business": {"business_type": r.business.business_type, "mcc": r.business.mcc, "details": r.business.rest},
        "other": r.rest,
    })
    .to_string();
    let application = SubMerchantApplication {
        name: r.name,
        country_numeric: r.merchant_country_code,
        mcc: r.business.mcc,
        settlement_account: r.settlement_bank_number,
        licence,
    };
    let (sub, _created) = state.platform.merchants.onboard_sub_merchant(&signer, application).await?;
    signed_json(&state, &signer, &headers, &json!({"sub_mchid": sub.merchant.mchid, "verification_status": "APPROVED"})).await
}
