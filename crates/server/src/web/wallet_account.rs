//! The web wallet's own affairs: money out (link a bank account, withdraw to it with the PIN, and see
//! each withdrawal's state), the whole history with filters and the monthly statement (CSV), and
//! settings (change the PIN, submit identity for KYC, download everything Qianbao holds about you).

use super::wallet::{checked, error_page, failed_to, notice, redirect, session, signed_in_page, to_sign_in};
use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::history::{HistoryKind, HistoryQuery};
use platform::wallet::{RailState, Withdrawal};
use platform::{PersonId, PlatformError};
use std::collections::HashMap;
use std::sync::Arc;

/// History items per page.
const HISTORY_PAGE: usize = 50;
/// Withdrawals shown on the money-out page.
const WITHDRAWALS_SHOWN: usize = 10;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/wallet/withdraw", get(withdraw_page))
        .route("/wallet/bank-accounts", post(add_bank_account))
        .route("/wallet/withdrawals", post(withdraw))
        .route("/wallet/history", get(history))
        .route("/wallet/statements/{month}", get(statement))
        .route("/wallet/settings", get(settings))
        .route("/wallet/settings/pin", post(change_pin))
        .route("/wallet/settings/kyc", post(submit_kyc))
        .route("/wallet/export", get(export))
}

fn item_view(i: &platform::history::HistoryItem) -> minijinja::Value {
    minijinja::context! {
        time => platform::wallet::iso_utc(i.created_at_ms), kind => i.kind.as_str(),
        amount => platform::wallet::decimal(i.amount_minor, i.currency), currency => i.currency.code(), state => i.state,
    }
}

async fn withdraw_page(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (s, u) = (&*state, &uri);
    let context = |person, token: String, lang| async move { withdraw_context(s, person, &token, u, lang).await };
    signed_in_page(s, u, &headers, "wallet_withdraw.html", context).await
}

async fn withdraw_context(
    state: &AppState,
    person: PersonId,
    token: &str,
    uri: &Uri,
    lang: Lang,
) -> Result<minijinja::Value, PlatformError> {
    let p = &state.platform;
    let accounts: Vec<_> = p
        .wallet
        .bank_accounts(person)
        .await?
        .into_iter()
        .map(|a| minijinja::context! { id => a.id.to_string(), bank => a.bank, holder => a.holder_name, last4 => a.last4 })
        .collect();
    let query = HistoryQuery { kind: Some(HistoryKind::Withdrawal), limit: WITHDRAWALS_SHOWN, ..Default::default() };
    let withdrawals: Vec<_> = p.history.page(person, query).await?.iter().map(item_view).collect();
    let balances = p.wallet.balances(person).await?;
    let (done, error) = notice(uri, lang, &["bank_account_added", "withdrawal_pending", "withdrawal_held", "withdrawn"]);
    Ok(minijinja::context! {
        accounts => accounts, withdrawals => withdrawals, notice => done, error => error,
        balances => balances.iter().map(|b| minijinja::context! { currency => b.currency.code(), available => b.available }).collect::<Vec<_>>(),
        sandbox => state.manual_clock.is_some() || state.web.demo.is_some(),
        csrf => super::wallet::csrf(state, token), key => wxpay::random_alphanumeric(24),
    })
}

async fn add_bank_account(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    match state.platform.wallet.add_bank_account(person, field("bank"), field("holder_name"), field("number")).await {
        Ok(_) => redirect("/wallet/withdraw?done=bank_account_added"),
        Err(e) => failed_to("/wallet/withdraw", e),
    }
}

async fn withdraw(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    let Ok(bank_account) = field("account").parse::<i64>() else {
        return failed_to("/wallet/withdraw", PlatformError::invalid("account", "choose a bank account"));
    };
    let request = Withdrawal {
        bank_account,
        amount: field("amount"),
        currency: field("currency"),
        pin: Some(field("pin")).filter(|p| !p.is_empty()),
    };
    // The form's key makes a double submission one withdrawal.
    let key = Some(field("key")).filter(|k| !k.is_empty() && k.len() <= 64).map(|k| format!("web-withdrawal-{k}"));
    match state.platform.wallet.withdraw(person, request, key.as_deref()).await {
        Ok(op) => redirect(match op.state {
            RailState::Succeeded => "/wallet/withdraw?done=withdrawn",
            RailState::Held => "/wallet/withdraw?done=withdrawal_held",
            _ => "/wallet/withdraw?done=withdrawal_pending",
        }),
        Err(e) => failed_to("/wallet/withdraw", e),
    }
}

async fn history(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (s, q) = (&*state, &q);
    signed_in_page(s, &uri, &headers, "wallet_history.html", |person, _, _| async move { history_context(s, person, q).await }).await
}

/// The history page's items: filtered by kind and currency, a page at a time (`before` is the last
/// item of the page before, `time_ms:id`).
async fn history_context(state: &AppState, person: PersonId, q: &HashMap<String, String>) -> Result<minijinja::Value, PlatformError> {
    let p = &state.platform;
    let kind = q.get("kind").and_then(|k| HistoryKind::parse(k));
    let currencies = p.wallet.currencies(person).await?;
    let currency = q.get("currency").and_then(|c| currencies.iter().find(|x| x.code() == c.as_str()).copied());
    let before = q.get("before").and_then(|b| b.split_once(':')).and_then(|(t, i)| Some((t.parse().ok()?, i.parse().ok()?)));
    let query = HistoryQuery { kind, currency, before, limit: HISTORY_PAGE, ..Default::default() };
    let items = p.history.page(person, query).await?;
    let next = (items.len() == HISTORY_PAGE).then(|| items.last().map(|i| format!("{}:{}", i.created_at_ms, i.id))).flatten();
    let now = jiff::Timestamp::from_millisecond(p.now_ms()).map(|t| t.strftime("%Y-%m").to_string()).unwrap_or_default();
    Ok(minijinja::context! {
        items => items.iter().map(item_view).collect::<Vec<_>>(), next => next,
        kinds => HistoryKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(), kind => kind.map(|k| k.as_str()),
        currencies => currencies.iter().map(|c| c.code()).collect::<Vec<_>>(), currency => currency.map(|c| c.code()),
        month => now,
    })
}

/// A month's statement as CSV (`month` is `YYYY-MM`), in the chosen currency.
async fn statement(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Path(month): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((person, _)) = session(&state, &headers).await else { return to_sign_in(&uri, &headers) };
    let (year, m) = match platform::history::parse_month(&month) {
        Ok(parsed) => parsed,
        Err(e) => return failed_to("/wallet/history", e),
    };
    let currency = match q.get("currency").map(|c| platform::wallet::parse_currency(c)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => return failed_to("/wallet/history", e),
        None => return failed_to("/wallet/history", PlatformError::invalid("currency", "choose a currency")),
    };
    match state.platform.history.statement_csv(person, year, m, currency).await {
        Ok(csv) => {
            let disposition = format!("attachment; filename=\"statement-{year:04}-{m:02}-{currency}.csv\"");
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
                csv,
            )
                .into_response()
        }
        Err(e) => failed_to("/wallet/history", e),
    }
}

async fn settings(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let Some((person, token)) = session(&state, &headers).await else { return to_sign_in(&uri, &headers) };
    let (lang, chosen) = Lang::of(&uri, &headers);
    let me = match state.platform.people.person(person).await {
        Ok(me) => me,
        Err(e) => return error_page(e),
    };
    let (done, error) = notice(&uri, lang, &["pin_changed", "kyc_submitted"]);
    let context = minijinja::context! {
        name => me.display_name, tier => me.kyc_tier, pin_set => me.pin_set, notice => done, error => error,
        csrf => super::wallet::csrf(&state, &token),
    };
    page("wallet_settings.html", lang, chosen, context)
}

async fn change_pin(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    match state.platform.people.set_pin(person, field("pin"), Some(field("current"))).await {
        Ok(()) => redirect("/wallet/settings?done=pin_changed"),
        Err(e) => failed_to("/wallet/settings", e),
    }
}

async fn submit_kyc(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    match state.platform.submit_kyc(person, field("legal_name"), field("document_type"), field("document_number")).await {
        Ok(_) => redirect("/wallet/settings?done=kyc_submitted"),
        Err(e) => failed_to("/wallet/settings", e),
    }
}

/// Everything Qianbao holds about the signed-in person, as a JSON download.
async fn export(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let Some((person, _)) = session(&state, &headers).await else { return to_sign_in(&uri, &headers) };
    match state.platform.export_person(person).await {
        Ok(data) => {
            let disposition = "attachment; filename=\"qianbao-export.json\"".to_string();
            let body = serde_json::to_string_pretty(&data).unwrap_or_default();
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json".to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
                .into_response()
        }
        Err(e) => error_page(e),
    }
}
