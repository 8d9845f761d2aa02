//! `/api/v1/transfers`: money to a friend, accepted or declined by them.

use super::{Answer, Key, SignedIn, St, id, json, parse, person_id};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferIn {
    to_person_id: String,
    amount: String,
    currency: String,
    #[serde(default)]
    note: String,
    pin: Option<String>,
    /// Pay straight from this linked card instead of the balance.
    card_id: Option<String>,
}

pub(super) async fn send(SignedIn(me): SignedIn, state: St, Key(key): Key, body: axum::body::Bytes) -> Answer<Response> {
    let r: TransferIn = parse(&body)?;
    let to = person_id("to_person_id", &r.to_person_id)?;
    let card = r.card_id.as_deref().map(|c| id("card_id", c)).transpose()?;
    let request = platform::p2p::SendTransfer { to, amount: &r.amount, currency: &r.currency, note: &r.note, pin: r.pin.as_deref(), card };
    Ok(json(StatusCode::CREATED, &state.platform.p2p.send(me, request, key.as_deref()).await?))
}

pub(super) async fn transfer(SignedIn(me): SignedIn, state: St, Path(t): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.p2p.transfer(me, id("id", &t)?).await?))
}

pub(super) async fn accept(SignedIn(me): SignedIn, state: St, Path(t): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.p2p.accept(me, id("id", &t)?).await?))
}

pub(super) async fn decline(SignedIn(me): SignedIn, state: St, Path(t): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.p2p.decline(me, id("id", &t)?).await?))
}
