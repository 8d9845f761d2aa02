//! The pages people see, served by the binary (templates, messages and styles are compiled into it):
//! the landing page at `/` and, in sandboxes, the merchants' notification inbox. In English,
//! Simplified Chinese and Traditional Chinese (Hong Kong): `?lang=` (remembered in a cookie), else
//! the browser's `Accept-Language`. Templates are minijinja's, HTML-escaped by default.

mod charts;
mod i18n;
pub mod inbox;
mod merchant;
mod merchant_campaigns;
mod merchant_tools;
mod ops;
mod ops_merchants;
mod ops_operations;
mod ops_reviews;
mod qr_image;
mod wallet;
mod wallet_account;
mod wallet_accounts;
mod wallet_giving;
mod wallet_money;
mod wallet_pay;
mod wallet_social;

use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
pub use i18n::Lang;
use serde::Serialize;
use std::sync::{Arc, OnceLock};

/// What the landing page says about the demo (in `--demo` only).
#[derive(Debug, Clone, Serialize)]
pub struct DemoPage {
    pub people: Vec<DemoPerson>,
    pub mchid: String,
    pub network_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoPerson {
    pub name: String,
    pub phone: String,
    pub balance: String,
}

/// The web layer's settings.
#[derive(Default)]
pub struct Web {
    pub demo: Option<DemoPage>,
    /// The notification inbox (sandboxes and `--demo` only).
    pub inbox: Option<Arc<inbox::Inbox>>,
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(landing))
        .route("/assets/app.css", get(css))
        .route("/assets/payment-code.js", get(|| script(include_str!("payment-code.js"))))
        .route("/assets/scan.js", get(|| script(include_str!("scan.js"))))
        .route("/assets/campaign.js", get(|| script(include_str!("campaign.js"))))
        .merge(inbox::routes())
        .merge(wallet::routes())
        .merge(merchant::routes())
        .merge(merchant_tools::routes())
        .merge(merchant_campaigns::routes())
}

/// The operator console (served where the operator API is).
pub fn ops_routes() -> Router<Arc<AppState>> {
    ops::routes().merge(ops_reviews::routes()).merge(ops_merchants::routes()).merge(ops_operations::routes())
}

fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("landing.html", include_str!("templates/landing.html")),
            ("inbox.html", include_str!("templates/inbox.html")),
            ("wallet_sign_in.html", include_str!("templates/wallet_sign_in.html")),
            ("wallet_home.html", include_str!("templates/wallet_home.html")),
            ("wallet_register.html", include_str!("templates/wallet_register.html")),
            ("wallet_scan.html", include_str!("templates/wallet_scan.html")),
            ("wallet_code.html", include_str!("templates/wallet_code.html")),
            ("wallet_money.html", include_str!("templates/wallet_money.html")),
            ("wallet_friends.html", include_str!("templates/wallet_friends.html")),
            ("wallet_withdraw.html", include_str!("templates/wallet_withdraw.html")),
            ("wallet_history.html", include_str!("templates/wallet_history.html")),
            ("wallet_settings.html", include_str!("templates/wallet_settings.html")),
            ("wallet_red_packets.html", include_str!("templates/wallet_red_packets.html")),
            ("wallet_red_packet.html", include_str!("templates/wallet_red_packet.html")),
            ("wallet_campaigns.html", include_str!("templates/wallet_campaigns.html")),
            ("wallet_inbox.html", include_str!("templates/wallet_inbox.html")),
            ("wallet_account.html", include_str!("templates/wallet_account.html")),
            ("wallet_campaign.html", include_str!("templates/wallet_campaign.html")),
            ("wallet_receipt.html", include_str!("templates/wallet_receipt.html")),
            ("wallet_gifts.html", include_str!("templates/wallet_gifts.html")),
            ("merchant_campaigns.html", include_str!("templates/merchant_campaigns.html")),
            ("merchant_campaign.html", include_str!("templates/merchant_campaign.html")),
            ("merchant_bar.html", include_str!("templates/merchant_bar.html")),
            ("merchant_sign_in.html", include_str!("templates/merchant_sign_in.html")),
            ("merchant_orders.html", include_str!("templates/merchant_orders.html")),
            ("merchant_order.html", include_str!("templates/merchant_order.html")),
            ("merchant_refund_confirm.html", include_str!("templates/merchant_refund_confirm.html")),
            ("merchant_bills.html", include_str!("templates/merchant_bills.html")),
            ("merchant_sales.html", include_str!("templates/merchant_sales.html")),
            ("merchant_keys.html", include_str!("templates/merchant_keys.html")),
            ("merchant_notifications.html", include_str!("templates/merchant_notifications.html")),
            ("merchant_notification.html", include_str!("templates/merchant_notification.html")),
            ("merchant_codes.html", include_str!("templates/merchant_codes.html")),
            ("merchant_sticker.html", include_str!("templates/merchant_sticker.html")),
            ("merchant_covers.html", include_str!("templates/merchant_covers.html")),
            ("ops_bar.html", include_str!("templates/ops_bar.html")),
            ("ops_sign_in.html", include_str!("templates/ops_sign_in.html")),
            ("ops_forbidden.html", include_str!("templates/ops_forbidden.html")),
            ("ops_dashboard.html", include_str!("templates/ops_dashboard.html")),
            ("ops_approvals.html", include_str!("templates/ops_approvals.html")),
            ("ops_audit.html", include_str!("templates/ops_audit.html")),
            ("ops_people.html", include_str!("templates/ops_people.html")),
            ("ops_reviews.html", include_str!("templates/ops_reviews.html")),
            ("ops_merchants.html", include_str!("templates/ops_merchants.html")),
            ("ops_kyc.html", include_str!("templates/ops_kyc.html")),
            ("ops_operations.html", include_str!("templates/ops_operations.html")),
        ] {
            env.add_template(name, source).unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env
    })
}

/// A page in the reader's language (the language cookie set when `?lang=` chose it).
pub(crate) fn page(name: &str, lang: Lang, chosen: bool, context: minijinja::Value) -> Response {
    let base = minijinja::context! { lang => lang.code(), t => lang.messages(), languages => Lang::menu() };
    let rendered = templates().get_template(name).and_then(|t| t.render(minijinja::context! { ..base, ..context }));
    let mut response = match rendered {
        Ok(html) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a page");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered; see the server log").into_response()
        }
    };
    if chosen {
        remember(&mut response, lang);
    }
    response
}

/// Remember the reader's language choice in its cookie.
pub(crate) fn remember(response: &mut Response, lang: Lang) {
    let cookie = format!("qb_lang={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code());
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a cookie"));
}

async fn landing(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    page("landing.html", lang, chosen, minijinja::context! { demo => state.web.demo.clone() })
}

async fn script(source: &'static str) -> Response {
    let headers = [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")];
    (headers, source).into_response()
}

pub async fn css() -> Response {
    let headers = [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")];
    (headers, include_str!("app.css")).into_response()
}
