//! The wallet API, `/api/v1/...`: JSON, bearer session tokens, `Idempotency-Key` on POSTs (required on
//! every POST that moves money). Amounts are decimal strings in major units of their currency ("12.34"),
//! ids are decimal strings. Errors are `{"code", "message", "field"?}`, mapped from the platform's in one
//! place ([`WalletError`]). One file per resource.
//!
//! Idempotency (`idempotency`): the caller is authenticated first (a key belongs to a person, not to a
//! bearer string), the request runs detached from its connection, and its answer is kept once it is
//! final. A request that moved money made an object whose id derives from the key, so even after the
//! kept answer expired a retry finds that object instead of paying again.

mod charity;
mod fx;
mod history;
mod idempotency;
mod merchant_payments;
mod money;
mod official_accounts;
mod people;
mod qr;
mod red_packets;
mod scans;
mod social;
mod transfers;

pub use charity::live_slots;
pub use idempotency::InFlight;

use crate::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::{PersonId, PlatformError};
use std::sync::Arc;

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    // POSTs that move money: an Idempotency-Key is required.
    let money = Router::new()
        .route("/api/v1/top-ups", post(money::top_up))
        .route("/api/v1/withdrawals", post(money::withdraw))
        .route("/api/v1/transfers", post(transfers::send))
        .route("/api/v1/transfers/{id}/accept", post(transfers::accept))
        .route("/api/v1/transfers/{id}/decline", post(transfers::decline))
        .route("/api/v1/red-packets", post(red_packets::send))
        .route("/api/v1/red-packets/{id}/claims", post(red_packets::claim))
        .route("/api/v1/merchant-payments", post(merchant_payments::pay))
        .route("/api/v1/network-payments", post(scans::pay))
        .route("/api/v1/fx/conversions", post(fx::convert))
        .route("/api/v1/campaigns/{id}/donations", post(charity::donate))
        .route("/api/v1/campaigns/{id}/matches", post(charity::pledge))
        .route("/api/v1/campaigns/{id}/recurring-donations", post(charity::start_recurring))
        .route("/api/v1/gifts", post(charity::send_gift))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::required));
    // Other writes: a key is optional.
    let writes = Router::new()
        .route("/api/v1/official-accounts/{appid}/follow", post(official_accounts::follow).delete(official_accounts::unfollow))
        .route("/api/v1/official-accounts/{appid}/mute", axum::routing::put(official_accounts::mute))
        .route("/api/v1/official-accounts/{appid}/read", post(official_accounts::read))
        .route("/api/v1/people", post(people::register))
        .route("/api/v1/sessions", post(people::sign_in))
        .route("/api/v1/sessions/current", axum::routing::delete(people::sign_out))
        .route("/api/v1/me/pin", axum::routing::put(people::set_pin))
        .route("/api/v1/me/kyc", post(people::submit_kyc))
        .route("/api/v1/me/close", post(people::close))
        .route("/api/v1/friends", post(social::add_friend))
        .route("/api/v1/friends/{id}/accept", post(social::accept_friend))
        .route("/api/v1/groups", post(social::create_group))
        .route("/api/v1/groups/{id}/members", post(social::add_members))
        .route("/api/v1/cards", post(money::add_card))
        .route("/api/v1/cards/{id}", axum::routing::delete(money::remove_card))
        .route("/api/v1/recurring-donations/{id}", axum::routing::delete(charity::stop_recurring))
        .route("/api/v1/gift-cards/{id}/thanks", post(charity::thank))
        .route("/api/v1/bank-accounts", post(money::add_bank_account))
        .route("/api/v1/merchant-payments/preview", post(merchant_payments::preview))
        .route("/api/v1/payment-codes", post(merchant_payments::payment_code))
        .route("/api/v1/fx/quotes", post(fx::quote))
        .route("/api/v1/qr/decode", post(qr::decode))
        .route("/api/v1/scans", post(scans::scan))
        .route_layer(axum::middleware::from_fn_with_state(state, idempotency::optional));
    let reads = Router::new()
        .route("/api/v1/me", get(people::me))
        .route("/api/v1/me/export", get(people::export))
        .route("/api/v1/wallet", get(money::wallet))
        .route("/api/v1/friends", get(social::friends))
        .route("/api/v1/groups", get(social::groups))
        .route("/api/v1/groups/{id}", get(social::group))
        .route("/api/v1/cards", get(money::cards))
        .route("/api/v1/top-ups/{id}", get(money::top_up_status))
        .route("/api/v1/bank-accounts", get(money::bank_accounts))
        .route("/api/v1/withdrawals/{id}", get(money::withdrawal_status))
        .route("/api/v1/transfers/{id}", get(transfers::transfer))
        .route("/api/v1/red-packets/{id}", get(red_packets::red_packet))
        .route("/api/v1/red-packet-covers", get(red_packets::covers))
        .route("/api/v1/payment-codes/awaiting", get(merchant_payments::awaiting_pin))
        .route("/api/v1/history", get(history::history))
        .route("/api/v1/statements/{month}", get(history::statement))
        .route("/api/v1/fx/quotes/{id}", get(fx::quote_of))
        .route("/api/v1/network-payments/{id}", get(scans::payment))
        .route("/api/v1/official-accounts", get(official_accounts::search))
        .route("/api/v1/official-accounts/{appid}", get(official_accounts::account))
        .route("/api/v1/follows", get(official_accounts::follows))
        .route("/api/v1/inbox", get(official_accounts::inbox))
        .route("/api/v1/donations", get(charity::donations))
        .route("/api/v1/donations/{id}/receipt", get(charity::receipt))
        .route("/api/v1/donations/{id}/receipt.pdf", get(charity::receipt_pdf))
        .route("/api/v1/recurring-donations", get(charity::recurring))
        .route("/api/v1/gift-cards", get(charity::gift_cards))
        .route("/api/v1/charities/{mchid}/receipts", get(charity::year_summary))
        .route("/api/v1/charities/{mchid}/receipts.pdf", get(charity::year_summary_pdf))
        // Public: a campaign's page and its live totals.
        .route("/api/v1/campaigns/{id}", get(charity::campaign))
        .route("/api/v1/campaigns/{id}/live", get(charity::live))
        .route("/api/v1/campaigns/{id}/gifts", get(charity::catalogue));
    money.merge(writes).merge(reads)
}

/// A platform error on the wallet API's wire: the one mapping of this surface.
pub struct WalletError(pub PlatformError);

impl From<PlatformError> for WalletError {
    fn from(e: PlatformError) -> WalletError {
        WalletError(e)
    }
}

pub fn status_of(e: &PlatformError) -> StatusCode {
    match e {
        PlatformError::Invalid { .. } => StatusCode::BAD_REQUEST,
        PlatformError::Unauthorized => StatusCode::UNAUTHORIZED,
        PlatformError::Forbidden(_) | PlatformError::PinRequired | PlatformError::PinWrong { .. } => StatusCode::FORBIDDEN,
        PlatformError::NotFound(_) => StatusCode::NOT_FOUND,
        PlatformError::Conflict { .. } => StatusCode::CONFLICT,
        PlatformError::PinLocked { .. } => StatusCode::LOCKED,
        PlatformError::InsufficientBalance | PlatformError::Declined(_) => StatusCode::PAYMENT_REQUIRED,
        PlatformError::Expired(_) | PlatformError::Exhausted => StatusCode::GONE,
        PlatformError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        PlatformError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        PlatformError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for WalletError {
    fn into_response(self) -> Response {
        let e = self.0;
        if let PlatformError::Internal(detail) = &e {
            tracing::error!(%detail, "wallet API internal error");
            let body = serde_json::json!({"code": "SYSTEM_ERROR", "message": "internal error; see the server log"});
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
        }
        let mut body = serde_json::json!({"code": e.code(), "message": e.to_string()});
        match &e {
            PlatformError::Invalid { field, .. } => body["field"] = serde_json::Value::String(field.to_string()),
            PlatformError::PinWrong { attempts_left } => body["attempts_left"] = serde_json::json!(attempts_left),
            _ => {}
        }
        let mut response = (status_of(&e), Json(body)).into_response();
        if let PlatformError::TooManyAttempts { retry_after_s } = e {
            response.headers_mut().insert(header::RETRY_AFTER, retry_after_s.into());
        }
        response
    }
}

type Answer<T> = Result<T, WalletError>;

/// A JSON body, or `PARAM_ERROR` naming where it is wrong.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Answer<T> {
    crate::http::json_body(body).map_err(|(path, what)| {
        WalletError(PlatformError::invalid(
            "body",
            match path {
                Some(path) => format!("{path}: {what}"),
                None => what,
            },
        ))
    })
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    (status, Json(value)).into_response()
}

/// The signed-in person: from the idempotency layer (which authenticated first), or from the bearer
/// token here. Extract it before anything else, so an unauthenticated request hears 401 first.
#[derive(Debug, Clone, Copy)]
pub struct SignedIn(pub PersonId);

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = WalletError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<SignedIn, WalletError> {
        if let Some(signed_in) = parts.extensions.get::<SignedIn>() {
            return Ok(*signed_in);
        }
        let token = crate::http::bearer(&parts.headers).ok_or(PlatformError::Unauthorized)?;
        Ok(SignedIn(state.platform.people.authenticate(token).await?))
    }
}

/// The request's query parameters, or the documented JSON error (never axum's plain text).
pub struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequestParts<Arc<AppState>> for Params<T> {
    type Rejection = WalletError;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<AppState>) -> Result<Params<T>, WalletError> {
        crate::http::query(&parts.uri).map(Params).map_err(|e| WalletError(PlatformError::invalid("query", e)))
    }
}

/// The request's Idempotency-Key, when the idempotency layer saw one (the platform derives the ids of
/// what the request makes from it).
#[derive(Debug, Clone)]
pub struct Key(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Key {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Key, std::convert::Infallible> {
        Ok(Key(parts.extensions.get::<idempotency::KeyOf>().map(|k| k.0.clone())))
    }
}

fn id(field: &'static str, text: &str) -> Answer<i64> {
    Ok(platform::ids::parse(field, text)?)
}

fn person_id(field: &'static str, text: &str) -> Answer<PersonId> {
    Ok(PersonId::parse(field, text)?)
}

/// `State` under a short name for handlers.
type St = State<Arc<AppState>>;
