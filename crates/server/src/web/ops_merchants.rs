//! The operator console's onboarding and verification: `/ops/merchants` (operator) onboards a merchant
//! or a service provider after a confirmation page (its APIv3 key shown once, screening's verdict with
//! it), and `/ops/kyc` (risk) is the queue of people waiting for their identity to be verified, each a
//! link to the person's page where risk sets the tier after confirming. Reading the queue is audited.
//! The same page registers a merchant as a charity (its registration: the badge people see), with a
//! reason and a ticked confirmation, audited in the same commit.

use super::ops::{failed, holds, posted, reason_of, role_missing, session, to_sign_in};
use super::wallet::csrf;
use super::{Lang, page};
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use platform::PlatformError;
use platform::merchants::MerchantSetup;
use platform::operators::{Acting, OperatorUser, Role};
use std::collections::HashMap;
use std::sync::Arc;

/// People listed in the KYC queue at once.
const KYC_QUEUE_SHOWN: i64 = 50;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ops/merchants", get(merchants).post(onboard))
        .route("/ops/charities", axum::routing::post(register_charity))
        .route("/ops/kyc", get(kyc_queue))
}

async fn merchants(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    merchants_page(&state, lang, chosen, &user, &token, minijinja::context! { form => HashMap::<&str, &str>::new() })
}

/// The onboarding page; `extra` holds `form` (the fields as sent, to fill the form again) and what
/// happened.
fn merchants_page(state: &AppState, lang: Lang, chosen: bool, user: &OperatorUser, token: &str, extra: minijinja::Value) -> Response {
    let roles = [Role::Operator];
    if !holds(user, &roles) {
        return role_missing(lang, chosen, user, csrf(state, token), &roles);
    }
    let currencies: Vec<&str> = state.platform.config().currencies().iter().map(|c| c.code()).collect();
    let base = minijinja::context! { user => user, csrf => csrf(state, token), currencies => currencies };
    page("ops_merchants.html", lang, chosen, minijinja::context! { ..base, ..extra })
}

/// The form's fields, as onboarding takes them.
fn setup_of(f: &HashMap<String, String>) -> MerchantSetup {
    let field = |name: &str| f.get(name).map(|v| v.trim().to_string()).unwrap_or_default();
    MerchantSetup {
        mchid: None,
        kind: match field("kind").as_str() {
            kind @ ("service_provider" | "sub_merchant") => kind.into(),
            _ => "direct".into(),
        },
        parent_mchid: Some(field("parent_mchid")).filter(|p| !p.is_empty()),
        name: field("name"),
        mcc: field("mcc"),
        country: field("country").to_ascii_uppercase(),
        settlement_currency: field("settlement_currency"),
        fee_bps: field("fee_bps").parse().unwrap_or(-1),
        settlement_account: field("settlement_account"),
        public_key_mode: true,
        licence: None,
    }
}

/// Onboard: the first post shows what will be made and asks to confirm (with the reason); the confirmed
/// post onboards (its audit row in the same transaction) and screens the name.
async fn onboard(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token, f)) = posted(&state, &headers, &body).await else { return to_sign_in() };
    if !holds(&user, &[Role::Operator]) {
        return role_missing(lang, chosen, &user, csrf(&state, &token), &[Role::Operator]);
    }
    let form: HashMap<&str, &str> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let Some(reason) = reason_of(&f) else {
        let error = lang.messages()["ops_reason_needed"].clone();
        return merchants_page(&state, lang, chosen, &user, &token, minijinja::context! { error => error, form => form });
    };
    if f.get("confirm").map(String::as_str) != Some("yes") {
        return merchants_page(
            &state,
            lang,
            chosen,
            &user,
            &token,
            minijinja::context! { confirm => true, form => form, reason => reason },
        );
    }
    let acting = Acting { by: &user, reason: &reason };
    let (merchant, apiv3_key, hits) = match state.platform.onboard_merchant(acting, setup_of(&f)).await {
        Ok(made) => made,
        Err(e @ (PlatformError::Invalid { .. } | PlatformError::Conflict { .. })) => {
            return merchants_page(&state, lang, chosen, &user, &token, minijinja::context! { error => e.to_string(), form => form });
        }
        Err(e) => return failed(e),
    };
    let made = minijinja::context! { mchid => merchant.mchid, name => merchant.name, apiv3_key => apiv3_key, hits => hits.len() };
    merchants_page(&state, lang, chosen, &user, &token, minijinja::context! { made => made, form => HashMap::<&str, &str>::new() })
}

async fn register_charity(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token, f)) = posted(&state, &headers, &body).await else { return to_sign_in() };
    if !holds(&user, &[Role::Operator]) {
        return role_missing(lang, chosen, &user, csrf(&state, &token), &[Role::Operator]);
    }
    let empty = HashMap::<&str, &str>::new();
    let refuse = |error: String| {
        merchants_page(&state, lang, chosen, &user, &token, minijinja::context! { charity_error => error, form => empty.clone() })
    };
    let t = lang.messages();
    let Some(reason) = reason_of(&f) else { return refuse(t["ops_reason_needed"].clone()) };
    if f.get("confirm").map(String::as_str) != Some("yes") {
        return refuse(t["ops_tick_confirm"].clone());
    }
    let field = |name: &str| f.get(name).map(|v| v.trim().to_string()).unwrap_or_default();
    let fee = match field("fee_bps").as_str() {
        "" => None,
        bps => match bps.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => return refuse(PlatformError::invalid("fee_bps", "0 to 1000 basis points").to_string()),
        },
    };
    let (mchid, number, jurisdiction) = (field("mchid"), field("charity_number"), field("jurisdiction"));
    let detail = format!("{jurisdiction} {number}");
    let audit = state.platform.audit.effect(&user.actor(), "charities.register", &format!("merchant:{mchid}"), &detail, &reason);
    match state.platform.charity.register(&mchid, &number, &jurisdiction, fee, Some(audit)).await {
        Ok(c) => {
            let made = minijinja::context! { name => c.name, number => c.charity_number, jurisdiction => c.jurisdiction };
            merchants_page(&state, lang, chosen, &user, &token, minijinja::context! { charity_made => made, form => empty.clone() })
        }
        Err(e) if !e.is_internal() => refuse(e.to_string()),
        Err(e) => failed(e),
    }
}

async fn kyc_queue(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let (lang, chosen) = Lang::of(&uri, &headers);
    let Some((user, token)) = session(&state, &headers).await else { return to_sign_in() };
    let roles = [Role::Risk];
    if !holds(&user, &roles) {
        return role_missing(lang, chosen, &user, csrf(&state, &token), &roles);
    }
    let waiting = match state.platform.people.kyc_queue(KYC_QUEUE_SHOWN).await {
        Ok(w) => w,
        Err(e) => return failed(e),
    };
    // The queue shows legal names: reading it is audited, as a look-up is.
    let detail = format!("the KYC queue: {} people", waiting.len());
    if let Err(e) = state.platform.audit.record(&user.actor(), "people.read", "kyc:queue", &detail, "operator console").await {
        return failed(e);
    }
    let people: Vec<_> = waiting
        .iter()
        .map(|(id, name, legal_name, phone)| {
            let phone_q: String = form_urlencoded::byte_serialize(phone.as_bytes()).collect();
            minijinja::context! { id => id.to_string(), name => name, legal_name => legal_name, phone => phone, phone_q => phone_q }
        })
        .collect();
    page("ops_kyc.html", lang, chosen, minijinja::context! { user => user, csrf => csrf(&state, &token), people => people })
}
