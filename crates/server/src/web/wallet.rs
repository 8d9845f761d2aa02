//! The web wallet, `/wallet`: sign in, balances, money sent to you (accept or decline), send to a
//! friend with the PIN, history. Server-rendered forms that work without JavaScript. The session is the
//! wallet API's own session in an `HttpOnly; SameSite=Strict` cookie (`Secure` behind https); every
//! form carries a CSRF token, the MAC of the session (before sign-in, of a random cookie). Pages call
//! the platform directly; the JSON API stays the contract for apps.

use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::history::{HistoryKind, HistoryQuery};
use platform::p2p::SendTransfer;
use platform::{PersonId, PlatformError};
use std::collections::HashMap;
use std::sync::Arc;

const SESSION_COOKIE: &str = "qb_wallet";
const PRE_SESSION_COOKIE: &str = "qb_pre";
/// History lines on the home page.
const HOME_HISTORY_MAX: usize = 10;
/// A form body is small: fields are a phone, a password, an amount, a note.
const FORM_BYTES_MAX: usize = 4 * 1024;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/wallet", get(home))
        .route("/wallet/sign-in", get(sign_in_form).post(sign_in))
        .route("/wallet/sign-out", post(sign_out))
        .route("/wallet/transfers", post(send))
        .route("/wallet/transfers/{id}/accept", post(|s, p, h, b| respond(s, p, h, b, true)))
        .route("/wallet/transfers/{id}/decline", post(|s, p, h, b| respond(s, p, h, b, false)))
        .route("/wallet/register", get(register_form).post(register))
        .merge(super::wallet_pay::routes())
        .merge(super::wallet_money::routes())
        .merge(super::wallet_social::routes())
        .merge(super::wallet_account::routes())
        .merge(super::wallet_giving::routes())
        .merge(super::wallet_accounts::routes())
}

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

pub(super) fn csrf(state: &AppState, secret: &str) -> String {
    crate::http::hex(&state.platform.web_mac("csrf", secret.as_bytes())[..16])
}

/// The pre-session cookie `name`, when the form carries the CSRF token made from it (`None`: the form
/// expired or was forged).
pub(super) fn submitted_pre<'a>(state: &AppState, headers: &'a HeaderMap, name: &str, form: &HashMap<String, String>) -> Option<&'a str> {
    cookie(headers, name).filter(|pre| form.get("csrf") == Some(&csrf(state, pre)))
}

pub(super) fn secure(state: &AppState) -> &'static str {
    if state.platform.config().public_url.starts_with("https://") { "; Secure" } else { "" }
}

/// Signed in: to `home`, with the session cookie (`HttpOnly; SameSite=Strict`, scoped to `path`).
pub(super) fn session_started(state: &AppState, name: &str, path: &str, token: &str, home: &str) -> Response {
    let mut response = redirect(home);
    let cookie = format!("{name}={token}; Path={path}; HttpOnly; SameSite=Strict{}", secure(state));
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a cookie"));
    response
}

/// Signed out: to `to`, the session cookie cleared.
pub(super) fn session_ended(state: &AppState, name: &str, path: &str, to: &str) -> Response {
    let mut response = redirect(to);
    let cookie = format!("{name}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Strict{}", secure(state));
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a cookie"));
    response
}

pub(super) fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// To the sign-in page, keeping a language chosen with `?lang=` (in its cookie).
pub(super) fn to_sign_in(uri: &Uri, headers: &HeaderMap) -> Response {
    let mut response = redirect("/wallet/sign-in");
    if let (lang, true) = Lang::of(uri, headers) {
        super::remember(&mut response, lang);
    }
    response
}

pub(super) fn form(body: &[u8]) -> HashMap<String, String> {
    if body.len() > FORM_BYTES_MAX {
        return HashMap::new();
    }
    form_urlencoded::parse(body).into_owned().collect()
}

/// The signed-in person and their session token, from the cookie.
pub(super) async fn session(state: &AppState, headers: &HeaderMap) -> Option<(PersonId, String)> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let person = state.platform.people.authenticate(token).await.ok()?;
    Some((person, token.to_string()))
}

async fn sign_in_form(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    sign_in_page(&state, lang, chosen, cookie(&headers, PRE_SESSION_COOKIE), "", None)
}

fn sign_in_page(state: &AppState, lang: Lang, chosen: bool, pre: Option<&str>, phone: &str, error: Option<&str>) -> Response {
    let page =
        PreSession { template: "wallet_sign_in.html", refused: StatusCode::UNAUTHORIZED, cookie: PRE_SESSION_COOKIE, path: "/wallet" };
    page.render(state, lang, chosen, pre, error, minijinja::context! { phone => phone })
}

/// A page before sign-in (signing in, registering): its form's CSRF token is the MAC of a random cookie.
pub(super) struct PreSession {
    pub template: &'static str,
    /// The status when the page comes back with an error.
    pub refused: StatusCode,
    /// The random cookie's name and path (each app has its own).
    pub cookie: &'static str,
    pub path: &'static str,
}

impl PreSession {
    pub(super) fn render(
        &self,
        state: &AppState,
        lang: Lang,
        chosen: bool,
        pre: Option<&str>,
        error: Option<&str>,
        fields: minijinja::Value,
    ) -> Response {
        let pre = pre.map(str::to_string).unwrap_or_else(|| wxpay::random_alphanumeric(32));
        let context = minijinja::context! { csrf => csrf(state, &pre), error => error, ..fields };
        let mut response = page(self.template, lang, chosen, context);
        let cookie = format!("{}={pre}; Path={}; HttpOnly; SameSite=Strict{}", self.cookie, self.path, secure(state));
        response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a cookie"));
        if error.is_some() {
            *response.status_mut() = self.refused;
        }
        response
    }
}

async fn sign_in(
    State(state): State<Arc<AppState>>,
    client: Option<axum::Extension<crate::http::ClientAddr>>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let f = form(&body);
    let pre = submitted_pre(&state, &headers, PRE_SESSION_COOKIE, &f);
    let t = lang.messages();
    if pre.is_none() {
        return sign_in_page(&state, lang, false, None, "", Some(&t["expired_form"]));
    }
    let phone = f.get("phone").map(String::as_str).unwrap_or("");
    // Sign-in attempts are throttled per phone and per client address, as on the API.
    let address = client.map(|axum::Extension(c)| c.0.ip());
    match state.platform.people.sign_in(phone, f.get("password").map(String::as_str).unwrap_or(""), address).await {
        Ok(session) => signed_in(&state, &session),
        Err(PlatformError::Conflict { code: platform::Conflict::SignInFailed, .. } | PlatformError::Invalid { .. }) => {
            sign_in_page(&state, lang, false, pre, phone, Some(&t["wrong_sign_in"]))
        }
        Err(e @ PlatformError::TooManyAttempts { .. }) => sign_in_page(&state, lang, false, pre, phone, Some(&e.to_string())),
        Err(e) => error_page(e),
    }
}

/// A signed-in wallet page: `context` builds what `template` shows for the person, given their session's
/// token (the forms' CSRF token is its MAC) and the reader's language; signed out, the sign-in page.
pub(super) async fn signed_in_page<F, Fut>(state: &AppState, uri: &Uri, headers: &HeaderMap, template: &str, context: F) -> Response
where
    F: FnOnce(PersonId, String, Lang) -> Fut,
    Fut: std::future::Future<Output = Result<minijinja::Value, PlatformError>>,
{
    let Some((person, token)) = session(state, headers).await else { return to_sign_in(uri, headers) };
    let (lang, chosen) = Lang::of(uri, headers);
    match context(person, token, lang).await {
        Ok(context) => page(template, lang, chosen, context),
        Err(e) => error_page(e),
    }
}

pub(super) fn error_page(e: PlatformError) -> Response {
    tracing::error!(error = %e, "web wallet");
    let status = crate::wallet::status_of(&e);
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], e.to_string()).into_response()
}

/// The answer to a form whose CSRF token does not check out.
pub(super) fn forged() -> Response {
    (StatusCode::FORBIDDEN, "this form expired or did not come from this site: reload the page").into_response()
}

/// A signed-in form's fields once its CSRF token checks out; else the answer to give.
pub(super) async fn checked(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(PersonId, HashMap<String, String>), Response> {
    let Some((person, token)) = session(state, headers).await else { return Err(redirect("/wallet/sign-in")) };
    let f = form(body);
    if f.get("csrf") != Some(&csrf(state, &token)) {
        return Err(forged());
    }
    Ok((person, f))
}

async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Ok((_, _)) = checked(&state, &headers, &body).await
        && let Some(token) = cookie(&headers, SESSION_COOKIE)
    {
        let _ = state.platform.people.sign_out(token).await;
    }
    let mut response = redirect("/wallet/sign-in");
    let expired = format!("{SESSION_COOKIE}=; Path=/wallet; Max-Age=0; HttpOnly; SameSite=Strict{}", secure(&state));
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&expired).expect("a cookie"));
    response
}

/// What happened, shown once on the home page (`?done=` / `?error=`): codes, never free text.
/// `done` is one of the page's own message codes (anything else shows nothing); `error` is the
/// platform's words, shortened.
pub(super) fn notice(uri: &Uri, lang: Lang, codes: &[&str]) -> (Option<String>, Option<String>) {
    let q: HashMap<String, String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let done = q.get("done").filter(|d| codes.contains(&d.as_str())).map(|d| lang.messages()[d.as_str()].clone());
    (done, q.get("error").map(|e| e.chars().take(200).collect()))
}

async fn home(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let Some((person, token)) = session(&state, &headers).await else { return to_sign_in(&uri, &headers) };
    let (lang, chosen) = Lang::of(&uri, &headers);
    match home_context(&state, person, &token, &uri, lang).await {
        Ok(context) => page("wallet_home.html", lang, chosen, context),
        Err(e) => error_page(e),
    }
}

async fn home_context(state: &AppState, person: PersonId, token: &str, uri: &Uri, lang: Lang) -> Result<minijinja::Value, PlatformError> {
    let p = &state.platform;
    let me = p.people.person(person).await?;
    let balances = p.wallet.balances(person).await?;
    let friends = p.social.friends(person).await?;
    let names: HashMap<PersonId, String> = friends.iter().map(|f| (f.person_id, f.display_name.clone())).collect();
    let accepted: Vec<_> = friends
        .iter()
        .filter(|f| f.state == platform::social::FriendState::Accepted)
        .map(|f| minijinja::context! { id => f.person_id.to_string(), name => f.display_name })
        .collect();
    let pending_in = p.history.page(person, HistoryQuery { kind: Some(HistoryKind::TransferIn), limit: 20, ..Default::default() }).await?;
    let incoming: Vec<_> = pending_in
        .iter()
        .filter(|i| i.state == "pending")
        .map(|i| {
            let from = i.counterparty_id.and_then(|c| names.get(&c).cloned()).unwrap_or_default();
            minijinja::context! { id => i.id.to_string(), from => from, amount => platform::wallet::decimal(i.amount_minor.abs(), i.currency), currency => i.currency.code() }
        })
        .collect();
    let history: Vec<_> = p
        .history
        .page(person, HistoryQuery { limit: HOME_HISTORY_MAX, ..Default::default() })
        .await?
        .iter()
        .map(|i| {
            minijinja::context! {
                time => platform::wallet::iso_utc(i.created_at_ms), kind => i.kind.as_str(),
                amount => platform::wallet::decimal(i.amount_minor, i.currency), currency => i.currency.code(), state => i.state,
            }
        })
        .collect();
    let (done, error) = notice(uri, lang, &["sent", "accepted", "declined", "topped_up"]);
    Ok(minijinja::context! {
        name => me.display_name, balances => balances.iter().map(|b| minijinja::context! {
            currency => b.currency.code(), available => b.available, incoming_pending => b.incoming_pending,
        }).collect::<Vec<_>>(),
        friends => accepted, incoming => incoming, history => history, notice => done, error => error,
        csrf => csrf(state, token), key => wxpay::random_alphanumeric(24), unread => p.official_accounts.unread(person).await?,
    })
}

/// Back home with what went wrong, in the platform's words.
pub(super) fn failed(e: PlatformError) -> Response {
    failed_to("/wallet", e)
}

/// Back to `path` with what went wrong, in the platform's words (an internal error is a page of its own).
pub(super) fn failed_to(path: &str, e: PlatformError) -> Response {
    if e.is_internal() {
        return error_page(e);
    }
    let message: String = form_urlencoded::byte_serialize(e.to_string().as_bytes()).collect();
    redirect(&format!("{path}?error={message}"))
}

async fn send(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    let Ok(to) = PersonId::parse("to", field("to")) else { return failed(PlatformError::invalid("to", "choose a friend")) };
    let request = SendTransfer {
        to,
        amount: field("amount"),
        currency: field("currency"),
        note: field("note"),
        pin: Some(field("pin")).filter(|p| !p.is_empty()),
        card: None,
    };
    // The form's key makes a double submission (a reload, a second click) one transfer.
    let key = Some(field("key")).filter(|k| !k.is_empty() && k.len() <= 64).map(|k| format!("web-{k}"));
    match state.platform.p2p.send(person, request, key.as_deref()).await {
        Ok(_) => redirect("/wallet?done=sent"),
        Err(e) => failed(e),
    }
}

async fn respond(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
    accept: bool,
) -> Response {
    let (person, _) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<i64>() else { return failed(PlatformError::NotFound("transfer")) };
    let outcome = if accept { state.platform.p2p.accept(person, id).await } else { state.platform.p2p.decline(person, id).await };
    match outcome {
        Ok(_) => redirect(if accept { "/wallet?done=accepted" } else { "/wallet?done=declined" }),
        Err(e) => failed(e),
    }
}

async fn register_form(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    register_page(&state, lang, chosen, cookie(&headers, PRE_SESSION_COOKIE), "", "", None)
}

fn register_page(state: &AppState, lang: Lang, chosen: bool, pre: Option<&str>, name: &str, phone: &str, error: Option<&str>) -> Response {
    let page =
        PreSession { template: "wallet_register.html", refused: StatusCode::BAD_REQUEST, cookie: PRE_SESSION_COOKIE, path: "/wallet" };
    page.render(state, lang, chosen, pre, error, minijinja::context! { name => name, phone => phone })
}

/// A new wallet, then signed in as at the sign-in form.
async fn register(
    State(state): State<Arc<AppState>>,
    client: Option<axum::Extension<crate::http::ClientAddr>>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let f = form(&body);
    let pre = submitted_pre(&state, &headers, PRE_SESSION_COOKIE, &f);
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    if pre.is_none() {
        return register_page(&state, lang, false, None, field("name"), field("phone"), Some(&lang.messages()["expired_form"]));
    }
    let region = if field("region") == "HK" { "HK" } else { "CN" };
    if let Err(e) = state.platform.people.register(field("phone"), field("password"), region, field("name")).await {
        if e.is_internal() {
            return error_page(e);
        }
        return register_page(&state, lang, false, pre, field("name"), field("phone"), Some(&e.to_string()));
    }
    match state.platform.people.sign_in(field("phone"), field("password"), client.map(|axum::Extension(c)| c.0.ip())).await {
        Ok(session) => signed_in(&state, &session),
        Err(e) => error_page(e),
    }
}

/// Home, with the session's cookie.
fn signed_in(state: &AppState, session: &platform::people::Session) -> Response {
    let mut response = redirect("/wallet");
    let max_age = (session.expires_at_ms - state.platform.now_ms()).max(0) / 1000;
    let cookie = format!("{SESSION_COOKIE}={}; Path=/wallet; Max-Age={max_age}; HttpOnly; SameSite=Strict{}", session.token, secure(state));
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a cookie"));
    response
}
