//! `POST /v3/qianbao/emv-codes` (a Qianbao extension beside the WeChat v3 wire): the EMVCo payload of
//! one of the merchant's codes (a Native order's `code_url`, a static code), for wallets of every
//! network, with links to its QR image.

use super::WxError;
use super::auth::authenticate;
use super::signing::signed_json;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use platform::PlatformError;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmvCodeIn {
    code_url: String,
}

pub(super) async fn emv_code(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: EmvCodeIn = super::auth::parse_body(&body)?;
    let p = &state.platform.payments;
    let owner = if platform::payments::Payments::is_static_code(&r.code_url) {
        p.static_code(&r.code_url).await?.0.merchant.id
    } else {
        p.order(p.order_of_code_url(&r.code_url)?).await?.merchant_id
    };
    if owner != merchant.merchant.id {
        return Err(PlatformError::invalid("code_url", "not one of this merchant's codes").into());
    }
    let payload = p.emv_payload(&r.code_url).await?;
    let data: String = form_urlencoded::byte_serialize(payload.as_bytes()).collect();
    let body =
        json!({"emv_payload": payload, "svg_url": format!("/qr/code.svg?data={data}"), "png_url": format!("/qr/code.png?data={data}")});
    signed_json(&state, &merchant, &headers, &body).await
}
