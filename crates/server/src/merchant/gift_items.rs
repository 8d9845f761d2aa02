//! `/v3/qianbao/campaigns/{id}/gift-items` and `/v3/qianbao/gift-items/{id}/withdraw` (a Qianbao
//! extension, signed like the rest of the wire): a charity publishes its Inspired Gifts catalogue for a
//! campaign (`out_item_no` makes a retry the same item), reads it with how many of each were given, and
//! withdraws an item. Prices are integers in minor units.

use super::WxError;
use super::auth::{authenticate, parse_body};
use super::signing::signed_json;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use platform::charity::{GiftItem, NewGiftItem};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceIn {
    /// Minor units.
    total: i64,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemIn {
    out_item_no: String,
    name: String,
    #[serde(default)]
    description: String,
    price: PriceIn,
}

/// An item on this wire.
fn wire(i: &GiftItem) -> Value {
    json!({
        "item_id": i.id.to_string(), "campaign_id": i.campaign_id.to_string(), "out_item_no": i.out_item_no,
        "name": i.name, "description": i.description,
        "price": {"total": i.price_minor, "currency": i.currency.code()},
        "sold": i.sold, "state": i.state.as_str(),
    })
}

/// The campaign's id, checked to be this charity's.
async fn own_campaign(state: &AppState, merchant: platform::MerchantId, id: &str) -> Result<i64, WxError> {
    Ok(super::campaigns::own_campaign(state, merchant, id).await?.id)
}

pub(super) async fn publish(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let campaign = own_campaign(&state, merchant.merchant.id, &id).await?;
    let r: ItemIn = parse_body(&body)?;
    let ask = NewGiftItem {
        out_item_no: &r.out_item_no,
        name: &r.name,
        description: &r.description,
        price_minor: r.price.total,
        currency: &r.price.currency,
    };
    let item = state.platform.charity.publish_item(merchant.merchant.id, campaign, ask).await?;
    signed_json(&state, &merchant, &headers, &wire(&item)).await
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let campaign = own_campaign(&state, merchant.merchant.id, &id).await?;
    let items = state.platform.charity.catalogue(campaign, false).await?;
    let data: Vec<Value> = items.iter().map(wire).collect();
    signed_json(&state, &merchant, &headers, &json!({"total_count": data.len(), "data": data})).await
}

pub(super) async fn withdraw(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let id = platform::ids::parse("item_id", &id)?;
    let item = state.platform.charity.withdraw_item(merchant.merchant.id, id).await?;
    signed_json(&state, &merchant, &headers, &wire(&item)).await
}
