//! Signed answers: the five `Wechatpay-*` headers over the exact body bytes, with the platform key the
//! merchant uses (`Wechatpay-Serial: PUB_KEY_ID_...` on a request, or the merchant's mode, selects the
//! public key). Notifications are signed the same way.

use super::WxError;
use crate::AppState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::merchants::{MerchantAuth, PlatformKey};
use serde_json::Value;

/// The five `Wechatpay-*` headers that sign `body` (a response's or a notification's) with `signer`.
pub fn signature_headers(signer: &PlatformKey, body: &[u8]) -> [(&'static str, String); 5] {
    let (timestamp, nonce) = (super::auth::unix_now_s(), wxpay::random_alphanumeric(32));
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
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    wxpay::random_fill(&mut bytes);
    let x = crate::http::hex(&bytes);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

/// A signed 2xx response.
pub(super) async fn signed(
    state: &AppState,
    merchant: &MerchantAuth,
    request_headers: &HeaderMap,
    status: StatusCode,
    body: Vec<u8>,
) -> Result<Response, WxError> {
    let keys = state.platform.merchants.platform_keys().await?;
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

pub(super) async fn signed_json(
    state: &AppState,
    merchant: &MerchantAuth,
    request_headers: &HeaderMap,
    body: &Value,
) -> Result<Response, WxError> {
    signed(state, merchant, request_headers, StatusCode::OK, serde_json::to_vec(body).expect("JSON serialises")).await
}
