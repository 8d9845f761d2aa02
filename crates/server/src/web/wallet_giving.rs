//! The web wallet's giving: the campaigns open now, a campaign's page (its charity's verified badge and
//! registration, the story, the totals, live where the browser runs the page's script, and the match),
//! giving to it with the PIN (the form's key makes a double submission one gift), and each gift's
//! receipt.

use super::wallet::{checked, failed_to, notice, redirect, signed_in_page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use platform::charity::{CampaignView, Donate};
use platform::{PersonId, PlatformError};
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/wallet/campaigns", get(campaigns))
        .route("/wallet/campaigns/{id}", get(campaign))
        .route("/wallet/campaigns/{id}/donate", post(donate))
        .route("/wallet/donations/{id}", get(receipt))
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
        Ok(minijinja::context! { campaigns => open.iter().map(card).collect::<Vec<_>>(), mine => mine })
    })
    .await
}

async fn campaign(State(state): State<Arc<AppState>>, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let (s, u) = (&*state, &uri);
    signed_in_page(s, u, &headers, "wallet_campaign.html", |_, token, lang| async move {
        let c = s.platform.charity.campaign(platform::ids::parse("id", &id)?).await?;
        let (done, error) = notice(u, lang, &[]);
        Ok(minijinja::context! {
            campaign => card(&c), story => c.story.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>(), open => c.open, min => c.min_amount,
            badge => minijinja::context! { name => c.charity.name, number => c.charity.charity_number, jurisdiction => c.charity.jurisdiction },
            raised => c.totals.raised, matched => c.totals.matched, donations => c.totals.donations, donors => c.totals.donors,
            matching => c.matching.map(|m| minijinja::context! { cap => m.cap, per_donor => m.per_donor_max, left => m.left }),
            notice => done, error => error, csrf => super::wallet::csrf(s, &token), key => wxpay::random_alphanumeric(24),
        })
    })
    .await
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
    let ask = Donate {
        amount: field("amount"),
        currency: currency.code(),
        anonymous: field("anonymous") == "yes",
        message: Some(field("message")).filter(|m| !m.trim().is_empty()),
        pin: Some(field("pin")).filter(|p| !p.is_empty()),
    };
    let key = Some(field("key")).filter(|k| !k.is_empty() && k.len() <= 64).map(|k| format!("web-gift-{k}"));
    match state.platform.charity.donate(person, campaign, ask, key.as_deref()).await {
        Ok(gift) => redirect(&format!("/wallet/donations/{}", gift.id)),
        Err(e) => failed_to(&back, e),
    }
}

async fn receipt(State(state): State<Arc<AppState>>, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let s = &*state;
    signed_in_page(s, &uri, &headers, "wallet_receipt.html", |person: PersonId, _, _| async move {
        let r = s.platform.charity.receipt(person, platform::ids::parse("id", &id)?).await?;
        let matched = s.platform.charity.donation(person, r.donation_id).await?.view(false).matched;
        Ok(minijinja::context! { receipt => r, matched => matched })
    })
    .await
}
