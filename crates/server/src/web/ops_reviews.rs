//! The operator console's review queue, `/ops/reviews` (risk): the transfers and withdrawals the risk
//! engine held, oldest first, each with its rule and what the engine saw. Releasing or returning one
//! moves money, so the first post shows what will happen and asks to confirm; the decision commits with
//! its audit row (see `platform::risk::reviews`).

use super::ops::{failed, holds, posted, reason_of, role_missing, session, to_sign_in};
use super::wallet::{csrf, redirect};
use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use platform::PlatformError;
use platform::operators::{Acting, OperatorUser, Role};
use platform::risk::{Review, ReviewState};
use std::collections::HashMap;
use std::sync::Arc;

/// Reviews shown at once (the oldest first: the queue is worked in the order it filled).
const REVIEWS_SHOWN: i64 = 50;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/ops/reviews", get(reviews)).route("/ops/reviews/{id}", post(decide))
}

async fn reviews(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    reviews_page(&state, lang, chosen, &user, &token, q.get("done").cloned(), None).await
}

fn view(r: &Review) -> minijinja::Value {
    let seen = &r.evidence["last_24h"];
    minijinja::context! {
        id => r.id.to_string(), kind => r.kind.as_str(), person => r.person.to_string(), rule => r.rule,
        amount => platform::wallet::decimal(r.amount_minor, r.currency), currency => r.currency.code(),
        at => super::merchant::time_of(r.created_at_ms), deadline => super::merchant::time_of(r.deadline_at_ms),
        new_payee => r.evidence["attempt"]["new_payee"].as_bool().unwrap_or(false),
        spent_count => seen["spent_count"].as_i64().unwrap_or(0),
        spent => platform::wallet::decimal(seen["spent_minor"].as_i64().unwrap_or(0), r.currency),
        strangers => seen["strangers_paying_in"].as_i64().unwrap_or(0),
    }
}

async fn reviews_page(
    state: &AppState,
    lang: Lang,
    chosen: bool,
    user: &OperatorUser,
    token: &str,
    notice: Option<String>,
    confirm: Option<minijinja::Value>,
) -> Response {
    let roles = [Role::Risk];
    if !holds(user, &roles) {
        return role_missing(lang, chosen, user, csrf(state, token), &roles);
    }
    let waiting = match state.platform.reviews.list(ReviewState::Waiting, REVIEWS_SHOWN).await {
        Ok(list) => list,
        Err(e) => return failed(e),
    };
    let notice = notice.filter(|n| ["released", "returned"].contains(&n.as_str()));
    let context = minijinja::context! {
        user => user, csrf => csrf(state, token), reviews => waiting.iter().map(view).collect::<Vec<_>>(), notice => notice, confirm => confirm,
    };
    page("ops_reviews.html", lang, chosen, context)
}

/// Release or return a held movement: confirmed first, with a reason.
async fn decide(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token, f)) = posted(&state, &headers, &body).await else { return to_sign_in() };
    if !holds(&user, &[Role::Risk]) {
        return role_missing(lang, chosen, &user, csrf(&state, &token), &[Role::Risk]);
    }
    let Ok(id) = platform::ids::parse("id", &id) else { return failed(PlatformError::NotFound("review")) };
    let release = f.get("decision").map(String::as_str) == Some("release");
    let refuse = |error: String| reviews_page(&state, lang, chosen, &user, &token, None, Some(minijinja::context! { error => error }));
    let Some(reason) = reason_of(&f) else { return refuse(lang.messages()["ops_reason_needed"].clone()).await };
    if f.get("confirm").map(String::as_str) != Some("yes") {
        let review = match state.platform.reviews.get(id).await {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        let confirm =
            minijinja::context! { review => view(&review), decision => if release { "release" } else { "return" }, reason => reason };
        return reviews_page(&state, lang, chosen, &user, &token, None, Some(confirm)).await;
    }
    let acting = Acting { by: &user, reason: &reason };
    let done = if release { state.platform.reviews.release(acting, id).await } else { state.platform.reviews.give_back(acting, id).await };
    match done {
        Ok(_) => redirect(&format!("/ops/reviews?done={}", if release { "released" } else { "returned" })),
        Err(e) if !e.is_internal() => refuse(e.to_string()).await,
        Err(e) => failed(e),
    }
}
