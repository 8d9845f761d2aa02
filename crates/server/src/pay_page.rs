//! `GET /pay/h5?prepay_id=...`: the page a phone browser opens from an H5 order's `h5_url`. It shows what
//! is being paid and to whom, and hands the payment to the Qianbao wallet app (`qianbao://pay?prepay_id=`),
//! which pays through `POST /api/v1/merchant-payments` like any other order. Server-rendered, no script,
//! every value escaped.

use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::payments::{TradeState, TradeType};
use std::sync::Arc;

#[derive(serde::Deserialize)]
pub struct H5Params {
    prepay_id: String,
    /// Where the merchant wants the browser back after paying (WeChat's `redirect_url`).
    redirect_url: Option<String>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}\
         .amount{{font-size:2rem;font-weight:600}}a.pay{{display:block;text-align:center;background:#07c160;color:#fff;padding:.9rem;border-radius:.5rem;text-decoration:none}}</style></head>\
         <body>{body}</body></html>",
        title = escape(title)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html).into_response()
}

pub async fn h5(State(state): State<Arc<AppState>>, Query(q): Query<H5Params>) -> Response {
    let payments = &state.platform.payments;
    let order = match payments.order_of_prepay_id(&q.prepay_id) {
        Ok(id) => payments.order(id).await,
        Err(e) => Err(e),
    };
    let order = match order {
        Ok(order) if order.trade_type == TradeType::H5 => order,
        _ => return page(StatusCode::NOT_FOUND, "Qianbao", "<h1>No such payment</h1><p>This payment link is not valid.</p>"),
    };
    let merchant = match state.platform.merchants.merchant(&order.mchid).await {
        Ok(m) => m.merchant.name.clone(),
        Err(_) => String::new(),
    };
    let amount = platform::wallet::decimal(order.total_minor, order.currency);
    let state_line = match order.trade_state {
        TradeState::NotPay => String::new(),
        TradeState::Success | TradeState::Refund => "<p><strong>Paid.</strong></p>".to_string(),
        _ => "<p><strong>This order is closed.</strong></p>".to_string(),
    };
    let back = q
        .redirect_url
        .filter(|u| platform::payments::valid_notify_url(u) || u.starts_with("https://"))
        .map(|u| format!("<p><a href=\"{}\">Back to {}</a></p>", escape(&u), escape(&merchant)))
        .unwrap_or_default();
    let pay = if order.trade_state == TradeState::NotPay {
        format!("<p><a class=\"pay\" href=\"qianbao://pay?prepay_id={}\">Pay with Qianbao</a></p>", escape(&q.prepay_id))
    } else {
        String::new()
    };
    let body = format!(
        "<h1>{merchant}</h1><p>{description}</p><p class=\"amount\">{currency} {amount}</p>{state_line}{pay}{back}",
        merchant = escape(&merchant),
        description = escape(&order.description),
        currency = order.currency.code(),
    );
    page(StatusCode::OK, &format!("Pay {merchant}"), &body)
}
