//! `GET /v3/global/statements?date=yyyyMMdd&mchid=…` (or `sp_mchid` + `sub_mchid`): a day's statement
//! of a global merchant as CSV, in its own business day, with the payer's amounts and the exchange rate
//! columns; the `Wechatpay-Statement-Sha1` header carries the SHA-1 of the text.

use super::WxError;
use super::auth::authenticate;
use super::bills::spool_failed;
use super::global::acting_from_query;
use super::global_settlements::day_param;
use super::signing::StreamedAnswer;
use crate::AppState;
use crate::bill_spool::Spool;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::Response;
use platform::settlement::local_day_bounds;
use std::sync::Arc;

pub(super) async fn statement(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WxError> {
    let signer = authenticate(&state, &method, &uri, &headers, b"").await?;
    let who = acting_from_query(&state, signer, &uri).await?;
    let day = day_param(&uri, "date")?;
    let (_, end) = local_day_bounds(&day, &who.merchant.merchant.time_zone)?;
    if end > state.platform.now_ms() {
        return Err(WxError::param("date", "query", "a statement is ready once the merchant's day is over (in its time zone)"));
    }
    let answer = StreamedAnswer::new(&state, who.signer(), &headers).await?;
    let mut spool = Spool::new(false, Some(answer.message())).map_err(spool_failed)?;
    state.platform.settlement.write_global_statement(who.merchant.merchant.id, &day, &mut spool).await?;
    let mut spooled = spool.finish().map_err(spool_failed)?;
    let (message, sha1, len) = (spooled.signed.take().expect("the spool was asked to sign"), spooled.text_sha1.clone(), spooled.len);
    let mut response = answer.respond(message, spooled.into_body(), "text/plain; charset=utf-8");
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert("Wechatpay-Statement-Sha1", HeaderValue::from_str(&sha1).expect("hex is a header value"));
    Ok(response)
}
