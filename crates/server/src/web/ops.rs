//! The operator console, `/ops`: operators sign in by name (and their TOTP code when enrolled) and see a
//! dashboard (the day's merchant payments, the notification backlog, requests waiting for a second pair of
//! eyes, the ledger verified on demand), decide four-eyes requests, read the audit log and look people up
//! (and, as risk, set their KYC tier). Pages check the same roles as the operator API; every change asks
//! for a reason and a confirmation and lands in the audit log.
//! The session is an operator session in an `HttpOnly; SameSite=Strict` cookie scoped to `/ops`; every
//! form carries a CSRF token (the MAC of the session, before sign-in of a random cookie).

use super::wallet::{PreSession, cookie, csrf, form, redirect, session_ended, session_started, submitted_pre};
use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::PlatformError;
use platform::operators::approvals::ApprovalState;
use platform::operators::{Acting, OperatorUser, Role};
use std::collections::HashMap;
use std::sync::Arc;

const SESSION_COOKIE: &str = "qb_ops";
const PRE_SESSION_COOKIE: &str = "qb_opre";
const DAY_MS: i64 = 86_400_000;
/// Audit entries per page.
const AUDIT_PAGE: i64 = 50;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ops", get(dashboard))
        .route("/ops/sign-in", get(sign_in_form).post(sign_in))
        .route("/ops/sign-out", post(sign_out))
        .route("/ops/verify", post(verify))
        .route("/ops/approvals", get(approvals))
        .route("/ops/approvals/{id}", post(decide))
        .route("/ops/audit", get(audit))
        .route("/ops/people", get(people))
        .route("/ops/people/{id}/kyc", post(set_kyc_tier))
}

/// The signed-in operator and their token, from the cookie.
pub(super) async fn session(state: &AppState, headers: &HeaderMap) -> Option<(OperatorUser, String)> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let user = state.platform.operators.session(token).await.ok()?;
    Some((user, token.to_string()))
}

pub(super) fn to_sign_in() -> Response {
    redirect("/ops/sign-in")
}

pub(super) fn failed(e: PlatformError) -> Response {
    tracing::error!(error = %e, "operator console");
    (crate::wallet::status_of(&e), [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], e.to_string()).into_response()
}

/// The page saying the operator's roles do not include this one (as the API's 403 `ROLE_REQUIRED`).
pub(super) fn role_missing(lang: Lang, chosen: bool, user: &OperatorUser, token_csrf: String, roles: &[Role]) -> Response {
    let context = minijinja::context! { user => user, csrf => token_csrf, needed => platform::operators::names(roles).replace(',', ", ") };
    let mut response = page("ops_forbidden.html", lang, chosen, context);
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

pub(super) fn holds(user: &OperatorUser, roles: &[Role]) -> bool {
    roles.iter().any(|r| user.has(*r))
}

async fn sign_in_form(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    sign_in_page(&state, lang, chosen, cookie(&headers, PRE_SESSION_COOKIE), "", None)
}

fn sign_in_page(state: &AppState, lang: Lang, chosen: bool, pre: Option<&str>, username: &str, error: Option<&str>) -> Response {
    let page = PreSession { template: "ops_sign_in.html", refused: StatusCode::UNAUTHORIZED, cookie: PRE_SESSION_COOKIE, path: "/ops" };
    page.render(state, lang, chosen, pre, error, minijinja::context! { username => username })
}

async fn sign_in(
    State(state): State<Arc<AppState>>,
    client: Option<axum::Extension<crate::http::ClientAddr>>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let (f, t) = (form(&body), lang.messages());
    let pre = submitted_pre(&state, &headers, PRE_SESSION_COOKIE, &f);
    let field = |name: &str| f.get(name).map(|v| v.trim()).unwrap_or("");
    if pre.is_none() {
        return sign_in_page(&state, lang, false, None, field("username"), Some(&t["expired_form"]));
    }
    let address = client.map(|axum::Extension(c)| c.0.ip());
    let code = Some(field("totp")).filter(|c| !c.is_empty());
    match state.platform.operators.sign_in(field("username"), field("password"), code, address).await {
        Ok((token, _, _)) => session_started(&state, SESSION_COOKIE, "/ops", &token, "/ops"),
        Err(PlatformError::Unauthorized | PlatformError::Conflict { .. }) => {
            sign_in_page(&state, lang, false, pre, field("username"), Some(&t["ops_wrong_sign_in"]))
        }
        Err(e @ PlatformError::TooManyAttempts { .. }) => sign_in_page(&state, lang, false, pre, field("username"), Some(&e.to_string())),
        Err(e) => failed(e),
    }
}

async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Some((_, token)) = session(&state, &headers).await
        && form(&body).get("csrf") == Some(&csrf(&state, &token))
    {
        let _ = state.platform.operators.sign_out(&token).await;
    }
    session_ended(&state, SESSION_COOKIE, "/ops", "/ops/sign-in")
}

/// A signed-in form post: the operator, their token and the form, when the CSRF token is the session's.
pub(super) async fn posted(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Option<(OperatorUser, String, HashMap<String, String>)> {
    let (user, token) = session(state, headers).await?;
    let f = form(body);
    (f.get("csrf") == Some(&csrf(state, &token))).then_some((user, token, f))
}

/// A reason from a form: trimmed, 3 to 500 characters (as the API's `Qianbao-Reason`).
pub(super) fn reason_of(f: &HashMap<String, String>) -> Option<String> {
    let r = f.get("reason").map(|r| r.trim().to_string()).unwrap_or_default();
    let n = r.chars().count();
    (3..=500).contains(&n).then_some(r)
}

async fn dashboard(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    dashboard_page(&state, lang, chosen, &user, &token, None).await
}

async fn dashboard_page(
    state: &AppState,
    lang: Lang,
    chosen: bool,
    user: &OperatorUser,
    token: &str,
    verified: Option<minijinja::Value>,
) -> Response {
    let now = state.platform.now_ms();
    let day = now - now.rem_euclid(DAY_MS);
    let p = &state.platform;
    let (totals, backlog, waiting) = match (
        p.payments.totals(day, day + DAY_MS).await,
        p.outbox.backlog().await,
        p.operators.approvals.list(Some(ApprovalState::Pending), platform::operators::approvals::APPROVALS_PAGE_MAX).await,
    ) {
        (Ok(t), Ok(b), Ok(w)) => (t, b, w),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return failed(e),
    };
    let totals: Vec<minijinja::Value> = totals
        .iter()
        .map(|t| minijinja::context! { currency => t.currency.code(), count => t.count, amount => platform::wallet::decimal(t.amount_minor, t.currency) })
        .collect();
    let context = minijinja::context! {
        user => user, csrf => csrf(state, token), totals => totals, backlog => backlog, waiting => waiting.len(),
        day => jiff::Timestamp::from_millisecond(day).map(|t| t.strftime("%Y-%m-%d").to_string()).unwrap_or_default(), may_verify => holds(user, &[Role::Finance, Role::Risk]), verified => verified,
    };
    page("ops_dashboard.html", lang, chosen, context)
}

/// `ledger verify` on demand (finance, risk): the whole journal replayed, so one at a time per instance.
async fn verify(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token, _)) = posted(&state, &headers, &body).await else { return to_sign_in() };
    let roles = [Role::Finance, Role::Risk];
    if !holds(&user, &roles) {
        return role_missing(lang, chosen, &user, csrf(&state, &token), &roles);
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let started = std::time::Instant::now();
    let report = match state.platform.verify_ledger().await {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let verified = minijinja::context! {
        ok => report.ok(), accounts => report.accounts, transfers => report.transfers, pending => report.pending_open,
        problems => report.problems, ms => started.elapsed().as_millis() as u64,
    };
    dashboard_page(&state, lang, chosen, &user, &token, Some(verified)).await
}

async fn approvals(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    approvals_page(&state, lang, chosen, &user, &token, q.get("done").cloned(), None).await
}

async fn approvals_page(
    state: &AppState,
    lang: Lang,
    chosen: bool,
    user: &OperatorUser,
    token: &str,
    notice: Option<String>,
    confirm: Option<minijinja::Value>,
) -> Response {
    let list = match state.platform.operators.approvals.list(None, 50).await {
        Ok(list) => list,
        Err(e) => return failed(e),
    };
    let view: Vec<minijinja::Value> = list
        .iter()
        .map(|a| {
            let mine = a.requested_by == user.actor();
            minijinja::context! {
                id => a.id.to_string(), action => a.action.as_str(), summary => a.summary, role => a.role.as_str(),
                requested_by => a.requested_by, reason => a.reason, state => a.state.as_str(),
                decided_by => a.decided_by, decision_reason => a.decision_reason,
                at => super::merchant::time_of(a.created_at_ms),
                may_decide => a.state == ApprovalState::Pending && !mine && user.has(a.role),
            }
        })
        .collect();
    let notice = notice.filter(|n| ["approved", "rejected"].contains(&n.as_str()));
    let context = minijinja::context! { user => user, csrf => csrf(state, token), approvals => view, notice => notice, confirm => confirm };
    page("ops_approvals.html", lang, chosen, context)
}

/// Decide a request: the first post shows what will happen and asks to confirm; the confirmed post
/// approves (the action runs) or rejects.
async fn decide(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token, f)) = posted(&state, &headers, &body).await else { return to_sign_in() };
    let t = lang.messages();
    let Ok(id) = platform::ids::parse("id", &id) else { return failed(PlatformError::NotFound("approval")) };
    let approve = f.get("decision").map(String::as_str) == Some("approve");
    let Some(reason) = reason_of(&f) else {
        return approvals_page(
            &state,
            lang,
            chosen,
            &user,
            &token,
            None,
            Some(minijinja::context! { error => t["ops_reason_needed"].clone() }),
        )
        .await;
    };
    if f.get("confirm").map(String::as_str) != Some("yes") {
        let approval = match state.platform.operators.approvals.get(id).await {
            Ok(a) => a,
            Err(e) => return failed(e),
        };
        let confirm = minijinja::context! {
            id => id.to_string(), summary => approval.summary, decision => if approve { "approve" } else { "reject" }, reason => reason,
        };
        return approvals_page(&state, lang, chosen, &user, &token, None, Some(confirm)).await;
    }
    let acting = Acting { by: &user, reason: &reason };
    let done = if approve {
        crate::operator::approvals::approve_and_run(&state, acting, id).await.map(|_| "approved")
    } else {
        state.platform.operators.approvals.reject(acting, id).await.map(|_| "rejected").map_err(Into::into)
    };
    match done {
        Ok(done) => redirect(&format!("/ops/approvals?done={done}")),
        Err(e) => approvals_page(&state, lang, chosen, &user, &token, None, Some(minijinja::context! { error => e.message })).await,
    }
}

async fn audit(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    let roles = [Role::Admin, Role::Risk];
    if !holds(&user, &roles) {
        return role_missing(lang, chosen, &user, csrf(&state, &token), &roles);
    }
    let before = q.get("before").and_then(|b| platform::ids::parse("before", b).ok());
    let entries = match state.platform.audit.page(AUDIT_PAGE, before).await {
        Ok(e) => e,
        Err(e) => return failed(e),
    };
    let next = (entries.len() as i64 == AUDIT_PAGE).then(|| entries.last().map(|e| e.id.to_string())).flatten();
    let view: Vec<minijinja::Value> = entries
        .iter()
        .map(|e| minijinja::context! { at => super::merchant::time_of(e.at_ms), actor => e.actor, action => e.action, target => e.target, detail => e.detail, reason => e.reason })
        .collect();
    page("ops_audit.html", lang, chosen, minijinja::context! { user => user, csrf => csrf(&state, &token), entries => view, next => next })
}

/// `+8613800000001` as support sees it: the country code and the last four.
fn masked_phone(phone: &str) -> String {
    let keep = phone.chars().count().saturating_sub(4);
    phone.chars().enumerate().map(|(i, c)| if (3..keep).contains(&i) { '•' } else { c }).collect()
}

async fn people(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    people_page(&state, lang, chosen, &user, &token, &q, None).await
}

async fn people_page(
    state: &AppState,
    lang: Lang,
    chosen: bool,
    user: &OperatorUser,
    token: &str,
    q: &HashMap<String, String>,
    confirm: Option<minijinja::Value>,
) -> Response {
    let roles = [Role::Risk, Role::Support];
    if !holds(user, &roles) {
        return role_missing(lang, chosen, user, csrf(state, token), &roles);
    }
    let phone = q.get("phone").map(|p| p.trim().to_string()).unwrap_or_default();
    let mut found = None;
    if !phone.is_empty()
        && let Ok(person) = state.platform.people.person_by_phone(&phone).await
    {
        let balances = match state.platform.wallet.balances(person.id).await {
            Ok(b) => b,
            Err(e) => return failed(e),
        };
        // Reading a person's personal data is itself audited.
        let target = format!("person:{}", person.id);
        if let Err(e) = state.platform.audit.record(&user.actor(), "people.read", &target, "looked up by phone", "operator console").await {
            return failed(e);
        }
        let risk = user.has(Role::Risk);
        found = Some(minijinja::context! {
            id => person.id.to_string(), name => person.display_name, region => person.region, kyc_tier => person.kyc_tier,
            phone => if risk { person.phone.clone() } else { masked_phone(&person.phone) },
            balances => balances.iter().map(|b| minijinja::context! { currency => b.currency.code(), available => b.available.clone() }).collect::<Vec<_>>(),
        });
    }
    let context = minijinja::context! {
        user => user, csrf => csrf(state, token), phone => phone, searched => !phone.is_empty(), person => found,
        phone_q => form_urlencoded::byte_serialize(phone.as_bytes()).collect::<String>(),
        may_set_tier => user.has(Role::Risk), confirm => confirm, done => q.get("done").is_some(),
    };
    page("ops_people.html", lang, chosen, context)
}

/// Set a person's KYC tier (risk): confirmed first, with a reason, audited.
async fn set_kyc_tier(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token, f)) = posted(&state, &headers, &body).await else { return to_sign_in() };
    if !user.has(Role::Risk) {
        return role_missing(lang, chosen, &user, csrf(&state, &token), &[Role::Risk]);
    }
    let Ok(person) = platform::PersonId::parse("id", &id) else { return failed(PlatformError::NotFound("person")) };
    let person = match state.platform.people.person(person).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let query = HashMap::from([("phone".to_string(), person.phone.clone())]);
    let tier: i64 = f.get("tier").and_then(|t| t.parse().ok()).unwrap_or(-1);
    let reason = reason_of(&f);
    if f.get("confirm").map(String::as_str) != Some("yes") || reason.is_none() {
        let t = lang.messages();
        let confirm = minijinja::context! {
            tier => tier, reason => reason.clone().unwrap_or_default(), before => person.kyc_tier,
            error => reason.is_none().then(|| t["ops_reason_needed"].clone()),
        };
        return people_page(&state, lang, chosen, &user, &token, &query, Some(confirm)).await;
    }
    let before = person.kyc_tier;
    let detail = format!("tier {before} → {tier}");
    let audit = state.platform.audit.effect(
        &user.actor(),
        "people.set_kyc_tier",
        &format!("person:{}", person.id),
        &detail,
        &reason.unwrap_or_default(),
    );
    let done = state.platform.people.set_kyc_tier_audited(person.id, tier, audit).await.map(|_| ());
    match done {
        Ok(()) => {
            redirect(&format!("/ops/people?phone={}&done=1", form_urlencoded::byte_serialize(person.phone.as_bytes()).collect::<String>()))
        }
        Err(e @ PlatformError::Invalid { .. }) => {
            let confirm = minijinja::context! { tier => tier, before => person.kyc_tier, error => e.to_string() };
            people_page(&state, lang, chosen, &user, &token, &query, Some(confirm)).await
        }
        Err(e) => failed(e),
    }
}
