//! The web wallet's paying pages: scan (the live camera where the browser reads codes itself, a photo
//! or screenshot uploaded, which on a phone opens its camera, or the text pasted) → the preview (merchant, amount or
//! "enter amount", the price when the currency differs, locked in a quote) → pay with the PIN; and the
//! person's payment code for a cashier to scan (drawn inline, never in a URL: it pays).

use super::wallet::{checked, error_page, failed, session, to_sign_in};
use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use platform::networks::NetworkPay;
use platform::payments::{OrderReference, PayOrder, PaymentPlan, Payments};
use platform::{PersonId, PlatformError};
use std::collections::HashMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/wallet/scan", get(scan_form).post(scan))
        // The picture and the form's token, nothing more.
        .route("/wallet/scan/image", post(scan_image).layer(DefaultBodyLimit::max(super::qr_image::IMAGE_BYTES_MAX + 64 * 1024)))
        .route("/wallet/pay", post(pay))
        .route("/wallet/payment-code", get(payment_code))
}

async fn scan_form(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let Some((_, token)) = session(&state, &headers).await else { return to_sign_in(&uri, &headers) };
    let (lang, chosen) = Lang::of(&uri, &headers);
    page("wallet_scan.html", lang, chosen, minijinja::context! { csrf => super::wallet::csrf(&state, &token) })
}

fn plan_fields(plan: Option<&PaymentPlan>) -> (Option<String>, Option<&'static str>, Option<String>, Option<String>) {
    match plan {
        Some(p) if p.price.is_some() => (
            Some(p.pay.to_decimal_string()),
            Some(p.pay.currency().code()),
            p.price.as_ref().map(|r| r.rate.decimal()),
            p.quote.map(|(q, _)| q.to_string()),
        ),
        _ => (None, None, None, None),
    }
}

/// What a scanned text is and what paying it means, as the preview shows it.
async fn preview(state: &AppState, person: PersonId, payload: &str) -> Result<minijinja::Value, PlatformError> {
    let p = &state.platform;
    let how = PayOrder { pin: None, card: None, balance_currency: None, quote: None };
    if let Some(code_url) = p.payments.qianbao_code(payload) {
        if Payments::is_static_code(&code_url) {
            let (merchant, description) = p.payments.static_code(&code_url).await?;
            return Ok(minijinja::context! {
                merchant => merchant.merchant.name, description => description, enter_amount => true,
                currency => merchant.merchant.settlement_currency.code(),
            });
        }
        let order = p.payments.order(p.payments.order_of_code_url(&code_url)?).await?;
        let plan = p.payments.preview_plan(person, &order, &how).await?;
        let (pay_amount, pay_currency, rate, quote_id) = plan_fields(Some(&plan));
        let merchant = p.merchants.merchant(&order.mchid).await?.merchant.name.clone();
        return Ok(minijinja::context! {
            merchant => merchant, description => order.description, amount => platform::wallet::decimal(order.total_minor, order.currency),
            currency => order.currency.code(), pay_amount => pay_amount, pay_currency => pay_currency, rate => rate, quote_id => quote_id,
        });
    }
    if let Some(scan) = p.networks.scan(payload).await? {
        let plan = p.networks.preview(person, &scan, None, &how).await?;
        let (pay_amount, pay_currency, rate, quote_id) = plan_fields(plan.as_ref());
        let i = &scan.identified;
        return Ok(minijinja::context! {
            merchant => i.merchant_name, network => scan.network.config().name, amount => i.amount.map(|a| a.to_decimal_string()),
            currency => i.currency.code(), enter_amount => i.amount.is_none(),
            pay_amount => pay_amount, pay_currency => pay_currency, rate => rate, quote_id => quote_id,
        });
    }
    Err(PlatformError::invalid("payload", "neither Qianbao nor its partner networks know this code"))
}

async fn scan(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let payload = f.get("payload").map(|p| p.trim().to_string()).unwrap_or_default();
    show_preview(&state, &uri, &headers, person, payload).await
}

/// An uploaded picture of a code (multipart: `csrf`, then `image`): its code read, then as [`scan`].
async fn scan_image(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, mut parts: Multipart) -> Response {
    let Some((person, token)) = session(&state, &headers).await else { return to_sign_in(&uri, &headers) };
    let (mut csrf, mut image) = (None, None);
    while let Ok(Some(part)) = parts.next_field().await {
        match part.name() {
            Some("csrf") => csrf = part.text().await.ok(),
            Some("image") => image = part.bytes().await.ok(),
            _ => {}
        }
    }
    if csrf.as_deref() != Some(super::wallet::csrf(&state, &token).as_str()) {
        return super::wallet::forged();
    }
    let Some(image) = image.filter(|i| !i.is_empty()) else {
        return scan_refused(&state, &uri, &headers, &token, "choose a picture of the code".into());
    };
    match tokio::task::spawn_blocking(move || super::qr_image::read(&image)).await {
        Ok(Ok(payload)) => show_preview(&state, &uri, &headers, person, payload).await,
        Ok(Err(unreadable)) => scan_refused(&state, &uri, &headers, &token, unreadable.message().into()),
        Err(e) => error_page(PlatformError::Internal(format!("reading a picture: {e}"))),
    }
}

fn scan_refused(state: &AppState, uri: &Uri, headers: &HeaderMap, token: &str, error: String) -> Response {
    let (lang, _) = Lang::of(uri, headers);
    page("wallet_scan.html", lang, false, minijinja::context! { error => error, csrf => super::wallet::csrf(state, token) })
}

/// The preview of what a scanned text pays, or why it cannot be paid.
async fn show_preview(state: &AppState, uri: &Uri, headers: &HeaderMap, person: PersonId, payload: String) -> Response {
    let (lang, _) = Lang::of(uri, headers);
    let token = super::wallet::cookie(headers, "qb_wallet").unwrap_or_default().to_string();
    let csrf = super::wallet::csrf(state, &token);
    let result = if payload.is_empty() || payload.chars().count() > platform::networks::CODE_CHARS_MAX {
        Err(PlatformError::invalid("payload", "paste the text of a QR code"))
    } else {
        preview(state, person, &payload).await
    };
    match result {
        Ok(preview) => page(
            "wallet_scan.html",
            lang,
            false,
            minijinja::context! { preview => preview, payload => payload, csrf => csrf, key => wxpay::random_alphanumeric(24) },
        ),
        Err(e) if e.is_internal() => error_page(e),
        Err(e) => page("wallet_scan.html", lang, false, minijinja::context! { error => e.to_string(), csrf => csrf }),
    }
}

async fn pay(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (person, f) = match checked(&state, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let (lang, _) = Lang::of(&uri, &headers);
    match pay_scanned(&state, person, &f).await {
        Ok(paid) => page("wallet_scan.html", lang, false, minijinja::context! { paid => paid }),
        Err(e) => failed(e),
    }
}

/// Pay what was scanned, with the PIN: a Qianbao code as `merchant-payments` does, a partner network's
/// as `network-payments` does. The form's key makes a double submission one payment.
async fn pay_scanned(state: &AppState, person: PersonId, f: &HashMap<String, String>) -> Result<minijinja::Value, PlatformError> {
    let field = |name: &str| f.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let payload = field("payload").ok_or_else(|| PlatformError::invalid("payload", "scan a code first"))?;
    let key = field("key").filter(|k| k.len() <= 64).map(|k| format!("web-pay-{k}"));
    let quote = field("quote_id").map(|q| platform::ids::parse("quote_id", q)).transpose()?;
    let how = PayOrder { pin: field("pin"), card: None, balance_currency: None, quote };
    let p = &state.platform;
    if let Some(code_url) = p.payments.qianbao_code(payload) {
        let reference = if Payments::is_static_code(&code_url) {
            let amount = field("amount").ok_or_else(|| PlatformError::invalid("amount", "enter the amount you pay"))?;
            OrderReference::StaticCode { code_url: &code_url, amount, currency: None }
        } else {
            OrderReference::CodeUrl(&code_url)
        };
        let order = p.payments.resolve_order(person, reference).await?;
        let paid = p.payments.pay_order(person, order, how, key.as_deref()).await?;
        let merchant = p.merchants.merchant(&paid.mchid).await?.merchant.name.clone();
        // Opt-in, never automatic: the merchant's official accounts, offered to follow.
        let follow = p.official_accounts.accounts_of(paid.merchant_id).await?;
        return Ok(minijinja::context! {
            follow => follow,
            merchant => merchant, amount => platform::wallet::decimal(paid.total_minor, paid.currency), currency => paid.currency.code(),
            pay_amount => paid.exchange.as_ref().map(|e| platform::wallet::decimal(e.total_minor, e.currency)),
            pay_currency => paid.exchange.as_ref().map(|e| e.currency.code()), state => paid.trade_state.as_str(),
        });
    }
    let paid = p.networks.pay_out(person, NetworkPay { payload, amount: field("amount"), how }, key.as_deref()).await?;
    Ok(minijinja::context! {
        merchant => paid.merchant_name, amount => paid.amount.to_decimal_string(), currency => paid.amount.currency().code(),
        pay_amount => (paid.payer_amount.currency() != paid.amount.currency()).then(|| paid.payer_amount.to_decimal_string()),
        pay_currency => paid.payer_amount.currency().code(), state => paid.state.as_str(),
    })
}

async fn payment_code(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let Some((person, _)) = session(&state, &headers).await else { return to_sign_in(&uri, &headers) };
    let (lang, chosen) = Lang::of(&uri, &headers);
    let code = match state.platform.payments.issue_payment_code(person).await {
        Ok(code) => code.code,
        Err(e) => return error_page(e),
    };
    let svg = match crate::qr::render_svg(&code) {
        Ok(svg) => svg.trim_start_matches(|c| c != '<').split_once("?>").map(|(_, rest)| rest.to_string()).unwrap_or(svg),
        Err(e) => return error_page(PlatformError::Internal(e)),
    };
    let spaced: String = code.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ");
    page("wallet_code.html", lang, chosen, minijinja::context! { svg => svg, spaced => spaced })
}
