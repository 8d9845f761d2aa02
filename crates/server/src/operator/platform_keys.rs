//! `/admin/api/platform-keys`: Qianbao's signing keys, their rotation and retirement.

use super::{Answer, Operator, St, audit_row};
use axum::Json;
use axum::extract::Path;
use platform::merchants::PlatformKeys;
use serde_json::{Value, json};

/// What a merchant configures its SDK with: every valid platform certificate, and the public key with
/// its id (public-key mode).
fn keys_view(keys: &PlatformKeys) -> Value {
    let certificates: Vec<Value> = keys
        .certificates
        .iter()
        .map(|k| {
            json!({
                "serial_no": k.serial,
                "effective_time": wxpay::time::format_rfc3339(k.effective_at_ms / 1000),
                "expire_time": wxpay::time::format_rfc3339(k.expires_at_ms / 1000),
                "certificate_pem": wxpay::pem_encode("CERTIFICATE", k.certificate.as_deref().unwrap_or_default()),
            })
        })
        .collect();
    json!({
        "certificates": certificates,
        "signing_serial_no": keys.signer(false).serial,
        "public_key": {"public_key_id": keys.public_key.serial, "public_key_pem": keys.public_key.key.public_key_pem()},
    })
}

pub(super) async fn platform_keys(_: Operator, state: St) -> Answer<Json<Value>> {
    let keys = state.platform.merchants.platform_keys().await?;
    Ok(Json(keys_view(&keys)))
}

pub(super) async fn rotate(op: Operator, state: St) -> Answer<Json<Value>> {
    let (audit, actor, reason) = (state.platform.audit.clone(), op.user.actor(), op.reason.clone());
    let row: platform::merchants::AuditOf = Box::new(move |serial| {
        audit.effect(&actor, "platform_keys.rotate", "platform_keys", &format!("new certificate {serial}"), &reason)
    });
    let keys = state.platform.merchants.rotate_platform_certificate(row).await?;
    Ok(Json(keys_view(&keys)))
}

pub(super) async fn retire(op: Operator, state: St, Path(serial): Path<String>) -> Answer<Json<Value>> {
    let audit = audit_row(&state, &op, "platform_keys.retire", "platform_keys", &serial);
    let keys = state.platform.merchants.retire_platform_key(&serial, audit).await?;
    Ok(Json(keys_view(&keys)))
}
