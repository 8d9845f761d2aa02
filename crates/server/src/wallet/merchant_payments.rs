//! `/api/v1/merchant-payments`, `/payment-codes`: the wallet's side of paying a merchant.

use super::{Answer, Key, SignedIn, St, id, json, parse};
use axum::http::StatusCode;
use axum::response::Response;
use platform::payments::{ClientSignature, Order, OrderReference, PayOrder, PaymentPlan, Payments};
use platform::{OrderId, PlatformError};
use serde::Deserialize;

/// What the wallet scanned or was handed by a merchant's page or app.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PaymentIn {
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
    /// Pay from this balance (by default the region's home currency, converting when needed).
    balance_currency: Option<String>,
    /// The quote a preview made: pay at exactly its price.
    quote_id: Option<String>,
}

impl PaymentIn {
    fn how(&self) -> Result<PayOrder<'_>, super::WalletError> {
        Ok(PayOrder {
            pin: self.pin.as_deref(),
            card: self.card_id.as_deref().map(|c| id("card_id", c)).transpose()?,
            balance_currency: self.balance_currency.as_deref(),
            quote: self.quote_id.as_deref().map(|q| id("quote_id", q)).transpose()?,
        })
    }

    fn reference(&self) -> Result<OrderReference<'_>, PlatformError> {
        if let Some(id) = &self.order_id {
            return Ok(OrderReference::AwaitingPin(OrderId::parse("order_id", id)?));
        }
        match (&self.code_url, &self.prepay_id) {
            (Some(url), None) if Payments::is_static_code(url) => {
                let amount =
                    self.amount.as_deref().ok_or_else(|| PlatformError::invalid("amount", "a static code needs the amount you pay"))?;
                Ok(OrderReference::StaticCode { code_url: url, amount, currency: self.currency.as_deref() })
            }
            (Some(url), None) => Ok(OrderReference::CodeUrl(url)),
            (None, Some(prepay_id)) => {
                if self.sign_type.as_deref().is_some_and(|t| t != "RSA") {
                    return Err(PlatformError::invalid("sign_type", "RSA"));
                }
                let signature = match (&self.app_id, &self.time_stamp, &self.nonce_str, &self.pay_sign) {
                    (Some(app_id), Some(time_stamp), Some(nonce_str), Some(pay_sign)) => Some(ClientSignature {
                        app_id,
                        time_stamp,
                        nonce_str,
                        package: self.package.as_deref().unwrap_or("Sign=WXPay"),
                        pay_sign,
                    }),
                    (None, None, None, None) => None,
                    _ => return Err(PlatformError::invalid("pay_sign", "app_id, time_stamp, nonce_str and pay_sign come together")),
                };
                Ok(OrderReference::Prepay { prepay_id, signature })
            }
            _ => Err(PlatformError::invalid("code_url", "give either code_url or prepay_id")),
        }
    }
}

/// An EMV payload of a Qianbao merchant in `code_url` stands for the Qianbao code it carries.
fn canonical(state: &St, mut r: PaymentIn) -> PaymentIn {
    if let Some(code) = r.code_url.as_deref().and_then(|c| state.platform.payments.qianbao_code(c)) {
        r.code_url = Some(code);
    }
    r
}

/// What a person sees before paying a merchant.
pub(super) fn order_view(order: &Order, merchant_name: &str) -> serde_json::Value {
    serde_json::json!({
        "order_id": order.id.to_string(),
        "merchant": merchant_name,
        "description": order.description,
        "amount": platform::wallet::decimal(order.total_minor, order.currency),
        "currency": order.currency.code(),
        "state": order.trade_state.as_str(),
        "transaction_id": order.paid().then(|| order.transaction_id.clone()),
        "out_trade_no": order.out_trade_no,
        "payer_amount": order.exchange.as_ref().map(|e| platform::wallet::decimal(e.total_minor, e.currency)),
        "payer_currency": order.exchange.as_ref().map(|e| e.currency.code()),
        "rate": order.exchange.as_ref().map(|e| e.rate.decimal()),
    })
}

/// A fresh one-time payment code (show it as a barcode; it lives a minute and pays one order).
pub(super) async fn payment_code(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    Ok(json(StatusCode::CREATED, &state.platform.payments.issue_payment_code(me).await?))
}

/// Orders placed with this person's payment codes that wait for the PIN.
pub(super) async fn awaiting_pin(SignedIn(me): SignedIn, state: St) -> Answer<Response> {
    let mut out = Vec::new();
    for order in state.platform.payments.orders_awaiting_pin(me).await? {
        let name = state.platform.merchants.merchant(&order.mchid).await?.merchant.name.clone();
        out.push(order_view(&order, &name));
    }
    Ok(json(StatusCode::OK, &out))
}

pub(super) async fn preview(SignedIn(me): SignedIn, state: St, body: axum::body::Bytes) -> Answer<Response> {
    let r = canonical(&state, parse(&body)?);
    // A static code shows who and what before an amount exists; with the amount, what it would cost
    // (previewing makes no order).
    if let Some(url) = r.code_url.as_deref().filter(|u| Payments::is_static_code(u)) {
        let Some(amount) = r.amount.as_deref() else {
            let (merchant, description) = state.platform.payments.static_code(url).await?;
            let view =
                serde_json::json!({"merchant": merchant.merchant.name, "description": description, "amount": null, "enter_amount": true});
            return Ok(json(StatusCode::OK, &view));
        };
        let (merchant, _) = state.platform.payments.static_code(url).await?;
        let currency = r.currency.clone().unwrap_or_else(|| merchant.merchant.settlement_currency.code().to_string());
        let (merchant, description, plan) = state.platform.payments.preview_static_code(me, url, amount, &currency, &r.how()?).await?;
        let view = serde_json::json!({
            "merchant": merchant.merchant.name, "description": description, "amount": amount, "currency": currency,
            "enter_amount": true, "payment": plan_view(&plan),
        });
        return Ok(json(StatusCode::OK, &view));
    }
    let order = state.platform.payments.resolve_order(me, r.reference()?).await?;
    let name = state.platform.merchants.merchant(&order.mchid).await?.merchant.name.clone();
    let mut view = order_view(&order, &name);
    if order.trade_state.open() {
        let plan = state.platform.payments.preview_plan(me, &order, &r.how()?).await?;
        view["payment"] = plan_view(&plan);
    }
    Ok(json(StatusCode::OK, &view))
}

/// How the person would pay: the amount in their currency and, converting, the price and its quote.
pub(super) fn plan_view(plan: &PaymentPlan) -> serde_json::Value {
    let mut out = serde_json::json!({
        "currency": plan.pay.currency().code(),
        "amount": plan.pay.to_decimal_string(),
        "cross_border": plan.cross_border,
    });
    if let Some(price) = &plan.price {
        out["rate"] = price.rate.decimal().into();
        out["rate_text"] = format!("{} (reference {}, markup {} bps)", price.rate, price.mid.decimal(), price.markup_bps).into();
        out["reference_rate"] = price.mid.decimal().into();
        out["reference_source"] = price.mid_source.clone().into();
        out["markup_bps"] = price.markup_bps.into();
        out["rounding"] = platform::fx::rounding_name(platform::fx::pricing::PAYMENT_ROUNDING).into();
    }
    if let Some((quote, expires_at_ms)) = plan.quote {
        out["quote_id"] = quote.to_string().into();
        out["expires_at_ms"] = expires_at_ms.into();
    }
    out
}

pub(super) async fn pay(SignedIn(me): SignedIn, state: St, Key(key): Key, body: axum::body::Bytes) -> Answer<Response> {
    let r = canonical(&state, parse(&body)?);
    let order = state.platform.payments.resolve_order(me, r.reference()?).await?;
    let paid = state.platform.payments.pay_order(me, order, r.how()?, key.as_deref()).await?;
    let name = state.platform.merchants.merchant(&paid.mchid).await?.merchant.name.clone();
    Ok(json(StatusCode::CREATED, &order_view(&paid, &name)))
}
