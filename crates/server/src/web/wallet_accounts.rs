//! The web wallet's official accounts: the inbox (messages of the accounts one follows, newest first,
//! the unread ones marked), finding an account by name, an account's page (its owner, the charity
//! badge, follow or unfollow, mute) reached by scanning its QR code, and reading marks all read.

use super::wallet::{checked, failed_to, notice, redirect, signed_in_page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;

/// Inbox messages on the page.
const INBOX_SHOWN: i64 = 30;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/wallet/inbox", get(inbox))
        .route("/wallet/accounts/{appid}", get(account))
        .route("/wallet/accounts/{appid}/follow", post(|s, p, h, b| follow(s, p, h, b, true)))
        .route("/wallet/accounts/{appid}/unfollow", post(|s, p, h, b| follow(s, p, h, b, false)))
}

async fn inbox(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (s, u) = (&*state, &uri);
    signed_in_page(s, u, &headers, "wallet_inbox.html", |person, _, _| async move {
        let accounts = &s.platform.official_accounts;
        let messages = accounts.inbox(person, None, INBOX_SHOWN).await?;
        let follows = accounts.follows(person).await?;
        let query = q.get("q").map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let found = match &query {
            Some(text) => accounts.search(text).await.unwrap_or_default(),
            None => Vec::new(),
        };
        // Reading the inbox reads what it shows.
        for f in follows.iter().filter(|f| f.unread > 0) {
            accounts.mark_read(person, &f.appid, None).await?;
        }
        Ok(minijinja::context! { messages => messages, follows => follows, found => found, q => query })
    })
    .await
}

async fn account(State(state): State<Arc<AppState>>, Path(appid): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let (s, u) = (&*state, &uri);
    signed_in_page(s, u, &headers, "wallet_account.html", |person, token, lang| async move {
        let accounts = &s.platform.official_accounts;
        let account = accounts.account(&appid).await?;
        let following = accounts.follows(person).await?.into_iter().find(|f| f.appid == appid);
        let (done, error) = notice(u, lang, &["followed", "unfollowed"]);
        Ok(minijinja::context! {
            account => account, following => following, notice => done, error => error, csrf => super::wallet::csrf(s, &token),
        })
    })
    .await
}

async fn follow(
    State(state): State<Arc<AppState>>,
    Path(appid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
    on: bool,
) -> Response {
    let (person, _) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let back = format!("/wallet/accounts/{appid}");
    let accounts = &state.platform.official_accounts;
    let done = if on {
        accounts.follow(person, &appid).await.map(|_| "followed")
    } else {
        accounts.unfollow(person, &appid).await.map(|_| "unfollowed")
    };
    match done {
        Ok(code) => redirect(&format!("{back}?done={code}")),
        Err(e) => failed_to(&back, e),
    }
}
