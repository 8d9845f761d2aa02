//! `/admin/api/merchants/{mchid}/qr-profile` and `/schemes/{scheme}`: what a merchant's EMV codes say
//! (the Latin name and city, the local-language ones) and the national schemes it is registered on.

use super::{Answer, Operator, St, audit_row, parse_json};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use platform::merchants::qr::QrProfile;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileIn {
    name: String,
    city: String,
    postal_code: Option<String>,
    language: Option<String>,
    local_name: Option<String>,
    local_city: Option<String>,
}

pub(super) async fn set_profile(op: Operator, state: St, Path(mchid): Path<String>, body: axum::body::Bytes) -> Answer<Json<Value>> {
    let r: ProfileIn = parse_json(&body)?;
    let profile = QrProfile::parse(
        &r.name,
        &r.city,
        r.postal_code.as_deref(),
        r.language.as_deref(),
        r.local_name.as_deref(),
        r.local_city.as_deref(),
    )?;
    let detail = format!("{} / {}", profile.name, profile.city);
    let audit = audit_row(&state, &op, "merchants.set_qr_profile", &format!("merchant:{mchid}"), &detail);
    state.platform.merchants.set_qr_profile(&mchid, profile.clone(), audit).await?;
    Ok(Json(serde_json::to_value(&profile).expect("a profile is JSON")))
}

pub(super) async fn register_scheme(
    op: Operator,
    state: St,
    Path((mchid, scheme)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Answer<(StatusCode, Json<Value>)> {
    let fields: serde_json::Map<String, Value> = parse_json(&body)?;
    let detail = format!("{scheme}: {}", Value::Object(fields.clone()));
    let audit = audit_row(&state, &op, "merchants.register_scheme", &format!("merchant:{mchid}"), &detail);
    let template = state.platform.merchants.register_scheme(&mchid, &scheme, &fields, audit).await?;
    Ok((StatusCode::OK, Json(json!({"scheme": scheme, "template": template}))))
}
