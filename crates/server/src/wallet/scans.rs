//! `POST /api/v1/scans`: whatever a camera read, told apart and explained (never guessed):
//! - a Qianbao `code_url` or an EMV payload carrying Qianbao's template: the merchant, the order's
//!   amount (or "enter amount" for a static code), the plan; paid with `POST /merchant-payments`;
//! - an EMV payload a partner network claims: the network, its merchant, the amount or "enter amount",
//!   the FX quote when the currency differs; paid with `POST /network-payments`;
//! - a payment code (Qianbao's digits or an EMV consumer-presented payload): a merchant scans those;
//! - anything else: `unknown`, with why.
//!
//! `POST /api/v1/network-payments` pays a partner network's code; `GET /network-payments/{id}` follows it.

use super::merchant_payments::{order_view, plan_view};
use super::{Answer, Key, SignedIn, St, id, json, parse};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use platform::PlatformError;
use platform::networks::{NetworkPay, NetworkPayment, NetworkState};
use platform::payments::{PayOrder, Payments};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScanIn {
    payload: String,
    /// For a code without an amount: what the person would pay (to preview the price).
    amount: Option<String>,
    balance_currency: Option<String>,
}

fn how(balance_currency: Option<&str>) -> PayOrder<'_> {
    PayOrder { pin: None, card: None, balance_currency, quote: None }
}

pub(super) async fn scan(SignedIn(me): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r: ScanIn = parse(&body)?;
    let payload = r.payload.trim();
    if payload.is_empty() || payload.chars().count() > platform::networks::CODE_CHARS_MAX {
        return Err(PlatformError::invalid("payload", format!("1 to {} characters", platform::networks::CODE_CHARS_MAX)).into());
    }
    let p = &state.platform;
    let how = how(r.balance_currency.as_deref());
    if let Some(code_url) = p.payments.qianbao_code(payload) {
        return Ok(json(StatusCode::OK, &qianbao(&state, me, &code_url, r.amount.as_deref(), &how).await?));
    }
    if let Some(scan) = p.networks.scan(payload).await? {
        let n = scan.network.config();
        let plan = p.networks.preview(me, &scan, r.amount.as_deref(), &how).await?;
        let i = &scan.identified;
        let view = json!({
            "kind": "network", "network": n.id, "network_name": n.name,
            "merchant": i.merchant_name, "country": i.country,
            "amount": i.amount.map(|a| a.to_decimal_string()), "currency": i.currency.code(), "enter_amount": i.amount.is_none(),
            "payment": plan.as_ref().map(plan_view),
            "pay_with": {"endpoint": "/api/v1/network-payments", "payload": payload},
        });
        return Ok(json(StatusCode::OK, &view));
    }
    Ok(json(StatusCode::OK, &unclaimed(&state, payload)))
}

/// A Qianbao code: the order (with its plan while open), or a static code's merchant.
async fn qianbao(
    state: &St,
    me: platform::PersonId,
    code_url: &str,
    amount: Option<&str>,
    how: &PayOrder<'_>,
) -> Result<Value, PlatformError> {
    let p = &state.platform;
    let pay_with = json!({"endpoint": "/api/v1/merchant-payments", "code_url": code_url});
    if Payments::is_static_code(code_url) {
        let (merchant, description) = p.payments.static_code(code_url).await?;
        let currency = merchant.merchant.settlement_currency.code().to_string();
        let plan = match amount {
            Some(a) => Some(p.payments.preview_static_code(me, code_url, a, &currency, how).await?.2),
            None => None,
        };
        return Ok(json!({
            "kind": "qianbao_static_code", "network": "qianbao", "merchant": merchant.merchant.name, "description": description,
            "amount": amount, "currency": currency, "enter_amount": true, "payment": plan.as_ref().map(plan_view), "pay_with": pay_with,
        }));
    }
    let order = p.payments.order(p.payments.order_of_code_url(code_url)?).await?;
    let name = p.merchants.merchant(&order.mchid).await?.merchant.name.clone();
    let mut view = order_view(&order, &name);
    if order.trade_state.open() {
        view["payment"] = plan_view(&p.payments.preview_plan(me, &order, how).await?);
    }
    view["kind"] = "qianbao_order".into();
    view["network"] = "qianbao".into();
    view["enter_amount"] = false.into();
    view["pay_with"] = pay_with;
    Ok(view)
}

/// What no network claims: a payment code (for a merchant to scan), or unknown, with why.
fn unclaimed(state: &St, payload: &str) -> Value {
    if platform::payments::valid_payment_code(payload) || state.platform.payments.code_of_cpm(payload).is_some() {
        return json!({"kind": "payment_code", "reason": "this is a payment code: a merchant scans it to charge its owner; it is not paid by scanning"});
    }
    let reason = match emvqr::parse(payload) {
        Err(e) if payload.starts_with("000201") => format!("an EMV QR payload that cannot be read: {e}"),
        Err(_) if emvqr::cpm::looks_like(payload) => "a consumer-presented code of another network: a merchant scans those".to_string(),
        Err(_) => "not a payment code Qianbao or its partner networks know".to_string(),
        Ok(parsed) => {
            let ids: Vec<String> = emvqr::schemes(&parsed).into_iter().map(|(_, s)| s_guid(&s)).collect();
            if ids.is_empty() {
                "an EMV QR payload without a merchant account Qianbao's networks serve".to_string()
            } else {
                format!("an EMV QR payload of {}: no partner network of this Qianbao serves it", ids.join(", "))
            }
        }
    };
    json!({"kind": "unknown", "reason": reason})
}

fn s_guid(s: &emvqr::Scheme) -> String {
    s.guid().to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NetworkPayIn {
    payload: String,
    amount: Option<String>,
    pin: Option<String>,
    balance_currency: Option<String>,
    quote_id: Option<String>,
}

pub(super) fn network_payment_view(p: &NetworkPayment) -> Value {
    json!({
        "id": p.id.to_string(),
        "network": p.network,
        "merchant": p.merchant_name,
        "state": p.state.as_str(),
        "amount": p.amount.to_decimal_string(),
        "currency": p.amount.currency().code(),
        "payer_amount": p.payer_amount.to_decimal_string(),
        "payer_currency": p.payer_amount.currency().code(),
        "network_reference": p.network_reference,
        "failure": p.failure,
        "created_at_ms": p.created_at_ms,
        "finished_at_ms": p.finished_at_ms,
    })
}

pub(super) async fn pay(SignedIn(me): SignedIn, state: St, Key(key): Key, body: axum::body::Bytes) -> Answer<Response> {
    let r: NetworkPayIn = parse(&body)?;
    let quote = r.quote_id.as_deref().map(|q| id("quote_id", q)).transpose()?;
    let how = PayOrder { pin: r.pin.as_deref(), card: None, balance_currency: r.balance_currency.as_deref(), quote };
    let request = NetworkPay { payload: r.payload.trim(), amount: r.amount.as_deref(), how };
    let paid = state.platform.networks.pay_out(me, request, key.as_deref()).await?;
    // Pending: the network has not answered yet (202); follow it with GET.
    let status = if paid.state == NetworkState::Pending { StatusCode::ACCEPTED } else { StatusCode::CREATED };
    let mut response = json(status, &network_payment_view(&paid));
    if paid.state == NetworkState::Pending {
        // Not final: a retry with the same key asks the network again instead of hearing this.
        response.extensions_mut().insert(super::idempotency::NoReplay);
    }
    Ok(response)
}

pub(super) async fn payment(SignedIn(me): SignedIn, state: St, Path(payment): Path<String>) -> Answer<Response> {
    let payment = id("id", &payment)?;
    Ok(json(StatusCode::OK, &network_payment_view(&state.platform.networks.payment_of(me, payment).await?)))
}
