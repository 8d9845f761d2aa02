//! `/admin/api/networks/...`: the partner networks, each day's reconciliation against the network's
//! report, and the day's settlement (the net per currency booked once).

use super::{Answer, Operator, St, audit_asked};
use axum::Json;
use axum::extract::Path;
use platform::networks::Reconciliation;
use serde_json::{Value, json};

pub(super) async fn networks(_: Operator, state: St) -> Answer<Json<Value>> {
    let list: Vec<Value> = state
        .platform
        .networks
        .connectors()
        .iter()
        .map(|c| {
            let n = c.config();
            json!({"id": n.id, "name": n.name, "currency": n.currency.code(), "guids": n.guids, "url": n.url, "bank_type": n.bank_type()})
        })
        .collect();
    Ok(Json(json!({"data": list})))
}

pub(super) async fn reconciliation(_: Operator, state: St, Path((network, day)): Path<(String, String)>) -> Answer<Json<Value>> {
    Ok(Json(report_json(&state.platform.networks.reconcile(&network, &day).await?)))
}

pub(super) async fn settle(op: Operator, state: St, Path((network, day)): Path<(String, String)>) -> Answer<Json<Value>> {
    audit_asked(&state, &op, "networks.settle_day", &format!("network:{network}"), &day).await?;
    let report = state.platform.networks.settle_day(&network, &day).await?;
    Ok(Json(report_json(&report)))
}

fn report_json(r: &Reconciliation) -> Value {
    use platform::networks::Verdict;
    let amount = |m: Option<money::Money>| m.map(|m| json!({"currency": m.currency().code(), "amount": m.to_decimal_string()}));
    json!({
        "network": r.network,
        "day": r.day,
        "currencies": r.currencies.iter().map(|c| json!({
            "currency": c.currency.code(),
            "out": platform::wallet::decimal(c.out_minor, c.currency),
            "in": platform::wallet::decimal(c.in_minor, c.currency),
            "net_owed_to_network": platform::wallet::decimal(c.net_minor, c.currency),
            "payments": c.payments,
        })).collect::<Vec<_>>(),
        "matched": r.count(Verdict::Matched),
        "missing_at_network": r.count(Verdict::MissingAtNetwork),
        "missing_at_qianbao": r.count(Verdict::MissingAtQianbao),
        "amount_differs": r.count(Verdict::AmountDiffers),
        "lines": r.lines.iter().filter(|l| l.verdict != Verdict::Matched).map(|l| json!({
            "request_id": l.request_id, "direction": l.direction, "verdict": l.verdict.as_str(),
            "qianbao": amount(l.qianbao), "network": amount(l.network),
        })).collect::<Vec<_>>(),
    })
}
