//! `/api/v1/official-accounts`, `/follows`, `/inbox`: find an account (by id or name), follow, mute or
//! unfollow it, and read what the accounts one follows published, with the unread count.

use super::{Answer, Params, SignedIn, St, json, parse};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    q: String,
}

pub(super) async fn search(_me: SignedIn, state: St, Params(q): Params<SearchQuery>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.official_accounts.search(&q.q).await?))
}

pub(super) async fn account(_me: SignedIn, state: St, Path(appid): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.official_accounts.account(&appid).await?))
}

pub(super) async fn follow(SignedIn(me): SignedIn, state: St, Path(appid): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.official_accounts.follow(me, &appid).await?))
}

pub(super) async fn unfollow(SignedIn(me): SignedIn, state: St, Path(appid): Path<String>) -> Answer<Response> {
    state.platform.official_accounts.unfollow(me, &appid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MuteIn {
    muted: bool,
}

pub(super) async fn mute(SignedIn(me): SignedIn, state: St, Path(appid): Path<String>, body: axum::body::Bytes) -> Answer<Response> {
    let r: MuteIn = parse(&body)?;
    Ok(json(StatusCode::OK, &state.platform.official_accounts.set_muted(me, &appid, r.muted).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ReadIn {
    up_to: Option<String>,
}

pub(super) async fn read(SignedIn(me): SignedIn, state: St, Path(appid): Path<String>, body: axum::body::Bytes) -> Answer<Response> {
    let r: ReadIn = if body.is_empty() { ReadIn::default() } else { parse(&body)? };
    let up_to = r.up_to.as_deref().map(|u| platform::ids::parse("up_to", u)).transpose()?;
    Ok(json(StatusCode::OK, &state.platform.official_accounts.mark_read(me, &appid, up_to).await?))
}

pub(super) async fn follows(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.official_accounts.follows(me).await?))
}

#[derive(Deserialize)]
pub(super) struct InboxQuery {
    before: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn inbox(SignedIn(me): SignedIn, state: St, Params(q): Params<InboxQuery>) -> Answer<Response> {
    let accounts = &state.platform.official_accounts;
    let before = q.before.as_deref().map(|b| platform::ids::parse("before", b)).transpose()?;
    let messages = accounts.inbox(me, before, q.limit.unwrap_or(20)).await?;
    let unread = accounts.unread(me).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"unread": unread, "messages": messages})))
}
