//! Partner networks on the wire, in the Alipay+ shape: JSON bodies, `Client-Id`, `Request-Time` (ms)
//! and `Signature: algorithm=HMAC-SHA256,keyVersion=1,signature=<base64>` over
//! `<METHOD> <path>\n<Client-Id>.<Request-Time>.<body>`, with the key both sides share; results as
//! `{"result": {"resultCode", "resultStatus": S|F|U, "resultMessage"}}`.
//! - [`client::HttpNetwork`]: Qianbao calling a network (the [`platform::networks::NetworkConnector`]).
//! - [`inbound`]: a network calling Qianbao (`/networks/v1/{network}/...`).
//! - [`sandbox`]: a network that behaves like a real one, for demos and tests.

pub mod client;
pub mod inbound;
pub mod sandbox;

use aws_lc_rs::hmac;

/// How far a request's time may be from ours (replays older than this are refused).
pub const CLOCK_SKEW_MS_MAX: i64 = 5 * 60_000;
/// The largest body either side sends or reads.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

pub fn signature(key: &str, method: &str, path: &str, client_id: &str, time_ms: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(format!("{method} {path}\n{client_id}.{time_ms}.").as_bytes());
    ctx.update(body);
    wxpay::base64::encode(ctx.sign().as_ref())
}

pub fn signature_header(signature: &str) -> String {
    format!("algorithm=HMAC-SHA256,keyVersion=1,signature={signature}")
}

/// The signature inside a `Signature` header.
pub fn signature_of_header(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| part.trim().strip_prefix("signature="))
}

/// Whether a request (or answer) carries a valid signature from `client_id` at a time close to `now_ms`.
pub fn verify(key: &str, method: &str, path: &str, headers: &axum::http::HeaderMap, body: &[u8], now_ms: i64) -> Result<String, String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let client_id = get("client-id").ok_or("the Client-Id header is missing")?;
    let time_ms: i64 = get("request-time").and_then(|t| t.parse().ok()).ok_or("Request-Time: milliseconds since 1970")?;
    if now_ms.abs_diff(time_ms) > CLOCK_SKEW_MS_MAX as u64 {
        return Err("Request-Time is more than five minutes from now".into());
    }
    let given = get("signature").and_then(signature_of_header).ok_or("Signature: algorithm=HMAC-SHA256,keyVersion=1,signature=...")?;
    let expected = signature(key, method, path, client_id, time_ms, body);
    if !crate::http::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err("the signature does not verify".into());
    }
    Ok(client_id.to_string())
}

/// An Alipay+-style result object.
pub fn result(code: &str, status: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"resultCode": code, "resultStatus": status, "resultMessage": message})
}

/// Money on the wire: `{"currency": "THB", "value": "12345"}` (minor units, as a string).
pub fn amount_json(m: money::Money) -> serde_json::Value {
    serde_json::json!({"currency": m.currency().code(), "value": m.minor().to_string()})
}

pub fn amount_of(v: &serde_json::Value) -> Option<money::Money> {
    let currency = money::Currency::from_code(v["currency"].as_str()?).ok()?;
    let minor: i64 = v["value"].as_str()?.parse().ok()?;
    money::Money::from_minor(minor, currency).ok()
}
