//! `/api/v1/history`, `/statements/{month}`.

use super::{Answer, Params, SignedIn, St};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::PlatformError;
use platform::history::{HistoryKind, HistoryQuery};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryParams {
    #[serde(rename = "type")]
    kind: Option<String>,
    currency: Option<String>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    /// `<created_at_ms>:<id>` of the previous page's last item.
    before: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn history(SignedIn(me): SignedIn, state: St, Params(q): Params<HistoryParams>) -> Answer<Response> {
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(HistoryKind::parse(k).ok_or_else(|| {
            let kinds: Vec<&str> = HistoryKind::ALL.iter().map(|k| k.as_str()).collect();
            PlatformError::invalid("type", format!("one of {kinds:?}"))
        })?),
    };
    let currency =
        q.currency.as_deref().map(money::Currency::from_code).transpose().map_err(|e| PlatformError::invalid("currency", e.to_string()))?;
    let before = match q.before.as_deref() {
        None => None,
        Some(cursor) => {
            let parsed = cursor.split_once(':').and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.parse::<i64>().ok()?)));
            Some(parsed.ok_or_else(|| PlatformError::invalid("before", "the previous page's last item as <created_at_ms>:<id>"))?)
        }
    };
    let query = HistoryQuery { kind, currency, from_ms: q.from_ms, to_ms: q.to_ms, before, limit: q.limit.unwrap_or(20) };
    Ok(super::json(StatusCode::OK, &state.platform.history.page(me, query).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatementParams {
    currency: Option<String>,
}

/// `GET /api/v1/statements/2026-11?currency=CNY`: the month's statement as CSV.
pub(super) async fn statement(
    SignedIn(me): SignedIn,
    state: St,
    Path(month): Path<String>,
    Params(q): Params<StatementParams>,
) -> Answer<Response> {
    let (year, m) = platform::history::parse_month(&month)?;
    let currency = match q.currency {
        Some(c) => platform::wallet::parse_currency(&c)?,
        None => match state.platform.wallet.currencies(me).await?.first() {
            Some(c) => *c,
            None => platform::wallet::parse_currency("CNY")?,
        },
    };
    let csv = state.platform.history.statement_csv(me, year, m, currency).await?;
    let disposition = format!("attachment; filename=\"statement-{month}-{currency}.csv\"");
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], csv)
        .into_response())
}
