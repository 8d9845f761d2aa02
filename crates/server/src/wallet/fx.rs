//! `/api/v1/fx/...`: quotes that lock a price for a while, and converting between one's own balances.

use super::{Answer, Key, SignedIn, St, id, json, parse};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use platform::PlatformError;
use platform::fx::{Channel, QuoteRequest};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QuoteIn {
    sell_currency: String,
    buy_currency: String,
    sell_amount: Option<String>,
    buy_amount: Option<String>,
    /// `conversion` (between one's own balances, the default) or `payment`.
    purpose: Option<String>,
}

pub(super) async fn quote(SignedIn(me): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: QuoteIn = parse(&body)?;
    let channel = match r.purpose.as_deref().unwrap_or("conversion") {
        "conversion" => Channel::Conversion,
        "payment" => Channel::Payment,
        _ => return Err(PlatformError::invalid("purpose", "conversion or payment").into()),
    };
    let request = QuoteRequest {
        sell_currency: &r.sell_currency,
        buy_currency: &r.buy_currency,
        sell_amount: r.sell_amount.as_deref(),
        buy_amount: r.buy_amount.as_deref(),
        channel,
    };
    Ok(json(StatusCode::CREATED, &state.platform.fx.quote(me, request).await?.view()))
}

pub(super) async fn quote_of(SignedIn(me): SignedIn, state: St, Path(q): Path<String>) -> Answer<Response> {
    Ok(json(StatusCode::OK, &state.platform.fx.quote_of(Some(me), id("id", &q)?).await?.view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConversionIn {
    quote_id: String,
    pin: Option<String>,
}

pub(super) async fn convert(SignedIn(me): SignedIn, state: St, Key(key): Key, body: axum::body::Bytes) -> Answer<Response> {
    let r: ConversionIn = parse(&body)?;
    let quote = id("quote_id", &r.quote_id)?;
    Ok(json(StatusCode::CREATED, &state.platform.fx.convert(me, quote, r.pin.as_deref(), key.as_deref()).await?))
}
