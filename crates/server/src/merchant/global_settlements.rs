//! `GET /v3/global/settle/settlements`: a global merchant's (or an institution's sub-merchant's)
//! settlement batches between two days, in its own currency and business day, with the wallet region
//! that paid (`CHINA_MAINLAND`, `CHINA_HONGKONG`, `CHINA_MACAO`; `MULTIPLE` when a batch mixes them).
//! `settle_state=UNSETTLE` answers what has been collected and not yet settled.

use super::WxError;
use super::auth::{authenticate, query_param, sub_merchant};
use super::signing::signed_json;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use platform::merchants::MerchantAuth;
use platform::settlement::{local_day_bounds, statement_day};
use serde_json::{Value, json};
use std::sync::Arc;

/// yyyyMMdd → YYYY-MM-DD.
pub(super) fn day_param(uri: &Uri, name: &'static str) -> Result<String, WxError> {
    let text = query_param(uri, name).ok_or_else(|| WxError::param(name, "query", "is required (yyyyMMdd)"))?;
    statement_day(text).map_err(|_| WxError::param(name, "query", "a date yyyyMMdd"))
}

fn number(uri: &Uri, name: &'static str, default: i64, max: i64) -> Result<i64, WxError> {
    match query_param(uri, name) {
        None => Ok(default),
        Some(t) => t.parse().ok().filter(|n| (0..=max).contains(n)).ok_or_else(|| WxError::param(name, "query", format!("0 to {max}"))),
    }
}

fn wallet_region(regions: &[String]) -> &'static str {
    match regions {
        [one] if one == "CN" => "CHINA_MAINLAND",
        [one] if one == "HK" => "CHINA_HONGKONG",
        [one] if one == "MO" => "CHINA_MACAO",
        [] => "NONE",
        _ => "MULTIPLE",
    }
}

pub(super) async fn settlements(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WxError> {
    let signer = authenticate(&state, &method, &uri, &headers, b"").await?;
    let merchant: Arc<MerchantAuth> = match query_param(&uri, "sub_mchid") {
        Some(sub) => sub_merchant(&state, &signer, sub, "query").await?,
        None => signer.clone(),
    };
    let (limit, offset) = (number(&uri, "limit", 10, 30)?.max(1), number(&uri, "offset", 0, 1_000_000)?);
    let out = match query_param(&uri, "settle_state").unwrap_or("SETTLED") {
        "SETTLED" => {
            settled(&state, &merchant, &day_param(&uri, "settle_start_date")?, &day_param(&uri, "settle_end_date")?, limit, offset).await?
        }
        "UNSETTLE" => unsettled(&state, &merchant).await?,
        _ => return Err(WxError::param("settle_state", "query", "SETTLED or UNSETTLE")),
    };
    signed_json(&state, &signer, &headers, &out).await
}

async fn settled(state: &AppState, merchant: &MerchantAuth, from: &str, to: &str, limit: i64, offset: i64) -> Result<Value, WxError> {
    let (rows, total) = state.platform.settlement.of_merchant(merchant.merchant.id, from, to, limit, offset).await?;
    let mut data = Vec::new();
    for (batch, s) in rows {
        let (start, end) = local_day_bounds(&s.day, &merchant.merchant.time_zone)?;
        let regions = state.platform.payments.payer_regions(merchant.merchant.id, s.currency, start, end).await?;
        let compact = s.day.replace('-', "");
        let net = s.gross_minor - s.refunds_minor - s.fees_minor;
        data.push(json!({
            "batch_id": batch.to_string(),
            "settlement_date": compact,
            "trade_start_date": compact,
            "trade_end_date": compact,
            "amount": {"settled": s.payout_minor, "unsettle": 0, "currency": s.currency.code(), "pay": s.gross_minor, "refund": s.refunds_minor, "net": net, "fee": s.fees_minor},
            "wallet_region": wallet_region(&regions),
        }));
    }
    Ok(json!({"data": data, "total_count": total, "offset": offset, "limit": limit}))
}

/// What the merchant has been paid and not yet settled: its receivable in its own currency.
async fn unsettled(state: &AppState, merchant: &MerchantAuth) -> Result<Value, WxError> {
    let currency = merchant.merchant.settlement_currency;
    let account = state.platform.ledger.account(platform::chart::merchant_receivable(merchant.merchant.id, currency)).await?;
    let unsettled = i128::from(account.credits_posted) - i128::from(account.debits_posted);
    let unsettled = i64::try_from(unsettled).map_err(|_| platform::PlatformError::Internal("a receivable overflows".into()))?;
    Ok(
        json!({"data": [{"amount": {"settled": 0, "unsettle": unsettled, "currency": currency.code()}}], "total_count": 1, "offset": 0, "limit": 1}),
    )
}
