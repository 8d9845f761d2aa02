//! `/v3/bill/tradebill`, `/fundflowbill`, `/billdownload/file`: a day's bills, behind 30-second links,
//! written and sent in bounded memory whatever the day's size (`bill_spool`).

use super::WxError;
use super::auth::{authenticate, query_param, sub_merchant};
use super::signing::{StreamedAnswer, signed_json};
use crate::AppState;
use crate::bill_spool::{Sha1Sink, Spool};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::Response;
use platform::merchants::MerchantAuth;
use platform::settlement::{BILL_LINK_TTL_MS, BillKind, BillRequest, TradeBillType, cst_day_bounds};
use serde_json::json;
use std::sync::Arc;

/// `{hash_type, hash_value, download_url}` for a bill: SHA-1 of the uncompressed text, and a link that
/// works for 30 s.
async fn bill_link(
    state: &AppState,
    merchant: &MerchantAuth,
    headers: &HeaderMap,
    uri: &Uri,
    kind: BillKind,
    bill_type: TradeBillType,
) -> Result<Response, WxError> {
    let day = query_param(uri, "bill_date").ok_or_else(|| WxError::param("bill_date", "query", "is required (YYYY-MM-DD)"))?;
    let (_, end) = cst_day_bounds(day).map_err(|_| WxError::param("bill_date", "query", "a date YYYY-MM-DD"))?;
    if end > state.platform.now_ms() {
        return Err(WxError::param("bill_date", "query", "a bill is ready once its day is over (China Standard Time)"));
    }
    let gzip = match query_param(uri, "tar_type") {
        None => false,
        Some("GZIP") => true,
        Some(_) => return Err(WxError::param("tar_type", "query", "GZIP or absent")),
    };
    // A service provider asks for its sub-merchant's bill with `sub_mchid`.
    let owner = match query_param(uri, "sub_mchid") {
        Some(sub) => sub_merchant(state, merchant, sub, "query").await?.merchant.id,
        None => merchant.merchant.id,
    };
    let bill = BillRequest {
        merchant_id: owner,
        requester_id: merchant.merchant.id,
        kind,
        day: day.into(),
        bill_type,
        gzip,
        expires_at_ms: state.platform.now_ms() + BILL_LINK_TTL_MS,
    };
    // The hash is of the text the link will serve: written through the digest and kept nowhere.
    let mut sha1 = Sha1Sink::new();
    state.platform.settlement.write_bill(&bill, &mut sha1).await?;
    let url = format!(
        "{}/v3/billdownload/file?token={}",
        state.platform.config().public_url.trim_end_matches('/'),
        state.platform.settlement.bill_token(&bill)
    );
    signed_json(state, merchant, headers, &json!({"hash_type": "SHA1", "hash_value": sha1.hex(), "download_url": url})).await
}

pub(super) async fn trade_bill(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let bill_type = TradeBillType::parse(query_param(&uri, "bill_type").unwrap_or("ALL"))
        .ok_or_else(|| WxError::param("bill_type", "query", "ALL, SUCCESS or REFUND"))?;
    bill_link(&state, &merchant, &headers, &uri, BillKind::Trade, bill_type).await
}

pub(super) async fn fund_flow_bill(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let account = query_param(&uri, "account_type").unwrap_or("BASIC");
    if !["BASIC", "OPERATION", "FEES"].contains(&account) {
        return Err(WxError::param("account_type", "query", "BASIC, OPERATION or FEES"));
    }
    // The receivable is the one account a merchant has here: every account type shows it.
    bill_link(&state, &merchant, &headers, &uri, BillKind::FundFlow, TradeBillType::All).await
}

/// The bill itself: CSV (`text/plain`), or gzip when the link was asked for with `tar_type=GZIP`.
pub(super) async fn download_bill(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, b"").await?;
    let token = query_param(&uri, "token").ok_or_else(|| WxError::param("token", "query", "is required"))?;
    let bill = state
        .platform
        .settlement
        .open_bill_token(token, merchant.merchant.id)
        .map_err(|e| WxError::param("token", "query", e.to_string()))?;
    let answer = StreamedAnswer::new(&state, &merchant, &headers).await?;
    let mut spool = Spool::new(bill.gzip, Some(answer.message())).map_err(spool_failed)?;
    state.platform.settlement.write_bill(&bill, &mut spool).await?;
    let mut spooled = spool.finish().map_err(spool_failed)?;
    let message = spooled.signed.take().expect("the spool was asked to sign");
    let content_type = if bill.gzip { "application/x-gzip" } else { "text/plain; charset=utf-8" };
    let len = spooled.len;
    let mut response = answer.respond(message, spooled.into_body(), content_type);
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(response)
}

pub(super) fn spool_failed(e: std::io::Error) -> WxError {
    crate::bill_spool::failed(e).into()
}
