//! `/v3/qianbao/campaigns` (a Qianbao extension beside the WeChat v3 wire, signed the same way): a
//! charity makes a campaign (`out_campaign_no` makes a retry the same campaign), reads it with its live
//! totals and its donations (anonymous donors unnamed), and refunds a donation.
//! Times are RFC 3339, amounts integers in minor units as everywhere on this wire.

use super::WxError;
use super::auth::{authenticate, parse_body};
use super::signing::signed_json;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use platform::PlatformError;
use platform::charity::{CampaignView, NewCampaign};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AmountIn {
    /// Minor units.
    goal: i64,
    min_amount: i64,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignIn {
    out_campaign_no: String,
    title: String,
    story: String,
    amount: AmountIn,
    start_time: Option<String>,
    end_time: String,
}

fn minor_to_decimal(field: &'static str, minor: i64, currency: &str) -> Result<String, WxError> {
    let c = platform::wallet::parse_currency(currency)?;
    if minor <= 0 {
        return Err(PlatformError::invalid(field, "a positive amount in minor units").into());
    }
    Ok(platform::wallet::decimal(minor, c))
}

fn time_ms(field: &'static str, text: &str) -> Result<i64, WxError> {
    wxpay::time::parse_rfc3339(text).map(|s| s * 1000).ok_or_else(|| PlatformError::invalid(field, "an RFC 3339 time").into())
}

/// A campaign on this wire: amounts in minor units, times RFC 3339.
fn wire(c: &CampaignView) -> Value {
    let t = &c.totals.minor;
    let rfc = |ms: i64| wxpay::time::format_rfc3339(ms / 1000);
    json!({
        "campaign_id": c.id.to_string(),
        "out_campaign_no": c.out_campaign_no,
        "title": c.title,
        "story": c.story,
        "amount": {"goal": c.goal_minor, "min_amount": c.min_minor, "currency": c.currency.code()},
        "start_time": rfc(c.starts_at_ms),
        "end_time": rfc(c.ends_at_ms),
        "open": c.open,
        "totals": {
            "raised": t.raised_minor, "matched": t.matched_minor, "total": t.raised_minor + t.matched_minor,
            "donations": c.totals.donations, "donors": c.totals.donors, "progress_bps": c.totals.progress_bps,
        },
    })
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: CampaignIn = parse_body(&body)?;
    let new = NewCampaign {
        out_campaign_no: r.out_campaign_no,
        title: r.title,
        story: r.story,
        goal: minor_to_decimal("amount.goal", r.amount.goal, &r.amount.currency)?,
        min_amount: minor_to_decimal("amount.min_amount", r.amount.min_amount, &r.amount.currency)?,
        currency: r.amount.currency,
        starts_at_ms: r.start_time.as_deref().map(|t| time_ms("start_time", t)).transpose()?,
        ends_at_ms: time_ms("end_time", &r.end_time)?,
    };
    let campaign = state.platform.charity.create_campaign(merchant.merchant.id, new).await?;
    signed_json(&state, &merchant, &headers, &wire(&campaign)).await
}

pub(super) async fn own_campaign(state: &AppState, merchant: platform::MerchantId, id: &str) -> Result<CampaignView, WxError> {
    let id = platform::ids::parse("campaign_id", id)?;
    let campaign = state.platform.charity.campaign(id).await?;
    let owner = state.platform.charity.charity_of(merchant).await.map_err(|_| PlatformError::NotFound("campaign"))?;
    if campaign.charity.mchid != owner.mchid {
        return Err(PlatformError::NotFound("campaign").into());
    }
    Ok(campaign)
}

pub(super) async fn campaign(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let campaign = own_campaign(&state, merchant.merchant.id, &id).await?;
    signed_json(&state, &merchant, &headers, &wire(&campaign)).await
}

pub(super) async fn donations(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let campaign = own_campaign(&state, merchant.merchant.id, &id).await?;
    let list = state.platform.charity.donations_of(merchant.merchant.id, campaign.id).await?;
    let data: Vec<Value> = list
        .iter()
        .map(|d| {
            json!({
                "donation_id": d.id.to_string(), "receipt_no": d.receipt_no, "donor": d.donor,
                "amount": {"total": d.amount_minor, "matched": d.matched_minor, "currency": d.currency.code()},
                "message": d.message, "state": d.state.as_str(), "create_time": wxpay::time::format_rfc3339(d.created_at_ms / 1000),
            })
        })
        .collect();
    signed_json(&state, &merchant, &headers, &json!({"total_count": data.len(), "data": data})).await
}

pub(super) async fn refund(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let id = platform::ids::parse("donation_id", &id)?;
    let refunded = state.platform.charity.refund(merchant.merchant.id, id, None).await?;
    let body = json!({"donation_id": refunded.id.to_string(), "state": refunded.state.as_str()});
    signed_json(&state, &merchant, &headers, &body).await
}
