//! The web wallet's giving: the campaigns open now, a campaign's page (its charity's verified badge and
//! registration, the story, the totals, live where the browser runs the page's script, and the match),
//! giving to it with the PIN from the balance or a linked card, once or every month (the form's key
//! makes a double submission one gift), its Inspired Gifts given in a friend's name, the gift cards a
//! person received (with their thanks) or sent, the monthly donations (stopped here), and each gift's
//! receipt, as a page and as a PDF.

use super::wallet::{checked, failed_to, notice, redirect, signed_in_page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::charity::{CampaignView, Donate, NewRecurring, SendGift};
use platform::{PersonId, PlatformError};
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/wallet/campaigns", get(campaigns))
        .route("/wallet/campaigns/{id}", get(campaign))
        .route("/wallet/campaigns/{id}/donate", post(donate))
        .route("/wallet/campaigns/{id}/gifts", post(send_gift))
        .route("/wallet/donations/{id}", get(receipt))
        .route("/wallet/donations/{id}/receipt.pdf", get(receipt_pdf))
        .route("/wallet/gifts", get(gift_cards))
        .route("/wallet/gifts/{id}/thanks", post(thank))
        .route("/wallet/recurring/{id}/stop", post(stop_recurring))
}

/// A campaign's card in a list.
fn card(c: &CampaignView) -> minijinja::Value {
    minijinja::context! {
        id => c.id.to_string(), title => c.title, charity => c.charity.name, currency => c.currency.code(),
        total => c.totals.total, goal => c.goal, progress => (c.totals.progress_bps / 100).min(100),
    }
}

async fn campaigns(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let s = &*state;
    signed_in_page(s, &uri, &headers, "wallet_campaigns.html", |person, _, _| async move {
        let open = s.platform.charity.open_campaigns().await?;
        let mine: Vec<_> = s
            .platform
            .charity
            .donations_by(person)
            .await?
            .iter()
            .map(|d| minijinja::context! { id => d.id.to_string(), amount => d.amount, currency => d.currency.code(), receipt_no => d.receipt_no, state => d.state.as_str() })
            .collect();
        let monthly: Vec<_> = s
            .platform
            .charity
            .recurring_by(person)
            .await?
            .iter()
            .map(|r| minijinja::context! {
                id => r.id.to_string(), campaign => r.campaign_id.to_string(), amount => r.amount, currency => r.currency.code(),
                state => r.state.as_str(), charges => r.charges, active => r.state == platform::charity::RecurringState::Active,
                failure => r.last_failure,
            })
            .collect();
        Ok(minijinja::context! { campaigns => open.iter().map(card).collect::<Vec<_>>(), mine => mine, monthly => monthly })
    })
    .await
}

async fn campaign(State(state): State<Arc<AppState>>, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let (s, u) = (&*state, &uri);
    signed_in_page(s, u, &headers, "wallet_campaign.html", |person, token, lang| async move {
        let c = s.platform.charity.campaign(platform::ids::parse("id", &id)?).await?;
        let (done, error) = notice(u, lang, &["gift_sent", "monthly_started"]);
        let cards: Vec<_> = s.platform.wallet.cards(person).await?.iter().map(|k| minijinja::context! { id => k.id.to_string(), label => format!("{} ····{}", k.brand, k.last4) }).collect();
        let gifts: Vec<_> = s.platform.charity.catalogue(c.id, true).await?.iter().map(|i| minijinja::context! { id => i.id.to_string(), name => i.name, description => i.description, price => i.price }).collect();
        let friends: Vec<_> = s
            .platform
            .social
            .friends(person)
            .await?
            .into_iter()
            .filter(|f| f.state == platform::social::FriendState::Accepted)
            .map(|f| minijinja::context! { id => f.person_id.to_string(), name => f.display_name })
            .collect();
        Ok(minijinja::context! {
            campaign => card(&c), story => c.story.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>(), open => c.open, min => c.min_amount,
            badge => minijinja::context! { name => c.charity.name, number => c.charity.charity_number, jurisdiction => c.charity.jurisdiction },
            raised => c.totals.raised, matched => c.totals.matched, donations => c.totals.donations, donors => c.totals.donors,
            matching => c.matching.map(|m| minijinja::context! { cap => m.cap, per_donor => m.per_donor_max, left => m.left }),
            notice => done, error => error, csrf => super::wallet::csrf(s, &token), key => wxpay::random_alphanumeric(24),
            cards => cards, gifts => gifts, friends => friends,
        })
    })
    .await
}

/// The form's "pay with": `balance` or `card:<id>`.
fn pay_with(field: &str) -> Result<Option<i64>, PlatformError> {
    match field.strip_prefix("card:") {
        Some(card) => platform::ids::parse("pay_with", card).map(Some),
        None if field.is_empty() || field == "balance" => Ok(None),
        None => Err(PlatformError::invalid("pay_with", "the balance or one of your cards")),
    }
}

async fn donate(State(state): State<Arc<AppState>>, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let back = format!("/wallet/campaigns/{id}");
    let Ok(campaign) = platform::ids::parse("id", &id) else { return failed_to(&back, PlatformError::NotFound("campaign")) };
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    let currency = match state.platform.charity.campaign(campaign).await {
        Ok(c) => c.currency,
        Err(e) => return failed_to(&back, e),
    };
    let card = match pay_with(field("pay_with")) {
        Ok(card) => card,
        Err(e) => return failed_to(&back, e),
    };
    let pin = Some(field("pin")).filter(|p| !p.is_empty());
    let key = Some(field("key")).filter(|k| !k.is_empty() && k.len() <= 64).map(|k| format!("web-gift-{k}"));
    if field("monthly") == "yes" {
        let ask = NewRecurring { amount: field("amount"), currency: currency.code(), card, anonymous: field("anonymous") == "yes", pin };
        return match state.platform.charity.start_recurring(person, campaign, ask, key.as_deref()).await {
            Ok(_) => redirect(&format!("{back}?done=monthly_started")),
            Err(e) => failed_to(&back, e),
        };
    }
    let ask = Donate {
        amount: field("amount"),
        currency: currency.code(),
        anonymous: field("anonymous") == "yes",
        message: Some(field("message")).filter(|m| !m.trim().is_empty()),
        pin,
        card,
        ..Donate::default()
    };
    match state.platform.charity.donate(person, campaign, ask, key.as_deref()).await {
        Ok(gift) => redirect(&format!("/wallet/donations/{}", gift.id)),
        Err(e) => failed_to(&back, e),
    }
}

/// Give one of the campaign's Inspired Gifts in a friend's name.
async fn send_gift(State(state): State<Arc<AppState>>, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let back = format!("/wallet/campaigns/{id}");
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    let parsed =
        (platform::ids::parse("item_id", field("item")), platform::ids::parse("friend_id", field("friend")), pay_with(field("pay_with")));
    let (item, friend, card) = match parsed {
        (Ok(item), Ok(friend), Ok(card)) => (item, PersonId::new(friend), card),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return failed_to(&back, e),
    };
    let note = Some(field("note")).filter(|n| !n.trim().is_empty());
    let ask = SendGift { item, friend, note, pin: Some(field("pin")).filter(|p| !p.is_empty()), card, balance_currency: None };
    let key = Some(field("key")).filter(|k| !k.is_empty() && k.len() <= 64).map(|k| format!("web-inspired-{k}"));
    match state.platform.charity.send_gift(person, ask, key.as_deref()).await {
        Ok(_) => redirect(&format!("{back}?done=gift_sent")),
        Err(e) => failed_to(&back, e),
    }
}

/// The gift cards received (to thank their giver) and sent.
async fn gift_cards(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (s, u) = (&*state, &uri);
    signed_in_page(s, u, &headers, "wallet_gifts.html", |person, token, lang| async move {
        let cards = s.platform.charity.gift_cards(person).await?;
        let (done, error) = notice(u, lang, &["gift_thanked"]);
        Ok(minijinja::context! { cards => cards, notice => done, error => error, csrf => super::wallet::csrf(s, &token) })
    })
    .await
}

async fn thank(State(state): State<Arc<AppState>>, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let Ok(card) = platform::ids::parse("id", &id) else { return failed_to("/wallet/gifts", PlatformError::NotFound("gift card")) };
    let message = f.get("message").map(String::as_str).unwrap_or("");
    match state.platform.charity.thank(person, card, message).await {
        Ok(_) => redirect("/wallet/gifts?done=gift_thanked"),
        Err(e) => failed_to("/wallet/gifts", e),
    }
}

async fn stop_recurring(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (person, _) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let Ok(plan) = platform::ids::parse("id", &id) else {
        return failed_to("/wallet/campaigns", PlatformError::NotFound("recurring donation"));
    };
    match state.platform.charity.stop_recurring(person, plan).await {
        Ok(_) => redirect("/wallet/campaigns"),
        Err(e) => failed_to("/wallet/campaigns", e),
    }
}

/// The receipt's PDF, for the signed-in donor.
async fn receipt_pdf(State(state): State<Arc<AppState>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Some((person, _)) = super::wallet::session(&state, &headers).await else { return redirect("/wallet/sign-in") };
    let receipt = match platform::ids::parse("id", &id) {
        Ok(id) => state.platform.charity.receipt(person, id).await,
        Err(e) => Err(e),
    };
    match receipt {
        Ok(r) => {
            let disposition = format!("inline; filename=\"{}.pdf\"", r.receipt_no);
            let headers =
                [(axum::http::header::CONTENT_TYPE, "application/pdf".to_string()), (axum::http::header::CONTENT_DISPOSITION, disposition)];
            (headers, crate::receipt_pdf::render(&r)).into_response()
        }
        Err(e) => failed_to("/wallet/campaigns", e),
    }
}

async fn receipt(State(state): State<Arc<AppState>>, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let s = &*state;
    signed_in_page(s, &uri, &headers, "wallet_receipt.html", |person: PersonId, _, _| async move {
        let r = s.platform.charity.receipt(person, platform::ids::parse("id", &id)?).await?;
        let matched = s.platform.charity.donation(person, r.donation_id).await?.view(false).matched;
        Ok(minijinja::context! { receipt => r, matched => matched, id => id })
    })
    .await
}
