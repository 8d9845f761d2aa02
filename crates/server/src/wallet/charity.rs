//! `/api/v1/campaigns`, `/donations`, `/charities/{mchid}/receipts`: a campaign as anyone sees it and its
//! live totals (server-sent events, no polling), giving to it, a sponsor's match, a person's donations,
//! each donation's receipt and the yearly summary per charity.

use super::{Answer, Key, Params, SignedIn, St, WalletError, id, json, parse, person_id};
use crate::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use platform::PlatformError;
use platform::charity::{Donate, NewPledge, NewRecurring, SendGift, live::LIVE_CHECK_MS};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Live streams one instance serves at once; past it a watcher is told to come back (503).
const LIVE_STREAMS_MAX: usize = 2_000;
/// A stream ends after this long (an EventSource reconnects by itself), so none is held forever.
const LIVE_STREAM_S_MAX: u64 = 3_600;

pub(super) async fn campaign(state: St, Path(c): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.charity.campaign(id("id", &c)?).await?))
}

/// The campaign's totals now, then again each time they change (`event: totals`, data: the totals).
pub(super) async fn live(state: St, Path(c): Path<String>) -> Answer<Response> {
    let campaign = id("id", &c)?;
    let first = state.platform.charity.campaign(campaign).await?;
    let Ok(slot) = state.live_streams.clone().try_acquire_owned() else { return Err(WalletError(PlatformError::Unavailable)) };
    let Some(changes) = state.platform.charity.live.watch(campaign) else { return Err(WalletError(PlatformError::Unavailable)) };
    let ends = tokio::time::Instant::now() + Duration::from_secs(LIVE_STREAM_S_MAX);
    let start = (state.0.clone(), changes, None::<platform::charity::TotalsView>, slot, Some(first.totals));
    let stream = futures_util::stream::unfold(start, move |(state, mut changes, last, slot, mut first)| async move {
        loop {
            let now = match first.take() {
                Some(totals) => totals,
                None => match next_totals(&state, campaign, &mut changes, ends).await {
                    Some(totals) => totals,
                    None => return None,
                },
            };
            if last.as_ref() != Some(&now) {
                let event = Event::default().event("totals").json_data(&now).unwrap_or_default();
                return Some((Ok::<Event, std::convert::Infallible>(event), (state, changes, Some(now), slot, None)));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// Wait for a change on this instance or the next check, then read the totals as committed; `None`
/// when the stream's time is up or the campaign is gone.
async fn next_totals(
    state: &AppState,
    campaign: i64,
    changes: &mut tokio::sync::watch::Receiver<u64>,
    ends: tokio::time::Instant,
) -> Option<platform::charity::TotalsView> {
    tokio::select! {
        _ = changes.changed() => {}
        _ = tokio::time::sleep(Duration::from_millis(LIVE_CHECK_MS)) => {}
    }
    if tokio::time::Instant::now() >= ends {
        return None;
    }
    state.platform.charity.campaign(campaign).await.ok().map(|c| c.totals)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DonateIn {
    amount: String,
    currency: String,
    #[serde(default)]
    anonymous: bool,
    message: Option<String>,
    pin: Option<String>,
    /// Give straight from this linked card.
    card_id: Option<String>,
    /// Pay from this balance, converted when it is not the campaign's currency.
    balance_currency: Option<String>,
    quote_id: Option<String>,
}

pub(super) async fn donate(
    SignedIn(me): SignedIn,
    state: St,
    Key(key): Key,
    Path(c): Path<String>,
    body: axum::body::Bytes,
) -> Answer<Response> {
    let r: DonateIn = parse(&body)?;
    let ask = Donate {
        amount: &r.amount,
        currency: &r.currency,
        anonymous: r.anonymous,
        message: r.message.as_deref(),
        pin: r.pin.as_deref(),
        card: r.card_id.as_deref().map(|c| id("card_id", c)).transpose()?,
        balance_currency: r.balance_currency.as_deref(),
        quote: r.quote_id.as_deref().map(|q| id("quote_id", q)).transpose()?,
    };
    Ok(json(StatusCode::CREATED, &state.platform.charity.donate(me, id("id", &c)?, ask, key.as_deref()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PledgeIn {
    currency: String,
    cap: String,
    per_donor_max: String,
    pin: Option<String>,
}

pub(super) async fn pledge(
    SignedIn(me): SignedIn,
    state: St,
    Key(key): Key,
    Path(c): Path<String>,
    body: axum::body::Bytes,
) -> Answer<Response> {
    let r: PledgeIn = parse(&body)?;
    let ask = NewPledge { currency: &r.currency, cap: &r.cap, per_donor_max: &r.per_donor_max, pin: r.pin.as_deref() };
    Ok(json(StatusCode::CREATED, &state.platform.charity.pledge(me, id("id", &c)?, ask, key.as_deref()).await?))
}

pub(super) async fn donations(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.charity.donations_by(me).await?))
}

pub(super) async fn receipt(SignedIn(me): SignedIn, state: St, Path(d): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.charity.receipt(me, id("id", &d)?).await?))
}

#[derive(Deserialize)]
pub(super) struct YearQuery {
    year: i32,
}

pub(super) async fn year_summary(
    SignedIn(me): SignedIn,
    state: St,
    Path(mchid): Path<String>,
    Params(q): Params<YearQuery>,
) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.charity.year_summary(me, &mchid, q.year).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecurringIn {
    amount: String,
    currency: String,
    card_id: Option<String>,
    #[serde(default)]
    anonymous: bool,
    pin: Option<String>,
}

/// Set up a monthly donation; its first gift is made at once.
pub(super) async fn start_recurring(
    SignedIn(me): SignedIn,
    state: St,
    Key(key): Key,
    Path(c): Path<String>,
    body: axum::body::Bytes,
) -> Answer<Response> {
    let r: RecurringIn = parse(&body)?;
    let card = r.card_id.as_deref().map(|c| id("card_id", c)).transpose()?;
    let ask = NewRecurring { amount: &r.amount, currency: &r.currency, card, anonymous: r.anonymous, pin: r.pin.as_deref() };
    Ok(json(StatusCode::CREATED, &state.platform.charity.start_recurring(me, id("id", &c)?, ask, key.as_deref()).await?))
}

pub(super) async fn recurring(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.charity.recurring_by(me).await?))
}

pub(super) async fn stop_recurring(SignedIn(me): SignedIn, state: St, Path(r): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.charity.stop_recurring(me, id("id", &r)?).await?))
}

/// A campaign's Inspired Gifts on offer (public).
pub(super) async fn catalogue(state: St, Path(c): Path<String>) -> Answer<Response> {
    let items = state.platform.charity.catalogue(id("id", &c)?, true).await?;
    Ok(json(StatusCode::OK, &items))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GiftIn {
    item_id: String,
    friend_id: String,
    note: Option<String>,
    pin: Option<String>,
    card_id: Option<String>,
    balance_currency: Option<String>,
}

/// Give an Inspired Gift in a friend's name.
pub(super) async fn send_gift(SignedIn(me): SignedIn, state: St, Key(key): Key, body: axum::body::Bytes) -> Answer<Response> {
    let r: GiftIn = parse(&body)?;
    let ask = SendGift {
        item: id("item_id", &r.item_id)?,
        friend: person_id("friend_id", &r.friend_id)?,
        note: r.note.as_deref(),
        pin: r.pin.as_deref(),
        card: r.card_id.as_deref().map(|c| id("card_id", c)).transpose()?,
        balance_currency: r.balance_currency.as_deref(),
    };
    Ok(json(StatusCode::CREATED, &state.platform.charity.send_gift(me, ask, key.as_deref()).await?))
}

pub(super) async fn gift_cards(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.charity.gift_cards(me).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ThanksIn {
    message: String,
}

pub(super) async fn thank(SignedIn(me): SignedIn, state: St, Path(g): Path<String>, body: axum::body::Bytes) -> Answer<Response> {
    let r: ThanksIn = parse(&body)?;
    Ok(json(StatusCode::OK, &state.platform.charity.thank(me, id("id", &g)?, &r.message).await?))
}

/// A donation's receipt as a PDF (the same data as the JSON receipt).
pub(super) async fn receipt_pdf(SignedIn(me): SignedIn, state: St, Path(d): Path<String>) -> Answer<Response> {
    let receipt = state.platform.charity.receipt(me, id("id", &d)?).await?;
    let pdf = crate::receipt_pdf::render(&receipt);
    let name = format!("attachment; filename=\"{}.pdf\"", receipt.receipt_no);
    Ok(([(axum::http::header::CONTENT_TYPE, "application/pdf".to_string()), (axum::http::header::CONTENT_DISPOSITION, name)], pdf)
        .into_response())
}

/// A donor's year of gifts to a charity as a PDF.
pub(super) async fn year_summary_pdf(
    SignedIn(me): SignedIn,
    state: St,
    Path(mchid): Path<String>,
    Params(q): Params<YearQuery>,
) -> Answer<Response> {
    let summary = state.platform.charity.year_summary(me, &mchid, q.year).await?;
    let name = format!("attachment; filename=\"donations-{}-{}.pdf\"", mchid, q.year);
    let pdf = crate::receipt_pdf::render_year(&summary);
    Ok(([(axum::http::header::CONTENT_TYPE, "application/pdf".to_string()), (axum::http::header::CONTENT_DISPOSITION, name)], pdf)
        .into_response())
}

/// The live streams' slots (see [`LIVE_STREAMS_MAX`]).
pub fn live_slots() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(LIVE_STREAMS_MAX))
}
