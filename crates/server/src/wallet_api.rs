//! The wallet API, `/api/v1/...`: JSON, bearer session tokens, `Idempotency-Key` on POSTs (required on
//! every POST that moves money). Amounts are decimal strings in major units of their currency ("12.34"),
//! ids are decimal strings. Errors are `{"code", "message", "field"?}`.

use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use platform::{HistoryQuery, IdempotencyStart, Platform, PlatformError, Split, ids};
use serde::Deserialize;
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/people", post(register))
        .route("/api/v1/sessions", post(sign_in))
        .route("/api/v1/sessions/current", axum::routing::delete(sign_out))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/pin", put(set_pin))
        .route("/api/v1/me/kyc", post(submit_kyc))
        .route("/api/v1/wallet", get(wallet))
        .route("/api/v1/friends", get(friends).post(add_friend))
        .route("/api/v1/friends/{id}/accept", post(accept_friend))
        .route("/api/v1/groups", get(groups).post(create_group))
        .route("/api/v1/groups/{id}", get(group))
        .route("/api/v1/groups/{id}/members", post(add_members))
        .route("/api/v1/cards", get(cards).post(add_card))
        .route("/api/v1/top-ups", post(top_up))
        .route("/api/v1/top-ups/{id}", get(top_up_status))
        .route("/api/v1/bank-accounts", get(bank_accounts).post(add_bank_account))
        .route("/api/v1/withdrawals", post(withdraw))
        .route("/api/v1/withdrawals/{id}", get(withdrawal_status))
        .route("/api/v1/transfers", post(send_transfer))
        .route("/api/v1/transfers/{id}", get(transfer))
        .route("/api/v1/transfers/{id}/accept", post(accept_transfer))
        .route("/api/v1/transfers/{id}/decline", post(decline_transfer))
        .route("/api/v1/red-packets", post(send_red_packet))
        .route("/api/v1/red-packets/{id}", get(red_packet))
        .route("/api/v1/red-packet-covers", get(covers))
        .route("/api/v1/red-packets/{id}/claims", post(claim_red_packet))
        .route("/api/v1/merchant-payments/preview", post(preview_merchant_payment))
        .route("/api/v1/merchant-payments", post(pay_merchant))
        .route("/api/v1/payment-codes", post(payment_code))
        .route("/api/v1/payment-codes/awaiting", get(awaiting_pin))
        .route("/api/v1/history", get(history))
        .route("/api/v1/statements/{month}", get(statement))
}

/// A platform error on the wire.
pub struct WalletError(pub PlatformError);

impl From<PlatformError> for WalletError {
    fn from(e: PlatformError) -> WalletError {
        WalletError(e)
    }
}

pub fn status_of(e: &PlatformError) -> StatusCode {
    match e {
        PlatformError::Invalid { .. } => StatusCode::BAD_REQUEST,
        PlatformError::Unauthorized => StatusCode::UNAUTHORIZED,
        PlatformError::Forbidden(_) | PlatformError::PinRequired | PlatformError::PinWrong { .. } => StatusCode::FORBIDDEN,
        PlatformError::NotFound(_) => StatusCode::NOT_FOUND,
        PlatformError::Conflict { .. } => StatusCode::CONFLICT,
        PlatformError::PinLocked { .. } => StatusCode::LOCKED,
        PlatformError::InsufficientBalance | PlatformError::Declined(_) => StatusCode::PAYMENT_REQUIRED,
        PlatformError::Expired(_) | PlatformError::Exhausted => StatusCode::GONE,
        PlatformError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for WalletError {
    fn into_response(self) -> Response {
        let e = self.0;
        if let PlatformError::Internal(detail) = &e {
            tracing::error!(%detail, "wallet API internal error");
            let body = serde_json::json!({"code": "SYSTEM_ERROR", "message": "internal error; see the server log"});
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
        }
        let mut body = serde_json::json!({"code": e.code(), "message": e.to_string()});
        if let PlatformError::Invalid { field, .. } = &e {
            body["field"] = serde_json::Value::String(field.to_string());
        }
        if let PlatformError::PinWrong { attempts_left } = &e {
            body["attempts_left"] = serde_json::json!(attempts_left);
        }
        (status_of(&e), Json(body)).into_response()
    }
}

type Answer<T> = Result<T, WalletError>;

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Answer<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        WalletError(PlatformError::invalid("body", if path == "." { e.inner().to_string() } else { format!("{path}: {}", e.inner()) }))
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

async fn person(state: &AppState, headers: &HeaderMap) -> Answer<i64> {
    let token = bearer(headers).ok_or(PlatformError::Unauthorized)?;
    Ok(state.platform.authenticate(token).await?)
}

fn platform(state: &AppState) -> &Platform {
    &state.platform
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    (status, Json(value)).into_response()
}

/// POSTs that move money must carry an Idempotency-Key.
fn key_required(path: &str) -> bool {
    path == "/api/v1/transfers"
        || path == "/api/v1/merchant-payments"
        || path == "/api/v1/red-packets"
        || path == "/api/v1/top-ups"
        || path == "/api/v1/withdrawals"
        || (path.starts_with("/api/v1/transfers/") && (path.ends_with("/accept") || path.ends_with("/decline")))
        || (path.starts_with("/api/v1/red-packets/") && path.ends_with("/claims"))
}

/// The `Idempotency-Key` middleware: the first request with a key runs and its answer is kept; a replay
/// gets the kept answer; a replay with a different request is refused.
pub async fn idempotency(State(state): State<Arc<AppState>>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path().to_string();
    if request.method() != Method::POST || !path.starts_with("/api/v1/") {
        return next.run(request).await;
    }
    let key = request.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let Some(key) = key else {
        if key_required(&path) {
            return WalletError(PlatformError::invalid("Idempotency-Key", "this request moves money: send an Idempotency-Key header"))
                .into_response();
        }
        return next.run(request).await;
    };
    // Scope: the session (a key is the client's, per signed-in device), or the path for anonymous calls.
    let scope = match bearer(request.headers()) {
        Some(token) => format!("s:{}", hex(&Platform::crypto_sha256(token.as_bytes()))),
        None => format!("a:{path}"),
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::BODY_BYTES_MAX).await else {
        return WalletError(PlatformError::invalid("body", "too large")).into_response();
    };
    let mut fingerprint = format!("{} {}\n", parts.method, parts.uri).into_bytes();
    fingerprint.extend_from_slice(&bytes);
    let hash = Platform::crypto_sha256(&fingerprint);
    match state.platform.idempotency_start(&scope, &key, hash).await {
        Err(e) => return WalletError(e).into_response(),
        Ok(IdempotencyStart::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
            response.headers_mut().insert("idempotent-replayed", header::HeaderValue::from_static("true"));
            return response;
        }
        Ok(IdempotencyStart::Proceed) => {}
    }
    let response = next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, crate::BODY_BYTES_MAX).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if let Err(e) = state.platform.idempotency_finish(&scope, &key, parts.status.as_u16(), text).await {
        tracing::error!(error = %e, "recording an idempotent answer");
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterIn {
    phone: String,
    password: String,
    region: String,
    display_name: String,
}

async fn register(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Answer<Response> {
    let r: RegisterIn = parse(&body)?;
    let p = platform(&state).register(&r.phone, &r.password, &r.region, &r.display_name).await?;
    Ok(json(StatusCode::CREATED, &p))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInIn {
    phone: String,
    password: String,
}

async fn sign_in(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Answer<Response> {
    let r: SignInIn = parse(&body)?;
    let s = platform(&state).sign_in(&r.phone, &r.password).await?;
    Ok(json(StatusCode::CREATED, &s))
}

async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<StatusCode> {
    person(&state, &headers).await?;
    platform(&state).sign_out(bearer(&headers).unwrap_or_default()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let p = platform(&state).person(id).await?;
    let balances = platform(&state).balances(id).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"person": p, "balances": balances})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinIn {
    pin: String,
    current_pin: Option<String>,
}

async fn set_pin(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<StatusCode> {
    let id = person(&state, &headers).await?;
    let r: PinIn = parse(&body)?;
    platform(&state).set_pin(id, &r.pin, r.current_pin.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KycIn {
    legal_name: String,
    document_type: String,
    document_number: String,
}

async fn submit_kyc(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: KycIn = parse(&body)?;
    let tier = platform(&state).submit_kyc(id, &r.legal_name, &r.document_type, &r.document_number).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"kyc_tier": tier})))
}

async fn wallet(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).balances(id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FriendIn {
    phone: Option<String>,
    person_id: Option<String>,
}

async fn add_friend(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: FriendIn = parse(&body)?;
    let other = match (r.phone, r.person_id) {
        (Some(phone), None) => platform(&state).person_by_phone(&phone).await?.id,
        (None, Some(pid)) => ids::parse("person_id", &pid)?,
        _ => return Err(PlatformError::invalid("phone", "give exactly one of phone and person_id").into()),
    };
    Ok(json(StatusCode::CREATED, &platform(&state).request_friend(id, other).await?))
}

async fn accept_friend(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(other): Path<String>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let other = ids::parse("id", &other)?;
    Ok(json(StatusCode::OK, &platform(&state).accept_friend(id, other).await?))
}

async fn friends(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).friends(id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupIn {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

fn parse_ids(field: &'static str, list: &[String]) -> Answer<Vec<i64>> {
    list.iter().map(|s| ids::parse(field, s).map_err(WalletError)).collect()
}

async fn create_group(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: GroupIn = parse(&body)?;
    let members = parse_ids("members", &r.members)?;
    Ok(json(StatusCode::CREATED, &platform(&state).create_group(id, &r.name, &members).await?))
}

async fn groups(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).groups(id).await?))
}

async fn group(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(group): Path<String>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).group(id, ids::parse("id", &group)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersIn {
    members: Vec<String>,
}

async fn add_members(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(group): Path<String>,
    body: axum::body::Bytes,
) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: MembersIn = parse(&body)?;
    let members = parse_ids("members", &r.members)?;
    Ok(json(StatusCode::OK, &platform(&state).add_group_members(id, ids::parse("id", &group)?, &members).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CardIn {
    number: String,
    exp_month: i64,
    exp_year: i64,
}

async fn add_card(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: CardIn = parse(&body)?;
    Ok(json(StatusCode::CREATED, &platform(&state).add_card(id, &r.number, r.exp_month, r.exp_year).await?))
}

async fn cards(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).cards(id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUpIn {
    card_id: String,
    amount: String,
    currency: String,
    pin: Option<String>,
}

async fn top_up(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: TopUpIn = parse(&body)?;
    let t = platform(&state).top_up(id, ids::parse("card_id", &r.card_id)?, &r.amount, &r.currency, r.pin.as_deref()).await?;
    Ok(json(StatusCode::CREATED, &t))
}

async fn top_up_status(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(op): Path<String>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).top_up_status(id, ids::parse("id", &op)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BankAccountIn {
    bank: String,
    holder_name: String,
    number: String,
}

async fn add_bank_account(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: BankAccountIn = parse(&body)?;
    Ok(json(StatusCode::CREATED, &platform(&state).add_bank_account(id, &r.bank, &r.holder_name, &r.number).await?))
}

async fn bank_accounts(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).bank_accounts(id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawIn {
    bank_account_id: String,
    amount: String,
    currency: String,
    pin: Option<String>,
}

async fn withdraw(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: WithdrawIn = parse(&body)?;
    let w =
        platform(&state).withdraw(id, ids::parse("bank_account_id", &r.bank_account_id)?, &r.amount, &r.currency, r.pin.as_deref()).await?;
    Ok(json(StatusCode::CREATED, &w))
}

async fn withdrawal_status(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(op): Path<String>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).withdrawal_status(id, ids::parse("id", &op)?).await?))
}

/// What the wallet scanned or was handed by a merchant's page or app.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantPaymentIn {
    code_url: Option<String>,
    /// For a merchant's static code: the amount the person entered.
    amount: Option<String>,
    currency: Option<String>,
    /// A payment-code order waiting for this person's PIN.
    order_id: Option<String>,
    prepay_id: Option<String>,
    /// JSAPI / App: the parameters the merchant signed, as `wx.requestPayment` takes them.
    app_id: Option<String>,
    time_stamp: Option<String>,
    nonce_str: Option<String>,
    package: Option<String>,
    sign_type: Option<String>,
    pay_sign: Option<String>,
    pin: Option<String>,
    card_id: Option<String>,
}

impl MerchantPaymentIn {
    fn reference(&self) -> Result<platform::OrderReference<'_>, PlatformError> {
        if let Some(id) = &self.order_id {
            return Ok(platform::OrderReference::AwaitingPin(ids::parse("order_id", id)?));
        }
        match (&self.code_url, &self.prepay_id) {
            (Some(url), None) if url.contains("?sr=") => {
                let amount =
                    self.amount.as_deref().ok_or_else(|| PlatformError::invalid("amount", "a static code needs the amount you pay"))?;
                Ok(platform::OrderReference::StaticCode { code_url: url, amount, currency: self.currency.as_deref().unwrap_or("CNY") })
            }
            (Some(url), None) => Ok(platform::OrderReference::CodeUrl(url)),
            (None, Some(prepay_id)) => {
                if self.sign_type.as_deref().is_some_and(|t| t != "RSA") {
                    return Err(PlatformError::invalid("sign_type", "RSA"));
                }
                let signature = match (&self.app_id, &self.time_stamp, &self.nonce_str, &self.pay_sign) {
                    (Some(app_id), Some(time_stamp), Some(nonce_str), Some(pay_sign)) => Some(platform::ClientSignature {
                        app_id,
                        time_stamp,
                        nonce_str,
                        package: self.package.as_deref().unwrap_or("Sign=WXPay"),
                        pay_sign,
                    }),
                    (None, None, None, None) => None,
                    _ => return Err(PlatformError::invalid("pay_sign", "app_id, time_stamp, nonce_str and pay_sign come together")),
                };
                Ok(platform::OrderReference::Prepay { prepay_id, signature })
            }
            _ => Err(PlatformError::invalid("code_url", "give either code_url or prepay_id")),
        }
    }
}

/// What a person sees before paying a merchant.
fn order_view(order: &platform::Order, merchant_name: &str) -> serde_json::Value {
    let amount = money::Money::from_minor(order.total, order.currency).map(|m| m.to_decimal_string()).unwrap_or_default();
    serde_json::json!({
        "order_id": order.id.to_string(),
        "merchant": merchant_name,
        "description": order.description,
        "amount": amount,
        "currency": order.currency.code(),
        "state": order.trade_state,
        "transaction_id": order.paid().then(|| order.transaction_id.clone()),
        "out_trade_no": order.out_trade_no,
    })
}

/// Red-packet covers merchants published, newest first.
async fn covers(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<Response> {
    person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).red_packet_covers(platform::COVERS_PAGE_MAX).await?))
}

/// A fresh one-time payment code (show it as a barcode; it lives a minute and pays one order).
async fn payment_code(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::CREATED, &platform(&state).issue_payment_code(id).await?))
}

/// Orders placed with this person's payment codes that wait for the PIN.
async fn awaiting_pin(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let mut out = Vec::new();
    for order in platform(&state).orders_awaiting_pin(id).await? {
        let merchant = platform(&state).merchant(&order.mchid).await?;
        out.push(order_view(&order, &merchant.merchant.name));
    }
    Ok(json(StatusCode::OK, &out))
}

async fn preview_merchant_payment(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    person(&state, &headers).await?;
    let r: MerchantPaymentIn = parse(&body)?;
    // A static code shows who and what before an amount exists (previewing makes no order).
    if let Some(url) = r.code_url.as_deref().filter(|u| u.contains("?sr=")) {
        let (merchant, description) = platform(&state).static_code(url).await?;
        return Ok(json(
            StatusCode::OK,
            &serde_json::json!({"merchant": merchant.merchant.name, "description": description, "amount": null, "enter_amount": true}),
        ));
    }
    let order = platform(&state).resolve_order(r.reference()?).await?;
    let merchant = platform(&state).merchant(&order.mchid).await?;
    Ok(json(StatusCode::OK, &order_view(&order, &merchant.merchant.name)))
}

async fn pay_merchant(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: MerchantPaymentIn = parse(&body)?;
    let order = platform(&state).resolve_order(r.reference()?).await?;
    let card = r.card_id.as_deref().map(|c| ids::parse("card_id", c)).transpose()?;
    let paid = platform(&state).pay_order(id, order, platform::PayOrder { pin: r.pin.as_deref(), card }).await?;
    let merchant = platform(&state).merchant(&paid.mchid).await?;
    Ok(json(StatusCode::CREATED, &order_view(&paid, &merchant.merchant.name)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferIn {
    to_person_id: String,
    amount: String,
    currency: String,
    #[serde(default)]
    note: String,
    pin: Option<String>,
    /// Pay straight from this linked card instead of the balance.
    card_id: Option<String>,
}

async fn send_transfer(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: TransferIn = parse(&body)?;
    let to = ids::parse("to_person_id", &r.to_person_id)?;
    let card = r.card_id.as_deref().map(|c| ids::parse("card_id", c)).transpose()?;
    let request = platform::SendTransfer { to, amount: &r.amount, currency: &r.currency, note: &r.note, pin: r.pin.as_deref(), card };
    Ok(json(StatusCode::CREATED, &platform(&state).send_transfer(id, request).await?))
}

async fn transfer(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(t): Path<String>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).transfer(id, ids::parse("id", &t)?).await?))
}

async fn accept_transfer(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(t): Path<String>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).accept_transfer(id, ids::parse("id", &t)?).await?))
}

async fn decline_transfer(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(t): Path<String>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).decline_transfer(id, ids::parse("id", &t)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedPacketIn {
    split: String,
    to_person_id: Option<String>,
    to_group_id: Option<String>,
    currency: String,
    /// The total (single, lucky) or the amount of each share (equal).
    amount: String,
    #[serde(default = "one")]
    shares: i64,
    title: Option<String>,
    cover: Option<String>,
    pin: Option<String>,
}

fn one() -> i64 {
    1
}

async fn send_red_packet(State(state): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Bytes) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let r: RedPacketIn = parse(&body)?;
    let split = Split::parse(&r.split)?;
    let to_person = r.to_person_id.as_deref().map(|p| ids::parse("to_person_id", p)).transpose()?;
    let to_group = r.to_group_id.as_deref().map(|g| ids::parse("to_group_id", g)).transpose()?;
    let packet = platform(&state)
        .send_red_packet(
            id,
            split,
            to_person,
            to_group,
            &r.currency,
            &r.amount,
            r.shares,
            r.title.as_deref(),
            r.cover.as_deref(),
            r.pin.as_deref(),
        )
        .await?;
    Ok(json(StatusCode::CREATED, &packet))
}

async fn red_packet(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(p): Path<String>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::OK, &platform(&state).red_packet(id, ids::parse("id", &p)?).await?))
}

async fn claim_red_packet(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(p): Path<String>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    Ok(json(StatusCode::CREATED, &platform(&state).claim_red_packet(id, ids::parse("id", &p)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    #[serde(rename = "type")]
    kind: Option<String>,
    currency: Option<String>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    /// `<created_at_ms>:<id>` of the previous page's last item.
    before: Option<String>,
    limit: Option<usize>,
}

async fn history(State(state): State<Arc<AppState>>, headers: HeaderMap, Query(q): Query<HistoryParams>) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let currency =
        q.currency.as_deref().map(money::Currency::from_code).transpose().map_err(|e| PlatformError::invalid("currency", e.to_string()))?;
    let before = match q.before.as_deref() {
        None => None,
        Some(cursor) => {
            let parsed = cursor.split_once(':').and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.parse::<i64>().ok()?)));
            Some(parsed.ok_or_else(|| PlatformError::invalid("before", "the previous page's last item as <created_at_ms>:<id>"))?)
        }
    };
    let query = HistoryQuery { kind: q.kind, currency, from_ms: q.from_ms, to_ms: q.to_ms, before, limit: q.limit.unwrap_or(20) };
    Ok(json(StatusCode::OK, &platform(&state).history(id, query).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementParams {
    currency: Option<String>,
}

/// `GET /api/v1/statements/2026-11?currency=CNY`: the month's statement as CSV.
async fn statement(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(month): Path<String>,
    Query(q): Query<StatementParams>,
) -> Answer<Response> {
    let id = person(&state, &headers).await?;
    let (year, m) = month
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i64>().ok()?, m.parse::<i64>().ok()?)))
        .ok_or_else(|| PlatformError::invalid("month", "YYYY-MM, e.g. 2026-11"))?;
    let currency = match q.currency {
        Some(c) => c,
        None => platform(&state).wallet_currencies(id).await?.first().map(|c| c.code().to_string()).unwrap_or_else(|| "CNY".into()),
    };
    let csv = platform(&state).statement_csv(id, year, m, &currency).await?;
    let disposition = format!("attachment; filename=\"statement-{month}-{currency}.csv\"");
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], csv)
        .into_response())
}
