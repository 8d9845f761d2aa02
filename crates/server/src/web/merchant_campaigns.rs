//! The merchant console's campaigns, for a charity: its campaigns with their totals, and each one's page
//! with the live total (the same stream the wallet's page reads) and its donations, anonymous donors
//! unnamed. (Campaigns are made on the signed merchant API, `/v3/qianbao/campaigns`.)

use super::merchant::{Local, failed, session, to_sign_in};
use super::wallet::csrf;
use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use platform::PlatformError;
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/merchant/campaigns", get(campaigns)).route("/merchant/campaigns/{id}", get(campaign))
}

async fn campaigns(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    let charity = state.platform.charity.charity_of(user.merchant_id).await.ok();
    let list = match charity {
        Some(_) => match state.platform.charity.campaigns_of(user.merchant_id).await {
            Ok(list) => list,
            Err(e) => return failed(e),
        },
        None => Vec::new(),
    };
    let view: Vec<_> = list
        .iter()
        .map(|c| minijinja::context! { id => c.id.to_string(), title => c.title, total => c.totals.total, goal => c.goal, currency => c.currency.code(), donations => c.totals.donations, open => c.open })
        .collect();
    let context = minijinja::context! {
        user => user, csrf => csrf(&state, &token), charity => charity.map(|c| minijinja::context! { number => c.charity_number, jurisdiction => c.jurisdiction, state => c.state.as_str() }),
        campaigns => view,
    };
    page("merchant_campaigns.html", lang, chosen, context)
}

async fn campaign(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    let local = match Local::of(&state, &user).await {
        Ok(local) => local,
        Err(failed) => return failed,
    };
    let Ok(id) = platform::ids::parse("id", &id) else { return failed(PlatformError::NotFound("campaign")) };
    let charity = &state.platform.charity;
    let (c, gifts, items) =
        match tokio::try_join!(charity.campaign(id), charity.donations_of(user.merchant_id, id), charity.catalogue(id, false)) {
            Ok(found) => found,
            Err(e) => return failed(e),
        };
    let gifts: Vec<_> = gifts
        .iter()
        .map(|d| minijinja::context! { receipt_no => d.receipt_no, donor => d.donor, amount => d.amount, matched => d.matched, message => d.message, state => d.state.as_str(), at => local.time(d.created_at_ms) })
        .collect();
    let context = minijinja::context! {
        user => user, csrf => csrf(&state, &token), id => c.id.to_string(), title => c.title, currency => c.currency.code(), goal => c.goal,
        total => c.totals.total, raised => c.totals.raised, matched => c.totals.matched, donations => c.totals.donations, donors => c.totals.donors,
        progress => (c.totals.progress_bps / 100).min(100), ends => local.time(c.ends_at_ms), gifts => gifts,
        items => items.iter().map(|i| minijinja::context! { name => i.name, price => i.price, sold => i.sold, state => i.state.as_str() }).collect::<Vec<_>>(),
    };
    page("merchant_campaign.html", lang, chosen, context)
}
