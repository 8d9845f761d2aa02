//! The operator console's operations, `/ops/operations`: the platform's signing keys (operator: rotate
//! the certificate, retire an old one once merchants have switched), a notification's replay (operator), a day's settlement run (finance, money moves)
//! and, in sandboxes, the manual clock (operator). Each form asks for a reason and a ticked
//! confirmation; the key rotation commits with its audit row, the jobs write theirs before they start
//! (as the operator API does).

use super::ops::{failed, holds, posted, reason_of, role_missing, session, to_sign_in};
use super::wallet::csrf;
use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use platform::PlatformError;
use platform::operators::{OperatorUser, Role};
use std::sync::Arc;

/// The most one post may move the sandbox clock: a day.
const CLOCK_ADVANCE_S_MAX: u64 = 86_400;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/ops/operations", get(operations)).route("/ops/operations/{action}", post(run))
}

async fn operations(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    operations_page(&state, lang, chosen, &user, &token, None, None).await
}

async fn operations_page(
    state: &AppState,
    lang: Lang,
    chosen: bool,
    user: &OperatorUser,
    token: &str,
    done: Option<String>,
    error: Option<String>,
) -> Response {
    let roles = [Role::Operator, Role::Finance];
    if !holds(user, &roles) {
        return role_missing(lang, chosen, user, csrf(state, token), &roles);
    }
    let keys = match state.platform.merchants.platform_keys().await {
        Ok(k) => k,
        Err(e) => return failed(e),
    };
    let view = |k: &platform::merchants::PlatformKey| {
        minijinja::context! { serial => k.serial, from => super::merchant::time_of(k.effective_at_ms), until => super::merchant::time_of(k.expires_at_ms) }
    };
    let context = minijinja::context! {
        user => user, csrf => csrf(state, token), done => done, error => error,
        certificates => keys.certificates.iter().map(view).collect::<Vec<_>>(), public_key => view(&keys.public_key),
        signer => keys.signer(false).serial.clone(),
        operator => user.has(Role::Operator), finance => user.has(Role::Finance), sandbox => state.manual_clock.is_some(),
        now => super::merchant::time_of(state.platform.now_ms()),
    };
    page("ops_operations.html", lang, chosen, context)
}

async fn run(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Path(action): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token, f)) = posted(&state, &headers, &body).await else { return to_sign_in() };
    let needs = if action == "settle" { Role::Finance } else { Role::Operator };
    if !holds(&user, &[needs]) {
        return role_missing(lang, chosen, &user, csrf(&state, &token), &[needs]);
    }
    let t = lang.messages();
    let refuse = |error: String| operations_page(&state, lang, chosen, &user, &token, None, Some(error));
    let Some(reason) = reason_of(&f) else { return refuse(t["ops_reason_needed"].clone()).await };
    if f.get("confirm").map(String::as_str) != Some("yes") {
        return refuse(t["ops_tick_confirm"].clone()).await;
    }
    let field = |name: &str| f.get(name).map(|v| v.trim().to_string()).unwrap_or_default();
    let (actor, audit) = (user.actor(), state.platform.audit.clone());
    let done: Result<String, PlatformError> = match action.as_str() {
        "rotate" => {
            let (actor, reason) = (actor.clone(), reason.clone());
            let row: platform::merchants::AuditOf = Box::new(move |serial| {
                audit.effect(&actor, "platform_keys.rotate", "platform_keys", &format!("new certificate {serial}"), &reason)
            });
            state
                .platform
                .merchants
                .rotate_platform_certificate(row)
                .await
                .map(|keys| format!("{} {}", t["ops_rotated"], keys.certificates.last().map_or("", |k| k.serial.as_str())))
        }
        "retire" => {
            let serial = field("serial");
            let row = audit.effect(&actor, "platform_keys.retire", &format!("platform_key:{serial}"), "", &reason);
            state.platform.merchants.retire_platform_key(&serial, Some(row)).await.map(|_| format!("{} {serial}", t["ops_retired"]))
        }
        "replay" => match audit.record(&actor, "notifications.replay", &format!("notification:{}", field("id")), "", &reason).await {
            Ok(()) => state.platform.outbox.replay(&field("id")).await.map(|_| t["ops_replayed"].clone()),
            Err(e) => Err(e),
        },
        "settle" => match audit.record(&actor, "settlements.run", "settlements", &field("day"), &reason).await {
            Ok(()) => state.platform.settlement.settle_day(&field("day")).await.map(|rows| format!("{} {}", t["ops_settled"], rows.len())),
            Err(e) => Err(e),
        },
        "clock" => advance_clock(&state, &actor, &reason, &field("advance_s")).await.map(|_| t["ops_clock_moved"].clone()),
        _ => Err(PlatformError::NotFound("operation")),
    };
    match done {
        Ok(done) => operations_page(&state, lang, chosen, &user, &token, Some(done), None).await,
        Err(e) if !e.is_internal() => refuse(e.to_string()).await,
        Err(e) => failed(e),
    }
}

/// Move the sandbox's manual clock (at most a day a post), then resolve what fell due.
async fn advance_clock(state: &AppState, actor: &str, reason: &str, seconds: &str) -> Result<(), PlatformError> {
    let clock = state.manual_clock.as_ref().ok_or(PlatformError::NotFound("sandbox clock"))?;
    let seconds: u64 = seconds
        .parse()
        .ok()
        .filter(|s| (1..=CLOCK_ADVANCE_S_MAX).contains(s))
        .ok_or_else(|| PlatformError::invalid("advance_s", format!("1 to {CLOCK_ADVANCE_S_MAX} seconds")))?;
    state.platform.audit.record(actor, "sandbox.clock_advance", "clock", &format!("{seconds} s"), reason).await?;
    clock.advance_s(seconds);
    state.platform.run_deadlines().await.map(|_| ())
}
