//! `POST /v3/qianbao/official-accounts/{appid}/messages` (a Qianbao extension beside the WeChat v3 wire,
//! signed the same way): the account's owner publishes news or an appeal to every follower, or a
//! receipt to one follower named by their openid at the account. `out_message_no` makes a retry the
//! same message.

use super::WxError;
use super::auth::{authenticate, parse_body};
use super::signing::signed_json;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use platform::official_accounts::NewMessage;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageIn {
    out_message_no: String,
    kind: String,
    title: String,
    body: String,
    to_openid: Option<String>,
}

pub(super) async fn publish(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, WxError> {
    let merchant = authenticate(&state, &method, &uri, &headers, &body).await?;
    let r: MessageIn = parse_body(&body)?;
    let new = NewMessage { out_message_no: r.out_message_no, kind: r.kind, title: r.title, body: r.body, to_openid: r.to_openid };
    let m = state.platform.official_accounts.publish(merchant.merchant.id, &appid, new).await?;
    let answer = json!({
        "message_id": m.id.to_string(), "out_message_no": m.out_message_no, "kind": m.kind.as_str(), "personal": m.personal,
        "create_time": wxpay::time::format_rfc3339(m.created_at_ms / 1000),
    });
    signed_json(&state, &merchant, &headers, &answer).await
}
