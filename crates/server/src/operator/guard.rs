//! The operator API's guard: before any handler runs, find the route's [`Rule`], then in this order
//! refuse a caller who is not signed in (401), who lacks the role (403 `ROLE_REQUIRED`, naming the
//! roles), or whose change gives no reason (400 `REASON_REQUIRED`); then put the [`Operator`] on the
//! request. A route without a rule cannot exist (the router is built from the table), and would be
//! refused here if it did.

use super::{Access, ApiError, Operator, Rule, rules};
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::operators::{OperatorUser, names};
use std::sync::Arc;

/// The header that carries why an operator makes a change (percent-encoded UTF-8).
pub const REASON_HEADER: &str = "qianbao-reason";
/// Characters of a reason, at least and at most.
pub const REASON_CHARS_MIN: usize = 3;
pub const REASON_CHARS_MAX: usize = 500;

pub(super) fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "sign in first: POST /admin/api/sessions, then Authorization: Bearer <session token>",
    )
}

pub(super) async fn guard(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    match admit(&state, &mut request).await {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn admit(state: &AppState, request: &mut Request) -> Result<(), ApiError> {
    let path = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let method = request.method().as_str().to_string();
    let Some(rule) = rules().get(&(method.as_str(), path.as_str())).copied() else {
        let methods: Vec<&str> = rules().keys().filter(|(_, p)| *p == path).map(|(m, _)| *m).collect();
        if !methods.is_empty() {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("{path} takes {}", methods.join(", ")),
            ));
        }
        return Err(ApiError::new(StatusCode::FORBIDDEN, "ROLE_REQUIRED", "no role may call this route"));
    };
    let token = crate::http::bearer(request.headers()).unwrap_or("").to_string();
    match rule.access {
        Access::Public => return Ok(()),
        Access::Bootstrap => return bootstrap(state, &token),
        Access::Own | Access::Signed | Access::Roles(_) => {}
    }
    let user = state.platform.operators.session(&token).await.map_err(|_| unauthorized())?;
    check_role(&rule, &user)?;
    let reason = if rule.needs_reason() { reason(request.headers())? } else { String::new() };
    request.extensions_mut().insert(Operator { user, reason, token });
    Ok(())
}

fn bootstrap(state: &AppState, token: &str) -> Result<(), ApiError> {
    if token.is_empty() || !crate::http::constant_time_eq(token.as_bytes(), state.admin_token.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the bootstrap token is missing or wrong (Authorization: Bearer <token>)",
        ));
    }
    Ok(())
}

fn check_role(rule: &Rule, user: &OperatorUser) -> Result<(), ApiError> {
    let Access::Roles(allowed) = rule.access else { return Ok(()) };
    if allowed.iter().any(|r| user.has(*r)) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "ROLE_REQUIRED",
        format!(
            "{} {} needs the role {}; {} has {}",
            rule.method,
            rule.path,
            names(allowed).replace(',', " or "),
            user.username,
            names(&user.roles)
        ),
    ))
}

/// The reason a change gives: percent-decoded, trimmed, 3 to 500 characters.
pub fn reason(headers: &HeaderMap) -> Result<String, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "REASON_REQUIRED",
            format!("say why in the Qianbao-Reason header: {REASON_CHARS_MIN} to {REASON_CHARS_MAX} characters, percent-encoded UTF-8"),
        )
    };
    let raw = headers.get(REASON_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
    let decoded = percent_decode(raw).ok_or_else(missing)?;
    let text = decoded.trim();
    let n = text.chars().count();
    if !(REASON_CHARS_MIN..=REASON_CHARS_MAX).contains(&n) || text.chars().any(char::is_control) {
        return Err(missing());
    }
    Ok(text.to_string())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(REASON_HEADER, value.parse().unwrap());
        h
    }

    #[test]
    fn a_reason_is_percent_decoded_utf8_of_bounded_length() {
        assert_eq!(reason(&headers("ticket%20OPS-12")).unwrap(), "ticket OPS-12");
        assert_eq!(reason(&headers("%E9%80%80%E6%AC%BE%E7%94%B3%E8%AF%89")).unwrap(), "退款申诉");
        assert!(reason(&HeaderMap::new()).is_err());
        assert!(reason(&headers("ok")).is_err());
        assert!(reason(&headers("%ZZbad")).is_err());
        assert!(reason(&headers("%FF%FEnot-utf8")).is_err());
        assert!(reason(&headers(&"x".repeat(REASON_CHARS_MAX + 1))).is_err());
        assert!(reason(&headers("line%0Abreak")).is_err());
    }
}
