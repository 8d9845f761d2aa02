//! `/api/v1/wallet`, `/cards`, `/top-ups`, `/bank-accounts`, `/withdrawals`.

use super::{Answer, Key, SignedIn, St, id, json, parse};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

pub(super) async fn wallet(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.wallet.balances(me).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CardIn {
    number: String,
    exp_month: i64,
    exp_year: i64,
}

pub(super) async fn add_card(SignedIn(me): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: CardIn = parse(&body)?;
    Ok(json(StatusCode::CREATED, &state.platform.wallet.add_card(me, &r.number, r.exp_month, r.exp_year).await?))
}

/// Remove a linked card: never charged again (a monthly donation it paid lapses).
pub(super) async fn remove_card(SignedIn(me): SignedIn, state: St, Path(c): Path<String>) -> Answer<Response> {
    state.platform.wallet.remove_card(me, id("card_id", &c)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn cards(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.wallet.cards(me).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopUpIn {
    card_id: String,
    amount: String,
    currency: String,
    pin: Option<String>,
}

pub(super) async fn top_up(SignedIn(me): SignedIn, state: St, Key(key): Key, body: axum::body::Bytes) -> Answer<Response> {
    let r: TopUpIn = parse(&body)?;
    let request =
        platform::wallet::TopUp { card: id("card_id", &r.card_id)?, amount: &r.amount, currency: &r.currency, pin: r.pin.as_deref() };
    Ok(json(StatusCode::CREATED, &state.platform.wallet.top_up(me, request, key.as_deref()).await?))
}

pub(super) async fn top_up_status(SignedIn(me): SignedIn, state: St, Path(op): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.wallet.top_up_status(me, id("id", &op)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BankAccountIn {
    bank: String,
    holder_name: String,
    number: String,
}

pub(super) async fn add_bank_account(SignedIn(me): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: BankAccountIn = parse(&body)?;
    Ok(json(StatusCode::CREATED, &state.platform.wallet.add_bank_account(me, &r.bank, &r.holder_name, &r.number).await?))
}

pub(super) async fn bank_accounts(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.wallet.bank_accounts(me).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WithdrawIn {
    bank_account_id: String,
    amount: String,
    currency: String,
    pin: Option<String>,
}

pub(super) async fn withdraw(SignedIn(me): SignedIn, state: St, Key(key): Key, body: axum::body::Bytes) -> Answer<Response> {
    let r: WithdrawIn = parse(&body)?;
    let request = platform::wallet::Withdrawal {
        bank_account: id("bank_account_id", &r.bank_account_id)?,
        amount: &r.amount,
        currency: &r.currency,
        pin: r.pin.as_deref(),
    };
    Ok(json(StatusCode::CREATED, &state.platform.wallet.withdraw(me, request, key.as_deref()).await?))
}

pub(super) async fn withdrawal_status(SignedIn(me): SignedIn, state: St, Path(op): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.wallet.withdrawal_status(me, id("id", &op)?).await?))
}
