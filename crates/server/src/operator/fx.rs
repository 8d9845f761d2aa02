//! `/admin/api/fx/...`: reference rates (set one, import the ECB's file, read a pair's history), markups,
//! maximum ages, any quote, the platform's FX positions, and the day's cross-border report.

use super::{Answer, ApiError, Operator, Params, St, audit_asked, audit_row, parse_json};
use axum::Json;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::operators::Role;
use platform::operators::approvals::ApprovalAction;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RateIn {
    base: String,
    quote: String,
    /// `quote` per one `base`, as published ("1.0870").
    rate: String,
    /// RFC 3339; now when absent.
    effective_at: Option<String>,
    source: Option<String>,
}

pub(super) async fn set_rate(op: Operator, state: St, body: axum::body::Bytes) -> Answer<Json<Value>> {
    let r: RateIn = parse_json(&body)?;
    let at = match &r.effective_at {
        Some(t) => Some(
            wxpay::time::parse_rfc3339(t).ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "effective_at: RFC 3339"))?
                * 1000,
        ),
        None => None,
    };
    let source = format!("operator:{}", r.source.as_deref().unwrap_or("ops"));
    let audit = state.platform.audit.effect(&op.user.actor(), "fx.set_rate", &format!("rate:{}/{}", r.base, r.quote), &r.rate, &op.reason);
    let rate = state.platform.fx.set_rate_audited((&r.base, &r.quote, &r.rate), at, &source, audit).await?;
    Ok(Json(rate.view()))
}

/// The ECB's CSV as the body (`eurofxref.csv` or the whole history).
pub(super) async fn import_rates(op: Operator, state: St, body: axum::body::Bytes) -> Answer<Json<Value>> {
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "the body is not UTF-8 text"))?;
    audit_asked(&state, &op, "fx.import_rates", "rates:ecb", &format!("an ECB file of {} bytes", body.len())).await?;
    let report = state.platform.fx.import_ecb(text).await?;
    Ok(Json(serde_json::to_value(report).expect("a report serialises")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PairParams {
    base: String,
    quote: String,
    limit: Option<i64>,
}

pub(super) async fn rates(_: Operator, state: St, Params(q): Params<PairParams>) -> Answer<Json<Value>> {
    let rows = state.platform.fx.history(&q.base, &q.quote, q.limit.unwrap_or(100)).await?;
    Ok(Json(Value::Array(rows.iter().map(|r| r.view()).collect())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MarkupIn {
    /// Absent: any currency.
    pub base: Option<String>,
    pub quote: Option<String>,
    pub channel: String,
    pub markup_bps: i64,
}

/// A markup change waits for a second finance operator (it reprices every conversion of the pair).
pub(super) async fn request_markup(op: Operator, state: St, body: axum::body::Bytes) -> Answer<(StatusCode, Json<Value>)> {
    let r: MarkupIn = parse_json(&body)?;
    platform::fx::check_markup(r.base.as_deref(), r.quote.as_deref(), &r.channel, r.markup_bps)?;
    let pair = format!("{}/{}", r.base.as_deref().unwrap_or("*"), r.quote.as_deref().unwrap_or("*"));
    let current = state.platform.fx.markup_set(r.base.as_deref(), r.quote.as_deref(), &r.channel).await?;
    let before = current.map(|b| format!("{b} bps")).unwrap_or_else(|| "unset".into());
    let summary = format!("markup {pair} {}: {before} → {} bps", r.channel, r.markup_bps);
    let payload = String::from_utf8_lossy(&body).into_owned();
    let approvals = &state.platform.operators.approvals;
    let approval = approvals.request(op.acting(), ApprovalAction::MarkupChange, Role::Finance, payload, summary).await?;
    Ok(super::approvals::waiting(approval))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PairIn {
    max_age_s: i64,
}

pub(super) async fn set_pair(
    op: Operator,
    state: St,
    Path((base, quote)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Answer<Json<Value>> {
    let r: PairIn = parse_json(&body)?;
    let audit = audit_row(&state, &op, "fx.set_pair", &format!("pair:{base}/{quote}"), &format!("max age {} s", r.max_age_s));
    state.platform.fx.set_max_age(&base, &quote, r.max_age_s, audit).await?;
    Ok(Json(json!({"base": base, "quote": quote, "max_age_s": r.max_age_s})))
}

pub(super) async fn quote(_: Operator, state: St, Path(id): Path<String>) -> Answer<Json<Value>> {
    let q = state.platform.fx.quote_of(None, platform::ids::parse("id", &id)?).await?;
    let mut view = q.view();
    view["person_id"] = json!(q.person.to_string());
    view["used_by"] = json!(q.used_by.map(|u| u.to_string()));
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PositionParams {
    report_currency: Option<String>,
}

pub(super) async fn positions(_: Operator, state: St, Params(q): Params<PositionParams>) -> Answer<Json<Value>> {
    let positions = state.platform.fx.positions(q.report_currency.as_deref().unwrap_or("CNY")).await?;
    Ok(Json(serde_json::to_value(positions).expect("positions serialise")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportParams {
    day: String,
    format: Option<String>,
}

/// Every exchange and cross-border payment of a day (China Standard Time), as JSON or CSV.
pub(super) async fn cross_border_report(_: Operator, state: St, Params(q): Params<ReportParams>) -> Answer<Response> {
    let rows = state.platform.fx.executions(&q.day).await?;
    Ok(match q.format.as_deref() {
        Some("csv") => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], platform::fx::report_csv(&rows)).into_response(),
        None | Some("json") => Json(Value::Array(rows.iter().map(|e| e.view()).collect())).into_response(),
        Some(_) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", "format: json or csv")),
    })
}
