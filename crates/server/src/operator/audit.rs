//! `/admin/api/audit`: the audit log, newest first.

use super::{Answer, Operator, Params, St};
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    limit: Option<i64>,
    before: Option<String>,
}

pub(super) async fn audit_log(_: Operator, state: St, Params(q): Params<AuditParams>) -> Answer<Json<Vec<platform::audit::AuditEntry>>> {
    let before = q.before.as_deref().map(|b| platform::ids::parse("before", b)).transpose()?;
    Ok(Json(state.platform.audit.page(q.limit.unwrap_or(100), before).await?))
}
