//! `/api/v1/red-packets`, `/red-packet-covers`.

use super::{Answer, Key, SignedIn, St, id, json, parse, person_id};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use platform::PlatformError;
use platform::red_packets::{SendRedPacket, Split};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RedPacketIn {
    split: String,
    to_person_id: Option<String>,
    to_group_id: Option<String>,
    currency: String,
    /// The total (single, lucky) or the amount of each share (equal).
    amount: String,
    #[serde(default = "one")]
    shares: i64,
    title: Option<String>,
    cover: Option<String>,
    pin: Option<String>,
}

fn one() -> i64 {
    1
}

pub(super) async fn send(SignedIn(me): SignedIn, state: St, Key(key): Key, body: axum::body::Bytes) -> Answer<Response> {
    let r: RedPacketIn = parse(&body)?;
    let split = Split::parse(&r.split).ok_or_else(|| PlatformError::invalid("split", "single, lucky or equal"))?;
    let request = SendRedPacket {
        split,
        to_person: r.to_person_id.as_deref().map(|p| person_id("to_person_id", p)).transpose()?,
        to_group: r.to_group_id.as_deref().map(|g| id("to_group_id", g)).transpose()?,
        currency: &r.currency,
        amount: &r.amount,
        shares: r.shares,
        title: r.title.as_deref(),
        cover: r.cover.as_deref(),
        pin: r.pin.as_deref(),
    };
    Ok(json(StatusCode::CREATED, &state.platform.red_packets.send(me, request, key.as_deref()).await?))
}

pub(super) async fn red_packet(SignedIn(me): SignedIn, state: St, Path(p): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.red_packets.red_packet(me, id("id", &p)?).await?))
}

pub(super) async fn claim(SignedIn(me): SignedIn, state: St, Path(p): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::CREATED, &state.platform.red_packets.claim(me, id("id", &p)?).await?))
}

/// Red-packet covers merchants published, newest first.
pub(super) async fn covers(_who: SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.red_packets.covers(platform::red_packets::COVERS_PAGE_MAX).await?))
}
