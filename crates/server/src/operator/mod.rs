//! The operator API, `/admin/api/...`: operators sign in by name; every route names the roles that may
//! call it ([`table`]), the guard checks them and asks a change for its reason, every action is audited;
//! errors `{"code", "message"}` mapped from the platform's in one place ([`ApiError`]). One file per
//! resource.

pub(crate) mod approvals;
mod audit;
mod charities;
mod freezes;
mod fx;
mod guard;
pub mod ledger;
mod merchants;
mod networks;
mod notifications;
mod operators;
mod people;
mod platform_keys;
mod qr;
mod refunds;
mod reviews;
mod risk_rules;
mod sandbox;
mod screening;
mod settlements;

use crate::AppState;
use axum::extract::FromRequestParts;
use axum::handler::Handler;
use axum::http::Method;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::{Json, Router};
use platform::PlatformError;
use platform::operators::{Acting, OperatorUser, Role};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: signing in.
    Public,
    /// The bootstrap token, once: creating the first admin.
    Bootstrap,
    /// Any signed-in operator, about themselves (their session, their second factor): no reason asked.
    Own,
    /// Any signed-in operator; a change needs a reason (deciding an approval checks the role it names).
    Signed,
    /// An operator holding one of these roles; a change needs a reason.
    Roles(&'static [Role]),
}

/// One route of the operator API and who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

impl Rule {
    /// A change (not a read) by a signed-in operator must say why.
    pub fn needs_reason(&self) -> bool {
        self.method != "GET" && matches!(self.access, Access::Signed | Access::Roles(_))
    }
}

type Handlers = Vec<(Rule, MethodRouter<Arc<AppState>>)>;

fn at<H, T>(table: &mut Handlers, method: &'static str, path: &'static str, access: Access, handler: H)
where
    H: Handler<T, Arc<AppState>>,
    T: 'static,
{
    let filter = MethodFilter::try_from(Method::from_bytes(method.as_bytes()).expect("a method")).expect("a routable method");
    table.push((Rule { method, path, access }, axum::routing::on(filter, handler)));
}

/// Every route of the operator API with who may call it: the router is built from this table, so a
/// route cannot exist without its rule.
fn table() -> Handlers {
    use Access::{Bootstrap, Own, Public, Roles, Signed};
    use Role::{Admin, Finance, Operator as Ops, Risk, Support};
    let t = &mut Vec::new();
    at(t, "POST", "/admin/api/bootstrap", Bootstrap, operators::bootstrap);
    at(t, "POST", "/admin/api/sessions", Public, operators::sign_in);
    at(t, "DELETE", "/admin/api/sessions/current", Own, operators::sign_out);
    at(t, "GET", "/admin/api/operators/me", Own, operators::me);
    at(t, "POST", "/admin/api/operators/me/totp", Own, operators::begin_totp);
    at(t, "POST", "/admin/api/operators/me/totp/confirm", Own, operators::confirm_totp);
    at(t, "GET", "/admin/api/operators", Roles(&[Admin]), operators::list);
    at(t, "POST", "/admin/api/operators", Roles(&[Admin]), operators::create);
    at(t, "PUT", "/admin/api/operators/{username}/roles", Roles(&[Admin]), operators::set_roles);
    at(t, "PUT", "/admin/api/operators/{username}/disabled", Roles(&[Admin]), operators::set_disabled);
    at(t, "GET", "/admin/api/approvals", Signed, approvals::list);
    at(t, "GET", "/admin/api/approvals/{id}", Signed, approvals::approval);
    at(t, "POST", "/admin/api/approvals/{id}/approve", Signed, approvals::approve);
    at(t, "POST", "/admin/api/approvals/{id}/reject", Signed, approvals::reject);
    at(t, "POST", "/admin/api/ledger/accounts", Roles(&[Finance]), ledger::create_accounts);
    at(t, "POST", "/admin/api/ledger/transfers", Roles(&[Finance]), ledger::request_transfers);
    at(t, "GET", "/admin/api/ledger/accounts/{id}", Roles(&[Finance, Risk, Support]), ledger::account);
    at(t, "GET", "/admin/api/ledger/transfers/{id}", Roles(&[Finance, Risk, Support]), ledger::transfer);
    at(t, "POST", "/admin/api/sandbox/clock", Roles(&[Ops]), sandbox::advance_clock);
    at(t, "POST", "/admin/api/people/{id}/kyc", Roles(&[Risk]), people::set_kyc_tier);
    at(t, "POST", "/admin/api/freezes", Roles(&[Risk]), freezes::freeze);
    at(t, "GET", "/admin/api/freezes", Roles(&[Risk, Support]), freezes::active);
    at(t, "POST", "/admin/api/freezes/{id}/lift", Roles(&[Risk]), freezes::request_lift);
    at(t, "PUT", "/admin/api/merchants/{mchid}/daily-cap", Roles(&[Risk]), freezes::set_daily_cap);
    at(t, "GET", "/admin/api/risk/rules", Roles(&[Risk]), risk_rules::rules);
    at(t, "PUT", "/admin/api/risk/rules", Roles(&[Risk]), risk_rules::set_rules);
    at(t, "GET", "/admin/api/risk/reviews", Roles(&[Risk]), reviews::reviews);
    at(t, "GET", "/admin/api/risk/reviews/{id}", Roles(&[Risk]), reviews::review);
    at(t, "POST", "/admin/api/risk/reviews/{id}/release", Roles(&[Risk]), reviews::release);
    at(t, "POST", "/admin/api/risk/reviews/{id}/return", Roles(&[Risk]), reviews::give_back);
    at(t, "POST", "/admin/api/screening/lists/{list}", Roles(&[Risk]), screening::import);
    at(t, "GET", "/admin/api/screening/hits", Roles(&[Risk]), screening::hits);
    at(t, "POST", "/admin/api/screening/hits/{id}", Roles(&[Risk]), screening::decide);
    at(t, "GET", "/admin/api/audit", Roles(&[Admin, Risk]), audit::audit_log);
    at(t, "POST", "/admin/api/merchants", Roles(&[Ops]), merchants::onboard);
    at(t, "POST", "/admin/api/charities", Roles(&[Ops]), charities::register);
    at(t, "GET", "/admin/api/charities/{mchid}", Roles(&[Ops, Finance, Risk, Support]), charities::charity);
    at(t, "PUT", "/admin/api/charities/{mchid}/state", Roles(&[Ops, Risk]), charities::set_state);
    at(t, "GET", "/admin/api/campaigns/{id}/reconciliation", Roles(&[Finance, Risk]), charities::reconciliation);
    at(t, "POST", "/admin/api/donations/{id}/chargeback", Roles(&[Finance]), charities::charge_back);
    at(t, "GET", "/admin/api/merchants/{mchid}", Roles(&[Ops, Finance, Risk, Support]), merchants::merchant);
    at(t, "POST", "/admin/api/merchants/{mchid}/refunds", Roles(&[Finance]), refunds::refund);
    at(t, "POST", "/admin/api/merchants/{mchid}/keys", Roles(&[Ops]), merchants::add_key);
    at(t, "DELETE", "/admin/api/merchants/{mchid}/keys/{serial}", Roles(&[Ops]), merchants::revoke_key);
    at(t, "POST", "/admin/api/merchants/{mchid}/apps", Roles(&[Ops]), merchants::add_app);
    at(t, "POST", "/admin/api/merchants/{mchid}/users", Roles(&[Ops]), merchants::add_user);
    at(t, "POST", "/admin/api/merchants/{mchid}/static-codes", Roles(&[Ops]), merchants::add_static_code);
    at(t, "POST", "/admin/api/merchants/{mchid}/covers", Roles(&[Ops]), merchants::publish_cover);
    at(t, "PUT", "/admin/api/merchants/{mchid}/qr-profile", Roles(&[Ops]), qr::set_profile);
    at(t, "PUT", "/admin/api/merchants/{mchid}/schemes/{scheme}", Roles(&[Ops]), qr::register_scheme);
    at(t, "GET", "/admin/api/networks", Roles(&[Ops, Finance, Support]), networks::networks);
    at(t, "GET", "/admin/api/networks/{network}/reconciliations/{day}", Roles(&[Ops, Finance]), networks::reconciliation);
    at(t, "POST", "/admin/api/networks/{network}/settlements/{day}", Roles(&[Finance]), networks::settle);
    at(t, "GET", "/admin/api/platform-keys", Roles(&[Ops, Support]), platform_keys::platform_keys);
    at(t, "POST", "/admin/api/platform-keys/rotate", Roles(&[Ops]), platform_keys::rotate);
    at(t, "POST", "/admin/api/platform-keys/{serial}/retire", Roles(&[Ops]), platform_keys::retire);
    at(t, "GET", "/admin/api/settlements", Roles(&[Finance, Support]), settlements::settlements);
    at(t, "POST", "/admin/api/settlements/run", Roles(&[Finance]), settlements::run);
    at(t, "GET", "/admin/api/partners/{mchid}/settlements/{day}", Roles(&[Finance]), settlements::partner_file);
    at(t, "GET", "/admin/api/notifications", Roles(&[Ops, Support]), notifications::notifications);
    at(t, "GET", "/admin/api/notifications/{id}", Roles(&[Ops, Support]), notifications::notification);
    at(t, "POST", "/admin/api/notifications/{id}/replay", Roles(&[Ops]), notifications::replay);
    at(t, "PUT", "/admin/api/fx/rates", Roles(&[Finance]), fx::set_rate);
    at(t, "GET", "/admin/api/fx/rates", Roles(&[Finance, Ops, Risk, Support]), fx::rates);
    at(t, "POST", "/admin/api/fx/rates/import", Roles(&[Finance]), fx::import_rates);
    at(t, "PUT", "/admin/api/fx/markups", Roles(&[Finance]), fx::request_markup);
    at(t, "PUT", "/admin/api/fx/pairs/{base}/{quote}", Roles(&[Finance]), fx::set_pair);
    at(t, "GET", "/admin/api/fx/quotes/{id}", Roles(&[Finance, Risk, Support]), fx::quote);
    at(t, "GET", "/admin/api/fx/positions", Roles(&[Finance]), fx::positions);
    at(t, "GET", "/admin/api/fx/cross-border-report", Roles(&[Finance, Risk]), fx::cross_border_report);
    std::mem::take(t)
}

/// The operator API's rules, in the order of the table (for the role tests and the documentation).
pub fn policy() -> Vec<Rule> {
    table().into_iter().map(|(rule, _)| rule).collect()
}

fn rules() -> &'static HashMap<(&'static str, &'static str), Rule> {
    static RULES: OnceLock<HashMap<(&'static str, &'static str), Rule>> = OnceLock::new();
    RULES.get_or_init(|| policy().into_iter().map(|r| ((r.method, r.path), r)).collect())
}

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (rule, handler)| router.route(rule.path, handler))
        .route_layer(axum::middleware::from_fn_with_state(state, guard::guard))
}

/// An operator API error: HTTP status plus a stable code and a message a person can act on.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({"code": self.code, "message": self.message}))).into_response()
    }
}

/// The one mapping of platform errors on the operator API; internal detail goes to the log only.
impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> ApiError {
        let message = e.to_string();
        match e {
            PlatformError::Invalid { .. } => ApiError::bad_request(message),
            PlatformError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", message),
            PlatformError::Conflict { code, .. } => ApiError::new(StatusCode::CONFLICT, code.as_str(), message),
            PlatformError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message),
            PlatformError::Unauthorized => ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message),
            PlatformError::Unavailable => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message),
            PlatformError::TooManyAttempts { .. } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "FREQUENCY_LIMITED", message),
            e => {
                tracing::error!(error = %e, "operator API");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "internal error; see the server log")
            }
        }
    }
}

type Answer<T> = Result<T, ApiError>;

/// The signed-in operator and the reason they gave (the guard put them on the request: see [`guard`]).
#[derive(Debug, Clone)]
pub struct Operator {
    pub user: OperatorUser,
    pub reason: String,
    /// The session token (for signing out).
    pub token: String,
}

impl Operator {
    pub fn acting(&self) -> Acting<'_> {
        Acting { by: &self.user, reason: &self.reason }
    }
}

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<AppState>) -> Result<Operator, ApiError> {
        parts.extensions.get::<Operator>().cloned().ok_or_else(guard::unauthorized)
    }
}

/// The request's query parameters, or the documented JSON error.
pub struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequestParts<Arc<AppState>> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<AppState>) -> Result<Params<T>, ApiError> {
        crate::http::query(&parts.uri).map(Params).map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
    }
}

/// Parse a JSON body ourselves so a malformed one gets our error format, naming what is wrong.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Answer<T> {
    crate::http::json_body(body).map_err(|(path, what)| match path {
        Some(path) => ApiError::bad_request(format!("invalid JSON body at {path}: {what}")),
        None => ApiError::bad_request(format!("invalid JSON body: {what}")),
    })
}

/// The audit row of an operator's change, to commit in the change's own transaction.
fn audit_row(state: &AppState, op: &Operator, action: &str, target: &str, detail: &str) -> Option<store::Effect> {
    Some(state.platform.audit.effect(&op.user.actor(), action, target, detail, &op.reason))
}

/// Record an operator's request *before* running it, for the actions that are jobs of many transactions
/// of their own (settlement runs, a rate file's import, replays, the sandbox clock), each idempotent and
/// safe to run again: no such action runs without its row, and its answer says what it did.
async fn audit_asked(state: &AppState, op: &Operator, action: &str, target: &str, detail: &str) -> Answer<()> {
    Ok(state.platform.audit.record(&op.user.actor(), action, target, detail, &op.reason).await?)
}

type St = axum::extract::State<Arc<AppState>>;
