//! `/api/v1/friends`, `/groups`.

use super::{Answer, SignedIn, St, WalletError, id, json, parse, person_id};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use platform::{PersonId, PlatformError};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FriendIn {
    phone: Option<String>,
    person_id: Option<String>,
}

pub(super) async fn add_friend(SignedIn(me): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: FriendIn = parse(&body)?;
    let other = match (r.phone, r.person_id) {
        (Some(phone), None) => state.platform.people.person_by_phone(&phone).await?.id,
        (None, Some(pid)) => person_id("person_id", &pid)?,
        _ => return Err(PlatformError::invalid("phone", "give exactly one of phone and person_id").into()),
    };
    Ok(json(StatusCode::CREATED, &state.platform.social.request_friend(me, other).await?))
}

pub(super) async fn accept_friend(SignedIn(me): SignedIn, state: St, Path(other): Path<String>) -> Answer<Response> {
    let other = person_id("id", &other)?;
    Ok(json(StatusCode::OK, &state.platform.social.accept_friend(me, other).await?))
}

pub(super) async fn friends(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.social.friends(me).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupIn {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

fn people(field: &'static str, list: &[String]) -> Answer<Vec<PersonId>> {
    list.iter().map(|s| PersonId::parse(field, s).map_err(WalletError)).collect()
}

pub(super) async fn create_group(SignedIn(me): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: GroupIn = parse(&body)?;
    let members = people("members", &r.members)?;
    Ok(json(StatusCode::CREATED, &state.platform.social.create_group(me, &r.name, &members).await?))
}

pub(super) async fn groups(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.social.groups(me).await?))
}

pub(super) async fn group(SignedIn(me): SignedIn, state: St, Path(group): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.social.group(me, id("id", &group)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MembersIn {
    members: Vec<String>,
}

pub(super) async fn add_members(SignedIn(me): SignedIn, state: St, Path(group): Path<String>, body: axum::body::Bytes) -> Answer<Response> {
    let r: MembersIn = parse(&body)?;
    let members = people("members", &r.members)?;
    Ok(json(StatusCode::OK, &state.platform.social.add_group_members(me, id("id", &group)?, &members).await?))
}
