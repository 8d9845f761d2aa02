//! The merchant console, `/merchant`: the merchant's own users sign in (mchid, username, password),
//! find orders (by out_trade_no or transaction id, state, day), read an order's timeline (placed, paid,
//! notifications and their delivery, refunds) and, as an owner, refund it after a confirmation page and
//! download the day's bills and see its settlements.
//! The session is a console session in an `HttpOnly; SameSite=Strict` cookie scoped to `/merchant`;
//! every form carries a CSRF token (the MAC of the session, before sign-in of a random cookie).

use super::wallet::{PreSession, cookie, csrf, form, redirect, submitted_pre};
use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::PlatformError;
use platform::merchants::{MerchantRole, MerchantUser};
use platform::payments::{NewRefund, Order, OrderSearch, TradeState};
use std::collections::HashMap;
use std::sync::Arc;

const SESSION_COOKIE: &str = "qb_merchant";
const PRE_SESSION_COOKIE: &str = "qb_mpre";
/// A day, for the order search's date filter and the sales charts.
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// Days the daily sales chart covers, ending with the day shown.
const SALES_DAYS: i64 = 14;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/merchant", get(orders))
        .route("/merchant/sign-in", get(sign_in_form).post(sign_in))
        .route("/merchant/sign-out", post(sign_out))
        .route("/merchant/orders/{out_trade_no}", get(order))
        .route("/merchant/orders/{out_trade_no}/refund", post(refund))
        .route("/merchant/bills", get(bills))
        .route("/merchant/sales", get(sales))
        .route("/merchant/keys", get(keys).post(add_key))
        .route("/merchant/keys/{serial}/revoke", post(revoke_key))
        .route("/merchant/apps", post(add_app))
        .route("/merchant/bills/trade.csv", get(|s, u, h, q| bill_file(s, u, h, q, BillFile::Trade)))
        .route("/merchant/bills/fund-flow.csv", get(|s, u, h, q| bill_file(s, u, h, q, BillFile::FundFlow)))
}

/// The signed-in console user and their token, from the cookie.
pub(super) async fn session(state: &AppState, headers: &HeaderMap) -> Option<(MerchantUser, String)> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let user = state.platform.merchants.console_user(token).await.ok()?;
    Some((user, token.to_string()))
}

pub(super) fn to_sign_in() -> Response {
    redirect("/merchant/sign-in")
}

pub(super) fn failed(e: PlatformError) -> Response {
    tracing::error!(error = %e, "merchant console");
    (crate::wallet::status_of(&e), [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], e.to_string()).into_response()
}

async fn sign_in_form(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    sign_in_page(&state, lang, chosen, cookie(&headers, PRE_SESSION_COOKIE), ("", ""), None)
}

fn sign_in_page(
    state: &AppState,
    lang: Lang,
    chosen: bool,
    pre: Option<&str>,
    (mchid, username): (&str, &str),
    error: Option<&str>,
) -> Response {
    let page =
        PreSession { template: "merchant_sign_in.html", refused: StatusCode::UNAUTHORIZED, cookie: PRE_SESSION_COOKIE, path: "/merchant" };
    page.render(state, lang, chosen, pre, error, minijinja::context! { mchid => mchid, username => username })
}

async fn sign_in(
    State(state): State<Arc<AppState>>,
    client: Option<axum::Extension<crate::http::ClientAddr>>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let (f, t) = (form(&body), lang.messages());
    let pre = submitted_pre(&state, &headers, PRE_SESSION_COOKIE, &f);
    let field = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
    let who = (field("mchid"), field("username"));
    if pre.is_none() {
        return sign_in_page(&state, lang, false, None, who, Some(&t["expired_form"]));
    }
    let address = client.map(|axum::Extension(c)| c.0.ip());
    match state.platform.merchants.console_sign_in(who.0, who.1, field("password"), address).await {
        Ok((token, _)) => super::wallet::session_started(&state, SESSION_COOKIE, "/merchant", &token, "/merchant"),
        Err(PlatformError::Unauthorized) => sign_in_page(&state, lang, false, pre, who, Some(&t["console_wrong_sign_in"])),
        Err(e @ PlatformError::TooManyAttempts { .. }) => sign_in_page(&state, lang, false, pre, who, Some(&e.to_string())),
        Err(e) => failed(e),
    }
}

async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Some((_, token)) = session(&state, &headers).await
        && form(&body).get("csrf") == Some(&csrf(&state, &token))
    {
        let _ = state.platform.merchants.console_sign_out(&token).await;
    }
    super::wallet::session_ended(&state, SESSION_COOKIE, "/merchant", "/merchant/sign-in")
}

/// An order as the console shows it.
fn order_view(o: &Order, local: &Local) -> minijinja::Value {
    minijinja::context! {
        out_trade_no => o.out_trade_no,
        transaction_id => o.transaction_id,
        description => o.description,
        trade_type => o.trade_type.as_str(),
        state => o.trade_state.as_str(),
        total => platform::wallet::decimal(o.total_minor, o.currency),
        refunded => platform::wallet::decimal(o.refunded_minor, o.currency),
        refundable => platform::wallet::decimal(o.total_minor - o.refunded_minor, o.currency),
        currency => o.currency.code(),
        created => local.time(o.created_at_ms),
        paid => o.success_at_ms.map(|ms| local.time(ms)),
    }
}

/// A time as people read it, UTC (the operator console's clock: operators work across zones).
pub(super) fn time_of(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// The merchant's business time zone (its country's): the console shows times and days in it, the day
/// its bills and settlements count (a Paris shop's day starts at midnight in Paris, not in UTC).
pub(super) struct Local(jiff::tz::TimeZone);

impl Local {
    /// The signed-in user's merchant's zone.
    pub(super) async fn of(state: &AppState, user: &MerchantUser) -> Result<Local, Response> {
        let auth = state.platform.merchants.by_id(user.merchant_id).await.map_err(failed)?;
        let zone = &auth.merchant.time_zone;
        jiff::tz::TimeZone::get(zone).map(Local).map_err(|e| failed(PlatformError::Internal(format!("time zone {zone}: {e}"))))
    }

    /// `2026-12-02 14:05:09 CET`.
    pub(super) fn time(&self, ms: i64) -> String {
        jiff::Timestamp::from_millisecond(ms)
            .map_or_else(|_| ms.to_string(), |t| t.to_zoned(self.0.clone()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string())
    }

    /// The start of a `YYYY-MM-DD` day here, in ms since 1970.
    fn day_start_ms(&self, day: &str) -> Option<i64> {
        let date = jiff::civil::Date::strptime("%Y-%m-%d", day).ok()?;
        Some(date.to_zoned(self.0.clone()).ok()?.timestamp().as_millisecond())
    }

    /// The start of today here.
    fn today_start_ms(&self, now_ms: i64) -> i64 {
        let today = jiff::Timestamp::from_millisecond(now_ms).map(|t| t.to_zoned(self.0.clone()).date());
        today
            .ok()
            .and_then(|d| d.to_zoned(self.0.clone()).ok())
            .map_or(now_ms - now_ms.rem_euclid(DAY_MS), |z| z.timestamp().as_millisecond())
    }
}

/// The search the query string asks for; a malformed part is ignored (the form offers only valid ones).
fn search_of(q: &HashMap<String, String>, local: &Local) -> OrderSearch {
    let text = |k: &str| q.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let day = text("day").and_then(|d| local.day_start_ms(&d));
    OrderSearch {
        reference: text("q"),
        state: text("state").and_then(|s| TradeState::parse(&s)),
        from_ms: day,
        to_ms: day.map(|d| d + DAY_MS),
    }
}

async fn orders(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    let local = match Local::of(&state, &user).await {
        Ok(local) => local,
        Err(failed) => return failed,
    };
    let found = match state.platform.payments.merchant_orders(user.merchant_id, search_of(&q, &local)).await {
        Ok(found) => found,
        Err(e) => return failed(e),
    };
    let context = minijinja::context! {
        user => user,
        csrf => csrf(&state, &token),
        orders => found.iter().map(|o| order_view(o, &local)).collect::<Vec<_>>(),
        q => q.get("q").cloned().unwrap_or_default(),
        state_chosen => q.get("state").cloned().unwrap_or_default(),
        day => q.get("day").cloned().unwrap_or_default(),
        states => ["NOTPAY", "SUCCESS", "REFUND", "CLOSED", "USERPAYING", "REVOKED"],
    };
    page("merchant_orders.html", lang, chosen, context)
}

async fn order(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Path(out_trade_no): Path<String>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    order_page(&state, lang, chosen, &user, &token, &out_trade_no, None).await
}

async fn order_page(
    state: &AppState,
    lang: Lang,
    chosen: bool,
    user: &MerchantUser,
    token: &str,
    out_trade_no: &str,
    notice: Option<String>,
) -> Response {
    let payments = &state.platform.payments;
    let local = match Local::of(state, user).await {
        Ok(local) => local,
        Err(failed) => return failed,
    };
    let o = match payments.order_by_out_trade_no(user.merchant_id, out_trade_no).await {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    let (refunds, notifications) = match (payments.order_refunds(o.id).await, payments.order_notifications(&o).await) {
        (Ok(r), Ok(n)) => (r, n),
        (Err(e), _) | (_, Err(e)) => return failed(e),
    };
    // One list in the order things happened; at the same instant: placed, paid, the payment's
    // notification, a refund, the refund's notification.
    let mut timeline: Vec<(i64, u8, minijinja::Value)> = vec![(
        o.created_at_ms,
        0,
        minijinja::context! { kind => "placed", at => local.time(o.created_at_ms), trade_type => o.trade_type.as_str() },
    )];
    if let Some(paid) = o.success_at_ms {
        timeline.push((paid, 1, minijinja::context! { kind => "paid", at => local.time(paid) }));
    }
    for n in &notifications {
        let rank = if n.event_type.starts_with("REFUND") { 4 } else { 2 };
        let entry = minijinja::context! {
            kind => "notification", at => local.time(n.created_at_ms), event => n.event_type, state => n.state.as_str(),
            attempts => n.attempts, status => n.last_status, error => n.last_error,
        };
        timeline.push((n.created_at_ms, rank, entry));
    }
    for r in &refunds {
        let entry = minijinja::context! {
            kind => "refund", at => local.time(r.created_at_ms), out_refund_no => r.out_refund_no, status => r.status.as_str(),
            amount => platform::wallet::decimal(r.amount_minor, o.currency),
        };
        timeline.push((r.created_at_ms, 3, entry));
    }
    timeline.sort_by_key(|(at, rank, _)| (*at, *rank));
    let timeline: Vec<minijinja::Value> = timeline.into_iter().map(|(_, _, entry)| entry).collect();
    let context = minijinja::context! {
        user => user, csrf => csrf(state, token), order => order_view(&o, &local), timeline => timeline,
        may_refund => user.role == MerchantRole::Owner && o.refunded_minor < o.total_minor
            && matches!(o.trade_state, TradeState::Success | TradeState::Refund),
        notice => notice,
    };
    page("merchant_order.html", lang, chosen, context)
}

/// Refund from the console: owners only. The first post shows what will happen and asks to confirm;
/// the confirmed post refunds under the out_refund_no the confirmation page fixed, so a form sent
/// twice refunds once.
async fn refund(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Path(out_trade_no): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let (user, token, f) = match owner_form(&state, &headers, &body, lang).await {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let o = match state.platform.payments.order_by_out_trade_no(user.merchant_id, &out_trade_no).await {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    let local = match Local::of(&state, &user).await {
        Ok(local) => local,
        Err(failed) => return failed,
    };
    let amount = f.get("amount").map(String::as_str).unwrap_or("").trim().to_string();
    let reason = f.get("reason").map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    let minor = match platform::wallet::parse_amount("amount", &amount, o.currency) {
        Ok(m) => m.minor(),
        Err(e) => return order_page(&state, lang, false, &user, &token, &out_trade_no, Some(e.to_string())).await,
    };
    let Some(out_refund_no) = f.get("out_refund_no").filter(|_| f.get("confirm").map(String::as_str) == Some("yes")) else {
        let context = minijinja::context! {
            user => user, csrf => csrf(&state, &token), order => order_view(&o, &local), amount => amount, reason => reason,
            out_refund_no => format!("C{}", wxpay::random_alphanumeric(20)),
        };
        return page("merchant_refund_confirm.html", lang, false, context);
    };
    let new = NewRefund {
        sp_merchant_id: None,
        transaction_id: None,
        out_trade_no: Some(out_trade_no.clone()),
        out_refund_no: out_refund_no.clone(),
        reason,
        notify_url: None,
        refund_minor: minor,
        total_minor: o.total_minor,
        currency: o.currency.code().to_string(),
    };
    let audit = audit_effect(&state, &user, "console.refund", &format!("{out_trade_no} {out_refund_no} {amount}"));
    let conditions = store::Conditions { guards: Vec::new(), effects: vec![audit] };
    match state.platform.payments.refund_order_audited(user.merchant_id, new, conditions).await {
        Ok(_) => redirect(&format!("/merchant/orders/{out_trade_no}")),
        Err(e @ (PlatformError::Invalid { .. } | PlatformError::Conflict { .. })) => {
            order_page(&state, lang, false, &user, &token, &out_trade_no, Some(e.to_string())).await
        }
        Err(e) => failed(e),
    }
}

/// The owner-only pages refuse a cashier with this.
fn owners_only(lang: Lang) -> Response {
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], lang.messages()["console_owner_only"].clone())
        .into_response()
}

/// A bill's day: `YYYY-MM-DD` as the query gives it, checked by the bill itself.
fn bill_day(q: &HashMap<String, String>) -> Option<String> {
    q.get("day").map(|d| d.trim().to_string()).filter(|d| !d.is_empty())
}

/// The bills page: a day's trade and fund-flow bills to download, and its settlements (owners only).
async fn bills(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    if user.role != MerchantRole::Owner {
        return owners_only(lang);
    }
    let day = bill_day(&q);
    let (settlements, error) = match &day {
        None => (Vec::new(), None),
        Some(d) => match state.platform.settlement.of_merchant(user.merchant_id, d, d, 30, 0).await {
            Ok((found, _)) => (found, None),
            Err(e @ PlatformError::Invalid { .. }) => (Vec::new(), Some(e.to_string())),
            Err(e) => return failed(e),
        },
    };
    let settlements: Vec<_> = settlements
        .iter()
        .map(|(_, s)| {
            let money = |minor: i64| platform::wallet::decimal(minor, s.currency);
            minijinja::context! {
                currency => s.currency.code(), payments => s.payments, gross => money(s.gross_minor),
                refunds => money(s.refunds_minor), fees => money(s.fees_minor), payout => money(s.payout_minor),
            }
        })
        .collect();
    let context =
        minijinja::context! { user => user, csrf => csrf(&state, &token), day => day, settlements => settlements, error => error };
    page("merchant_bills.html", lang, chosen, context)
}

#[derive(Debug, Clone, Copy)]
enum BillFile {
    Trade,
    FundFlow,
}

/// A day's bill as a CSV download (WeChat Pay's format, as the v3 bill API serves it).
async fn bill_file(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    file: BillFile,
) -> Response {
    let lang = Lang::of(&uri, &headers).0;
    let Some((user, _)) = session(&state, &headers).await else { return to_sign_in() };
    if user.role != MerchantRole::Owner {
        return owners_only(lang);
    }
    let Some(day) = bill_day(&q) else { return (StatusCode::BAD_REQUEST, "day: YYYY-MM-DD").into_response() };
    let settlement = &state.platform.settlement;
    let mut spool = match crate::bill_spool::Spool::new(false, None) {
        Ok(spool) => spool,
        Err(e) => return failed(crate::bill_spool::failed(e)),
    };
    let (written, name) = match file {
        BillFile::Trade => {
            (settlement.write_trade_bill(user.merchant_id, &day, platform::settlement::TradeBillType::All, &mut spool).await, "trade")
        }
        BillFile::FundFlow => (settlement.write_fund_flow_bill(user.merchant_id, &day, &mut spool).await, "fund-flow"),
    };
    match written.and_then(|()| spool.finish().map_err(crate::bill_spool::failed)) {
        Ok(spooled) => {
            let disposition = format!("attachment; filename=\"{}-{name}-{day}.csv\"", user.mchid);
            let headers = [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
                (header::CONTENT_LENGTH, spooled.len.to_string()),
            ];
            (headers, spooled.into_body()).into_response()
        }
        Err(e @ PlatformError::Invalid { .. }) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Err(e) => failed(e),
    }
}

/// The average ticket, rounded half up to the minor unit (in i128: `2 × total` cannot overflow).
fn average(total_minor: i64, count: i64) -> i64 {
    if count <= 0 {
        return 0;
    }
    let (total, count) = (i128::from(total_minor), i128::from(count));
    i64::try_from((2 * total + count) / (2 * count)).expect("an average is at most the total")
}

/// A day's sales in one currency, summed with checked arithmetic.
#[derive(Debug, Default)]
struct DaySales {
    per_hour: Vec<i64>,
    per_day: Vec<i64>,
    /// Channel → (payments, gross).
    channels: std::collections::BTreeMap<String, (i64, i64)>,
    count: i64,
    gross: i64,
    refunded: i64,
}

/// `*sum += more`, refusing an overflow (corrupt data or a bug; never a figure to show).
fn add(sum: &mut i64, more: i64) -> Result<(), PlatformError> {
    *sum = sum.checked_add(more).ok_or_else(|| PlatformError::Internal("a sales sum overflows 64 bits".into()))?;
    Ok(())
}

/// The query's buckets (already within the day and the fortnight) summed for `currency`.
fn day_sales(
    (hourly, daily, refunds): (
        Vec<platform::payments::SalesBucket>,
        Vec<platform::payments::SalesBucket>,
        Vec<platform::payments::SalesBucket>,
    ),
    currency: money::Currency,
) -> Result<DaySales, PlatformError> {
    let mut d = DaySales { per_hour: vec![0; 24], per_day: vec![0; SALES_DAYS as usize], ..DaySales::default() };
    let slot = |bucket: i64, len: usize| usize::try_from(bucket).ok().filter(|b| *b < len).expect("a bucket within its window");
    for b in hourly.iter().filter(|b| b.currency == currency) {
        add(&mut d.per_hour[slot(b.bucket, 24)], b.amount_minor)?;
        let c = d.channels.entry(b.channel.clone()).or_default();
        add(&mut c.0, b.count)?;
        add(&mut c.1, b.amount_minor)?;
        add(&mut d.count, b.count)?;
        add(&mut d.gross, b.amount_minor)?;
    }
    for b in daily.iter().filter(|b| b.currency == currency) {
        add(&mut d.per_day[slot(b.bucket, SALES_DAYS as usize)], b.amount_minor)?;
    }
    for b in refunds.iter().filter(|b| b.currency == currency) {
        add(&mut d.refunded, b.amount_minor)?;
    }
    Ok(d)
}

/// Sales (owners only): a day's payments (the merchant's own day) per hour and the last fortnight's per day, in the
/// merchant's settlement currency, with the day's count, gross, refunds, average ticket and channels.
async fn sales(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    if user.role != MerchantRole::Owner {
        return owners_only(lang);
    }
    let local = match Local::of(&state, &user).await {
        Ok(local) => local,
        Err(failed) => return failed,
    };
    let start = bill_day(&q).and_then(|d| local.day_start_ms(&d)).unwrap_or_else(|| local.today_start_ms(state.platform.now_ms()));
    let (payments, m) = (&state.platform.payments, user.merchant_id);
    let currency = match state.platform.merchants.by_id(m).await {
        Ok(auth) => auth.merchant.settlement_currency,
        Err(e) => return failed(e),
    };
    let fortnight = start - (SALES_DAYS - 1) * DAY_MS;
    let found = tokio::try_join!(
        payments.sales(m, start, start + DAY_MS, HOUR_MS),
        payments.sales(m, fortnight, start + DAY_MS, DAY_MS),
        payments.refund_sales(m, start, start + DAY_MS, DAY_MS),
    );
    let d = match found.and_then(|found| day_sales(found, currency)) {
        Ok(d) => d,
        Err(e) => return failed(e),
    };
    let money = |minor: i64| platform::wallet::decimal(minor, currency);
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    let days: Vec<String> = (0..SALES_DAYS).map(|d| local.time(fortnight + d * DAY_MS)[5..10].to_string()).collect();
    let chart = |labels: &[String], minor: &[i64]| super::charts::bars(labels, minor, currency.code(), &money);
    let (hour_chart, day_chart) = match (chart(&hours, &d.per_hour), chart(&days, &d.per_day)) {
        (Ok(h), Ok(d)) => (h, d),
        (Err(e), _) | (_, Err(e)) => return failed(PlatformError::Internal(format!("drawing a chart: {e}"))),
    };
    let channels: Vec<_> =
        d.channels.iter().map(|(c, (n, g))| minijinja::context! { channel => c, count => n, gross => money(*g) }).collect();
    let context = minijinja::context! {
        user => user, csrf => csrf(&state, &token), day => local.time(start)[..10].to_string(), currency => currency.code(),
        count => d.count, gross => money(d.gross), refunded => money(d.refunded), average => money(average(d.gross, d.count)),
        channels => channels,
        hour_chart => minijinja::Value::from_safe_string(hour_chart), day_chart => minijinja::Value::from_safe_string(day_chart),
    };
    page("merchant_sales.html", lang, chosen, context)
}

/// The API keys page (owners only): the serials requests may be signed with, the app ids, a form to
/// register a public key or certificate, and a revoke button per key.
async fn keys(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    if user.role != MerchantRole::Owner {
        return owners_only(lang);
    }
    keys_page(&state, lang, chosen, &user, &token, None).await
}

async fn keys_page(state: &AppState, lang: Lang, chosen: bool, user: &MerchantUser, token: &str, notice: Option<String>) -> Response {
    let auth = match state.platform.merchants.merchant(&user.mchid).await {
        Ok(auth) => auth,
        Err(e) => return failed(e),
    };
    let serials: Vec<&String> = auth.keys.iter().map(|(s, _)| s).collect();
    let context =
        minijinja::context! { user => user, csrf => csrf(state, token), serials => serials, appids => auth.appids, notice => notice };
    let mut response = page("merchant_keys.html", lang, chosen, context);
    if notice.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// The actor and target of a console user's audit row.
fn audit_row(user: &MerchantUser) -> (String, String) {
    (format!("console:{}/{}", user.mchid, user.username), format!("merchant:{}", user.mchid))
}

/// A console action's audit row, to commit with the action.
pub(super) fn audit_effect(state: &AppState, user: &MerchantUser, action: &str, detail: &str) -> store::Effect {
    let (actor, target) = audit_row(user);
    state.platform.audit.effect(&actor, action, &target, detail, "merchant console")
}

/// Owners' posts: the session, its CSRF token and the owner role checked; the form's fields.
pub(super) async fn owner_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    lang: Lang,
) -> Result<(MerchantUser, String, HashMap<String, String>), Response> {
    let Some((user, token)) = session(state, headers).await else { return Err(to_sign_in()) };
    let f = form(body);
    if f.get("csrf") != Some(&csrf(state, &token)) {
        return Err((StatusCode::FORBIDDEN, lang.messages()["expired_form"].clone()).into_response());
    }
    if user.role != MerchantRole::Owner {
        return Err(owners_only(lang));
    }
    Ok((user, token, f))
}

async fn add_key(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let (user, token, f) = match owner_form(&state, &headers, &body, lang).await {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let serial = f.get("serial_no").map(|s| s.trim()).filter(|s| !s.is_empty());
    let audited = |serial: &str| Some(audit_effect(&state, &user, "console.add_key", serial));
    match state.platform.merchants.register_key_audited(&user.mchid, f.get("pem").map(String::as_str).unwrap_or(""), serial, audited).await
    {
        Ok(_) => redirect("/merchant/keys"),
        Err(e @ (PlatformError::Invalid { .. } | PlatformError::Conflict { .. })) => {
            keys_page(&state, lang, false, &user, &token, Some(e.to_string())).await
        }
        Err(e) => failed(e),
    }
}

/// Bind an app id (a mini-program, official account, mobile app or web site) the merchant takes
/// payments in: orders and codes name it, and people's openids are per app.
async fn add_app(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let (user, token, f) = match owner_form(&state, &headers, &body, lang).await {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let field = |name: &str| f.get(name).map(|v| v.trim()).unwrap_or("");
    let audit = audit_effect(&state, &user, "console.register_app", field("appid"));
    match state.platform.merchants.register_app(&user.mchid, field("appid"), field("kind"), field("name"), Some(audit)).await {
        Ok(()) => redirect("/merchant/keys"),
        Err(e @ (PlatformError::Invalid { .. } | PlatformError::Conflict { .. })) => {
            keys_page(&state, lang, false, &user, &token, Some(e.to_string())).await
        }
        Err(e) => failed(e),
    }
}

async fn revoke_key(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Path(serial): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (lang, _) = Lang::of(&uri, &headers);
    let (user, token, f) = match owner_form(&state, &headers, &body, lang).await {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    // Revoking changes who may sign for the merchant: the form asks to confirm it.
    if f.get("confirm").map(String::as_str) != Some("yes") {
        return keys_page(&state, lang, false, &user, &token, Some(lang.messages()["console_confirm_revoke"].clone())).await;
    }
    let audit = audit_effect(&state, &user, "console.revoke_key", &serial);
    match state.platform.merchants.revoke_key(&user.mchid, &serial, Some(audit)).await {
        Ok(()) => redirect("/merchant/keys"),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_ticket_rounds_half_up_and_survives_the_largest_totals() {
        assert_eq!((average(1001, 2), average(1000, 3), average(0, 0)), (501, 333, 0));
        assert_eq!(average(i64::MAX, 1), i64::MAX);
    }

    #[test]
    fn a_sales_sum_past_64_bits_is_refused_not_wrapped() {
        let cny = money::Currency::from_code("CNY").unwrap();
        let bucket =
            |amount_minor| platform::payments::SalesBucket { bucket: 0, currency: cny, channel: "NATIVE".into(), count: 1, amount_minor };
        assert!(day_sales((vec![bucket(i64::MAX), bucket(1)], vec![], vec![]), cny).is_err());
        let d = day_sales((vec![bucket(5), bucket(7)], vec![bucket(12)], vec![]), cny).unwrap();
        assert_eq!((d.count, d.gross, d.per_hour[0], d.per_day[0]), (2, 12, 12, 12));
    }
}
