//! `POST /api/v1/qr/decode`: what an app's camera read, as an EMV QR payload decoded (objects,
//! recognised schemes, the verdict); the same answer as `qianbao qr decode`.

use super::{Answer, SignedIn, St, json, parse};
use axum::http::StatusCode;
use axum::response::Response;
use platform::PlatformError;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecodeIn {
    payload: String,
}

pub(super) async fn decode(SignedIn(_): SignedIn, _state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: DecodeIn = parse(&body)?;
    if r.payload.chars().count() > emvqr::PAYLOAD_CHARS_MAX {
        return Err(PlatformError::invalid("payload", format!("at most {} characters", emvqr::PAYLOAD_CHARS_MAX)).into());
    }
    Ok(json(StatusCode::OK, &crate::qr::decode(r.payload.trim())))
}
