//! `/v3/certificates`: every valid platform certificate, each encrypted under the caller's APIv3 key.

use super::WxError;
use super::auth::authenticate;
use super::signing::signed_json;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use platform::PlatformError;
use serde_json::json;
use std::sync::Arc;

pub(super) async fn certificates(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let keys = state.platform.merchants.platform_keys().await?;
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
