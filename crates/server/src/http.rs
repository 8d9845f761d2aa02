//! What every surface shares: the connection loop (with the timeouts a half-sent request needs), bodies
//! read with a deadline and a size limit, work that moves money detached from its connection, bearer
//! tokens, request logging and security headers.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Duration;

/// Largest request body on any surface (a full batch of ledger transfers as JSON is about 2 MiB).
pub const BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// By default a client has this long to send a request's headers (also how long an idle keep-alive
/// connection waits); see [`serve`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// ... and this long to send its body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The client's address, as the connection loop saw it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Accept connections until the process ends: HTTP/1.1 with a header read timeout (a client that sends
/// half a request is cut off, not held forever), title-case header names (WeChat's `Wechatpay-Serial`
/// casing, for merchants' code that looks headers up verbatim), and the client's address on each request.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, header_read_timeout: Duration) -> std::io::Result<()> {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ClientAddr(addr));
                let app = app.clone();
                async move { tower::ServiceExt::oneshot(app, request.map(Body::new)).await }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .title_case_headers(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// Read the whole body before any handler runs: within [`BODY_READ_TIMEOUT`] and at most
/// [`BODY_BYTES_MAX`] bytes, else a clear error (and a slow client never holds a handler).
pub async fn bounded_body(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, BODY_BYTES_MAX)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "PARAM_ERROR", &format!("the body is larger than {BODY_BYTES_MAX} bytes"));
        }
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "PARAM_ERROR", "the body did not arrive in time"),
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Requests that may change something run to completion whatever the client does: the handler runs
/// in a task of its own, so a client that hangs up cannot cancel it between two steps. The task knows
/// where a person's request came from, for the risk engine ([`origin`]).
pub async fn detach(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let origin = origin(&request);
    match tokio::spawn(platform::risk::engine::ORIGIN.scope(origin, next.run(request))).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a request's task failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "internal error; see the server log")
        }
    }
}

/// A person's request's origin: the client's address and the app's `Qianbao-Device` id (1 to 64
/// printable ASCII characters; another value is ignored). Only the wallet API and pages: a merchant's
/// server calling the merchant API is not the payer's device.
fn origin(request: &Request) -> platform::risk::engine::Origin {
    let path = request.uri().path();
    if !(path.starts_with("/api/v1/") || path.starts_with("/wallet")) {
        return platform::risk::engine::Origin::default();
    }
    let device = request
        .headers()
        .get("qianbao-device")
        .and_then(|v| v.to_str().ok())
        .filter(|d| (1..=64).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_graphic()));
    platform::risk::engine::Origin { ip: request.extensions().get::<ClientAddr>().map(|c| c.0.ip()), device: device.map(str::to_string) }
}

/// One line per request: method, path, status, latency. Never headers (they carry tokens) or bodies.
pub async fn log_request(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), latency_us = started.elapsed().as_micros() as u64, "request");
    response
}

/// What every answer carries: no MIME sniffing, no framing by other sites, no referrer to other sites.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html")) {
        h.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        );
    }
    response
}

/// `{"code", "message"}` with a status (the shape the wallet and operator surfaces share).
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({"code": code, "message": message}))).into_response()
}

/// The bearer token of an `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse a JSON body, naming where it is wrong (`path: what`); `None` at the top level.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, (Option<String>, String)> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        (if path == "." { None } else { Some(path) }, e.inner().to_string())
    })
}

/// A query string's parameters, as typed, or what is wrong with them (naming the parameter).
pub fn query<T: serde::de::DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, String> {
    let text = uri.query().unwrap_or("");
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(text.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        if path == "." { e.inner().to_string() } else { format!("{path}: {}", e.inner()) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_needs_the_exact_token() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn query_strings_are_typed_and_errors_name_the_parameter() {
        #[derive(serde::Deserialize, Debug)]
        struct Q {
            limit: Option<i64>,
            mchid: Option<String>,
        }
        let q: Q = query(&"/x?limit=5&mchid=1900000109".parse().unwrap()).unwrap();
        assert_eq!((q.limit, q.mchid.as_deref()), (Some(5), Some("1900000109")));
        let e = query::<Q>(&"/x?limit=five".parse().unwrap()).unwrap_err();
        assert!(e.starts_with("limit"), "{e}");
    }
}
