//! The web wallet's money in: the payment PIN (set once), linked cards (the sandbox's test numbers
//! shown in sandboxes), and top-ups from a card with the PIN (the form's key makes a double submission
//! one top-up).

use super::Lang;
use super::wallet::{checked, failed_to, notice, redirect, signed_in_page};
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use platform::wallet::{RailState, TopUp};
use platform::{PersonId, PlatformError};
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/wallet/money", get(money))
        .route("/wallet/pin", post(set_pin))
        .route("/wallet/cards", post(add_card))
        .route("/wallet/top-ups", post(top_up))
}

async fn money(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (s, u) = (&*state, &uri);
    signed_in_page(s, u, &headers, "wallet_money.html", |person, token, lang| async move { context(s, person, &token, u, lang).await })
        .await
}

async fn context(state: &AppState, person: PersonId, token: &str, uri: &Uri, lang: Lang) -> Result<minijinja::Value, PlatformError> {
    let p = &state.platform;
    let me = p.people.person(person).await?;
    let cards: Vec<_> = p
        .wallet
        .cards(person)
        .await?
        .into_iter()
        .map(|c| minijinja::context! { id => c.id.to_string(), brand => c.brand, last4 => c.last4, exp => format!("{:02}/{}", c.exp_month, c.exp_year) })
        .collect();
    let currencies: Vec<&str> = p.config().region(&me.region).map(|r| r.currencies.iter().map(|c| c.code()).collect()).unwrap_or_default();
    let (done, error) = notice(uri, lang, &["card_added", "pin_set", "top_up_pending"]);
    Ok(minijinja::context! {
        pin_set => me.pin_set, cards => cards, currencies => currencies, notice => done, error => error,
        sandbox => state.manual_clock.is_some() || state.web.demo.is_some(),
        csrf => super::wallet::csrf(state, token), key => wxpay::random_alphanumeric(24),
    })
}

/// Back to the money page with what went wrong, in the platform's words.
fn back(e: PlatformError) -> Response {
    failed_to("/wallet/money", e)
}

async fn set_pin(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    match state.platform.people.set_pin(person, f.get("pin").map(String::as_str).unwrap_or(""), None).await {
        Ok(()) => redirect("/wallet/money?done=pin_set"),
        Err(e) => back(e),
    }
}

async fn add_card(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let number = |name: &str| f.get(name).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
    let added = state
        .platform
        .wallet
        .add_card(person, f.get("number").map(String::as_str).unwrap_or(""), number("exp_month"), number("exp_year"))
        .await;
    match added {
        Ok(_) => redirect("/wallet/money?done=card_added"),
        Err(e) => back(e),
    }
}

async fn top_up(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    let Ok(card) = field("card").parse::<i64>() else { return back(PlatformError::invalid("card", "choose a card")) };
    let key = Some(field("key")).filter(|k| !k.is_empty() && k.len() <= 64).map(|k| format!("web-top-up-{k}"));
    let request = TopUp { card, amount: field("amount"), currency: field("currency"), pin: Some(field("pin")).filter(|p| !p.is_empty()) };
    match state.platform.wallet.top_up(person, request, key.as_deref()).await {
        Ok(op) if op.state == RailState::Succeeded => redirect("/wallet?done=topped_up"),
        Ok(op) if op.state == RailState::Failed => {
            back(PlatformError::Declined(op.failure.unwrap_or_else(|| "the card was declined".into())))
        }
        Ok(_) => redirect("/wallet/money?done=top_up_pending"),
        Err(e) => back(e),
    }
}
