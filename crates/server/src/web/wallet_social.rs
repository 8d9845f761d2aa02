//! The web wallet's people: friends (add by phone number, accept), groups (made of friends), and red
//! packets (1:1 to a friend or shared in a group, lucky or equal; open one; see who got what). Every
//! post carries the session's CSRF token; sending carries the form's key, so a double submission is one
//! packet.

use super::Lang;
use super::wallet::{checked, error_page, failed_to, notice, redirect, signed_in_page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use platform::red_packets::{RedPacket, SendRedPacket, Split};
use platform::social::FriendState;
use platform::{PersonId, PlatformError};
use std::collections::HashMap;
use std::sync::Arc;

/// Red packets listed on the page, each list, at most.
const PACKETS_LISTED_MAX: i64 = 20;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/wallet/friends", get(friends).post(add_friend))
        .route("/wallet/friends/{id}/accept", post(accept_friend))
        .route("/wallet/groups", post(create_group))
        .route("/wallet/red-packets", get(red_packets).post(send_red_packet))
        .route("/wallet/red-packets/{id}", get(red_packet))
        .route("/wallet/red-packets/{id}/open", post(open_red_packet))
}

async fn friends(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (s, u) = (&*state, &uri);
    signed_in_page(
        s,
        u,
        &headers,
        "wallet_friends.html",
        |person, token, lang| async move { friends_context(s, person, &token, u, lang).await },
    )
    .await
}

async fn friends_context(
    state: &AppState,
    person: PersonId,
    token: &str,
    uri: &Uri,
    lang: Lang,
) -> Result<minijinja::Value, PlatformError> {
    let p = &state.platform;
    let all = p.social.friends(person).await?;
    let names: HashMap<PersonId, String> = all.iter().map(|f| (f.person_id, f.display_name.clone())).collect();
    let view = |f: &platform::social::Friend| minijinja::context! { id => f.person_id.to_string(), name => f.display_name };
    let accepted: Vec<_> = all.iter().filter(|f| f.state == FriendState::Accepted).map(view).collect();
    let asking: Vec<_> = all.iter().filter(|f| f.state != FriendState::Accepted && f.requested_by != person).map(view).collect();
    let asked: Vec<_> = all.iter().filter(|f| f.state != FriendState::Accepted && f.requested_by == person).map(view).collect();
    let me = p.people.person(person).await?.display_name;
    let groups: Vec<_> = p
        .social
        .groups(person)
        .await?
        .iter()
        .map(|g| {
            let members: Vec<String> = g
                .members
                .iter()
                .map(|m| if *m == person { me.clone() } else { names.get(m).cloned().unwrap_or_else(|| "·".into()) })
                .collect();
            minijinja::context! { id => g.id.to_string(), name => g.name, members => members.join(", ") }
        })
        .collect();
    let (done, error) = notice(uri, lang, &["friend_asked", "friend_accepted", "group_created"]);
    Ok(minijinja::context! {
        friends => accepted, asking => asking, asked => asked, groups => groups, notice => done, error => error,
        csrf => super::wallet::csrf(state, token),
    })
}

async fn add_friend(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let phone = f.get("phone").map(String::as_str).unwrap_or("").trim();
    let other = match state.platform.people.person_by_phone(phone).await {
        Ok(other) => other.id,
        Err(PlatformError::NotFound(_)) => return back_to_friends(PlatformError::invalid("phone", "no wallet has this phone number")),
        Err(e) => return back_to_friends(e),
    };
    match state.platform.social.request_friend(person, other).await {
        Ok(_) => redirect("/wallet/friends?done=friend_asked"),
        Err(e) => back_to_friends(e),
    }
}

async fn accept_friend(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (person, _) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let Ok(other) = PersonId::parse("id", &id) else { return back_to_friends(PlatformError::NotFound("friend request")) };
    match state.platform.social.accept_friend(person, other).await {
        Ok(_) => redirect("/wallet/friends?done=friend_accepted"),
        Err(e) => back_to_friends(e),
    }
}

/// A group of the friends ticked on the form (`member`, repeated).
async fn create_group(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let members: Result<Vec<PersonId>, _> =
        form_urlencoded::parse(&body).filter(|(name, _)| name == "member").map(|(_, value)| PersonId::parse("member", &value)).collect();
    let members = match members {
        Ok(m) if !m.is_empty() => m,
        Ok(_) => return back_to_friends(PlatformError::invalid("member", "tick at least one friend")),
        Err(e) => return back_to_friends(e),
    };
    match state.platform.social.create_group(person, f.get("name").map(String::as_str).unwrap_or(""), &members).await {
        Ok(_) => redirect("/wallet/friends?done=group_created"),
        Err(e) => back_to_friends(e),
    }
}

fn back_to_friends(e: PlatformError) -> Response {
    failed_to("/wallet/friends", e)
}

async fn red_packets(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (s, u) = (&*state, &uri);
    let context = |person, token: String, lang| async move { packets_context(s, person, &token, u, lang).await };
    signed_in_page(s, u, &headers, "wallet_red_packets.html", context).await
}

async fn packets_context(
    state: &AppState,
    person: PersonId,
    token: &str,
    uri: &Uri,
    lang: Lang,
) -> Result<minijinja::Value, PlatformError> {
    let p = &state.platform;
    let friends = p.social.friends(person).await?;
    let names: HashMap<PersonId, String> = friends.iter().map(|f| (f.person_id, f.display_name.clone())).collect();
    let accepted: Vec<_> = friends
        .iter()
        .filter(|f| f.state == FriendState::Accepted)
        .map(|f| minijinja::context! { id => f.person_id.to_string(), name => f.display_name })
        .collect();
    let groups: Vec<_> =
        p.social.groups(person).await?.iter().map(|g| minijinja::context! { id => g.id.to_string(), name => g.name }).collect();
    let listed = |r: &RedPacket| {
        let from = names.get(&r.sender_id).cloned().unwrap_or_default();
        let opened = r.claims.iter().any(|c| c.person_id == person);
        minijinja::context! {
            id => r.id.to_string(), title => r.title, from => from, total => r.total, currency => r.currency.code(),
            state => r.state.as_str(), opened => opened, shares => r.shares, claimed => r.claims.len(),
        }
    };
    let openable: Vec<_> = p.red_packets.openable(person, PACKETS_LISTED_MAX).await?.iter().map(listed).collect();
    let currencies: Vec<String> = p.wallet.balances(person).await?.iter().map(|b| b.currency.code().to_string()).collect();
    let (done, error) = notice(uri, lang, &[]);
    Ok(minijinja::context! {
        friends => accepted, groups => groups, openable => openable, currencies => currencies, notice => done, error => error,
        csrf => super::wallet::csrf(state, token), key => wxpay::random_alphanumeric(24),
    })
}

async fn send_red_packet(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    let split = Split::parse(field("split")).unwrap_or(Split::Single);
    let (to_person, to_group) = match split {
        Split::Single => match PersonId::parse("to", field("to")) {
            Ok(to) => (Some(to), None),
            Err(_) => return back_to_packets(PlatformError::invalid("to", "choose a friend")),
        },
        Split::Lucky | Split::Equal => match field("group").parse::<i64>() {
            Ok(group) => (None, Some(group)),
            Err(_) => return back_to_packets(PlatformError::invalid("group", "choose a group")),
        },
    };
    let shares = if split == Split::Single { 1 } else { field("shares").trim().parse::<i64>().unwrap_or(0) };
    let request = SendRedPacket {
        split,
        to_person,
        to_group,
        currency: field("currency"),
        amount: field("amount"),
        shares,
        title: Some(field("title")).filter(|t| !t.is_empty()),
        cover: None,
        pin: Some(field("pin")).filter(|p| !p.is_empty()),
    };
    let key = Some(field("key")).filter(|k| !k.is_empty() && k.len() <= 64).map(|k| format!("web-packet-{k}"));
    match state.platform.red_packets.send(person, request, key.as_deref()).await {
        Ok(packet) => redirect(&format!("/wallet/red-packets/{}?done=packet_sent", packet.id)),
        Err(e) => back_to_packets(e),
    }
}

fn back_to_packets(e: PlatformError) -> Response {
    failed_to("/wallet/red-packets", e)
}

async fn red_packet(State(state): State<Arc<AppState>>, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let Ok(id) = id.parse::<i64>() else { return error_page(PlatformError::NotFound("red packet")) };
    let (s, u) = (&*state, &uri);
    let context = |person, token: String, lang| async move { packet_context(s, person, id, &token, u, lang).await };
    signed_in_page(s, u, &headers, "wallet_red_packet.html", context).await
}

async fn packet_context(
    state: &AppState,
    person: PersonId,
    id: i64,
    token: &str,
    uri: &Uri,
    lang: Lang,
) -> Result<minijinja::Value, PlatformError> {
    let p = &state.platform;
    let r = p.red_packets.red_packet(person, id).await?;
    let mut claims = Vec::with_capacity(r.claims.len());
    for c in &r.claims {
        // The packet's sender and receivers share a chat: their display names are theirs to see.
        let name = p.people.person(c.person_id).await?.display_name;
        claims.push(minijinja::context! { name => name, amount => c.amount, mine => c.person_id == person });
    }
    let sender = p.people.person(r.sender_id).await?.display_name;
    let mine = r.claims.iter().find(|c| c.person_id == person).map(|c| c.amount.clone());
    let (done, error) = notice(uri, lang, &["packet_sent", "packet_opened"]);
    Ok(minijinja::context! {
        id => r.id.to_string(), title => r.title, sender => sender, total => r.total, claimed => r.claimed,
        currency => r.currency.code(), state => r.state.as_str(), shares => r.shares, claims => claims, mine => mine,
        may_open => may_open(&r, person, mine.is_some()),
        notice => done, error => error, csrf => super::wallet::csrf(state, token),
    })
}

/// An open packet not yet opened by this person, and theirs to open (a 1:1 packet is its receiver's).
fn may_open(r: &RedPacket, person: PersonId, opened: bool) -> bool {
    let theirs = r.split != Split::Single || r.receiver_id == Some(person);
    !opened && theirs && r.state == platform::red_packets::RedPacketState::Open
}

async fn open_red_packet(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (person, _) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<i64>() else { return back_to_packets(PlatformError::NotFound("red packet")) };
    match state.platform.red_packets.claim(person, id).await {
        Ok(_) => redirect(&format!("/wallet/red-packets/{id}?done=packet_opened")),
        Err(e) => failed_to(&format!("/wallet/red-packets/{id}"), e),
    }
}
