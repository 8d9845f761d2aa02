//! Signed answers: the five `Wechatpay-*` headers over the exact body bytes, with the platform key the
//! merchant uses (`Wechatpay-Serial: PUB_KEY_ID_...` on a request, or the merchant's mode, selects the
//! public key). Notifications are signed the same way.

use super::WxError;
use crate::AppState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::merchants::{MerchantAuth, PlatformKey, PlatformKeys};
use serde_json::Value;
use std::sync::Arc;

/// The five `Wechatpay-*` headers that sign `body` (a response's or a notification's) with `signer`.
pub fn signature_headers(signer: &PlatformKey, body: &[u8]) -> [(&'static str, String); 5] {
    let (timestamp, nonce) = (super::auth::unix_now_s(), wxpay::random_alphanumeric(32));
    let signature = signer.key.sign(&wxpay::response_message(timestamp, &nonce, body));
    header_values(timestamp, nonce, signer, &signature)
}

fn header_values(timestamp: i64, nonce: String, signer: &PlatformKey, signature: &[u8]) -> [(&'static str, String); 5] {
    [
        ("Wechatpay-Timestamp", timestamp.to_string()),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Serial", signer.serial.clone()),
        ("Wechatpay-Signature", wxpay::base64::encode(signature)),
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

/// The platform keys and whether the merchant verifies with the public key (its mode, or a request that
/// named `PUB_KEY_ID_...`).
async fn keys_for(state: &AppState, merchant: &MerchantAuth, request_headers: &HeaderMap) -> Result<(Arc<PlatformKeys>, bool), WxError> {
    let keys = state.platform.merchants.platform_keys().await?;
    let public_key_mode = merchant.merchant.public_key_mode
        || request_headers.get("wechatpay-serial").and_then(|v| v.to_str().ok()).is_some_and(|s| s.starts_with("PUB_KEY_ID_"));
    Ok((keys, public_key_mode))
}

/// A signed answer whose body is too large to hold (a bill): the message is hashed as the body is
/// written (`message`), and signed once it is done (`headers`).
pub(super) struct StreamedAnswer {
    keys: Arc<PlatformKeys>,
    public_key_mode: bool,
    timestamp: i64,
    nonce: String,
}

impl StreamedAnswer {
    pub(super) async fn new(state: &AppState, merchant: &MerchantAuth, request_headers: &HeaderMap) -> Result<StreamedAnswer, WxError> {
        let (keys, public_key_mode) = keys_for(state, merchant, request_headers).await?;
        Ok(StreamedAnswer { keys, public_key_mode, timestamp: super::auth::unix_now_s(), nonce: wxpay::random_alphanumeric(32) })
    }

    /// The signing message to feed with the body's bytes.
    pub(super) fn message(&self) -> wxpay::StreamedMessage {
        wxpay::StreamedMessage::new(self.timestamp, &self.nonce)
    }

    /// A 200 with `body` (what `message` was fed) and its signature headers.
    pub(super) fn respond(self, message: wxpay::StreamedMessage, body: axum::body::Body, content_type: &'static str) -> Response {
        let signer = self.keys.signer(self.public_key_mode);
        let signature = signer.key.sign_streamed(message);
        let mut response = (StatusCode::OK, body).into_response();
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        for (name, value) in header_values(self.timestamp, self.nonce, signer, &signature) {
            h.insert(name, HeaderValue::from_str(&value).expect("ASCII header value"));
        }
        response
    }
}

/// A signed 2xx response.
pub(super) async fn signed(
    state: &AppState,
    merchant: &MerchantAuth,
    request_headers: &HeaderMap,
    status: StatusCode,
    body: Vec<u8>,
) -> Result<Response, WxError> {
    let (keys, public_key_mode) = keys_for(state, merchant, request_headers).await?;
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
