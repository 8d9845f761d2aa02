//! `/admin/api/settlements`: a day's settlement report, and settling a day now.

use super::{Answer, ApiError, Operator, Params, St, audit_asked, parse_json};
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::settlement::{Settlement, Settlements};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SettlementParams {
    day: String,
    format: Option<String>,
}

/// As JSON or (`format=csv`) CSV.
pub(super) async fn settlements(_: Operator, state: St, Params(q): Params<SettlementParams>) -> Answer<Response> {
    let rows = state.platform.settlement.settlements(&q.day).await?;
    Ok(match q.format.as_deref() {
        Some("csv") => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], Settlements::csv(&rows)).into_response(),
        None | Some("json") => Json(rows).into_response(),
        Some(_) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "format: json or csv")),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunIn {
    day: String,
}

/// Settle a day now (it also runs by itself each day); idempotent per merchant, day and currency.
pub(super) async fn run(op: Operator, state: St, body: axum::body::Bytes) -> Answer<Json<Vec<Settlement>>> {
    let r: RunIn = parse_json(&body)?;
    audit_asked(&state, &op, "settlements.run", "settlements", &r.day).await?;
    let rows = state.platform.settlement.settle_day(&r.day).await?;
    Ok(Json(rows))
}

/// A partner institution's settlement file of a day (CSV), its SHA-256 in `X-Content-SHA256`.
pub(super) async fn partner_file(
    _: Operator,
    state: St,
    axum::extract::Path((mchid, day)): axum::extract::Path<(String, String)>,
) -> Answer<Response> {
    let file = state.platform.settlement.partner_file(&mchid, &day).await?;
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
        (header::HeaderName::from_static("x-content-sha256"), file.sha256_hex.clone()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"settlement-{mchid}-{day}.csv\"")),
    ];
    Ok((headers, file.csv).into_response())
}
