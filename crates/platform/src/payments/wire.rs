//! Orders and refunds as WeChat Pay's query APIs and notifications write them.

use super::{Order, Refund, RefundChannel};
use serde_json::json;

impl Order {
    /// `amount` of a paid order: what the payer paid, in the payer's currency, and at which rate
    /// (WeChat's `exchange_rate`: `rate` × 10^8, inside `amount`).
    fn amount_json(&self) -> serde_json::Value {
        match &self.exchange {
            None => {
                json!({"total": self.total_minor, "payer_total": self.total_minor, "currency": self.currency.code(), "payer_currency": self.currency.code()})
            }
            Some(e) => json!({
                "total": self.total_minor, "currency": self.currency.code(),
                "payer_total": e.total_minor, "payer_currency": e.currency.code(),
                "exchange_rate": {"type": "USERPAYMENT_RATE", "rate": e.rate.per_1e8()},
            }),
        }
    }

    /// The order as WeChat Pay's query API and TRANSACTION.SUCCESS notification write it.
    pub fn transaction_json(&self) -> serde_json::Value {
        let mut out = json!({
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": self.trade_type.as_str(),
            "trade_state": self.trade_state.as_str(),
            "trade_state_desc": self.trade_state.description(),
            "amount": {"total": self.total_minor, "currency": self.currency.code()},
        });
        if let Some(attach) = &self.attach {
            out["attach"] = json!(attach);
        }
        if self.paid() {
            out["transaction_id"] = json!(self.transaction_id);
            out["bank_type"] = json!(self.bank_type.as_deref().unwrap_or("OTHERS"));
            out["success_time"] = json!(wxpay::time::format_rfc3339(self.success_at_ms.unwrap_or(0) / 1000));
            out["payer"] = json!({"openid": self.payer_openid_paid});
            out["amount"] = self.amount_json();
            out["promotion_detail"] = json!([]);
        }
        if let Some(sp_mchid) = &self.sp_mchid {
            // The partner shape: sp_appid/sp_mchid/sub_appid/sub_mchid, and the payer per app.
            let obj = out.as_object_mut().expect("an object");
            obj.remove("appid");
            obj.remove("mchid");
            obj.insert("sp_appid".into(), json!(self.appid));
            obj.insert("sp_mchid".into(), json!(sp_mchid));
            obj.insert("sub_mchid".into(), json!(self.mchid));
            if let Some(sub_appid) = &self.sub_appid {
                obj.insert("sub_appid".into(), json!(sub_appid));
            }
            if self.paid() {
                obj.insert("payer".into(), json!({"sp_openid": self.payer_openid_paid, "sub_openid": self.payer_sub_openid_paid}));
            }
        }
        if let Some(scene) = self.scene_info.as_deref().and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            && let Some(device) = scene.get("device_id")
        {
            out["scene_info"] = json!({"device_id": device});
        }
        out
    }
}

impl Refund {
    /// `amount` of a refund: the payer's share in the payer's currency for an order paid in another.
    fn amount_json(&self) -> serde_json::Value {
        let (total, refund) = (self.order.total_minor, self.amount_minor);
        let mut amount = json!({
            "total": total, "refund": refund, "payer_total": total, "payer_refund": refund,
            "settlement_total": total, "settlement_refund": refund, "discount_refund": 0,
            "currency": self.order.currency.code(), "refund_fee": 0, "from": [],
        });
        if let (Some(e), Some(share)) = (&self.order.exchange, self.payer_amount_minor) {
            amount["payer_total"] = json!(e.total_minor);
            amount["payer_refund"] = json!(share);
            amount["payer_currency"] = json!(e.currency.code());
            amount["exchange_rate"] = json!({"type": "USERPAYMENT_RATE", "rate": e.rate.per_1e8()});
        }
        amount
    }

    fn received_account(&self) -> &'static str {
        match self.channel {
            RefundChannel::Original => "原支付卡",
            RefundChannel::Balance => "支付用户零钱",
        }
    }

    /// As WeChat Pay's refund API and REFUND.* notifications write it.
    pub fn refund_json(&self) -> serde_json::Value {
        let mut out = json!({
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "transaction_id": self.order.transaction_id,
            "out_trade_no": self.order.out_trade_no,
            "channel": self.channel.as_str(),
            "user_received_account": self.received_account(),
            "create_time": wxpay::time::format_rfc3339(self.created_at_ms / 1000),
            "status": self.status.as_str(),
            "funds_account": "AVAILABLE",
            "amount": self.amount_json(),
            "promotion_detail": [],
        });
        if let Some(at) = self.success_at_ms {
            out["success_time"] = json!(wxpay::time::format_rfc3339(at / 1000));
        }
        out
    }

    /// The REFUND.* notification's resource.
    pub(crate) fn notification_json(&self) -> serde_json::Value {
        let (total, refund) = (self.order.total_minor, self.amount_minor);
        let mut out = json!({
            "mchid": self.order.mchid,
            "transaction_id": self.order.transaction_id,
            "out_trade_no": self.order.out_trade_no,
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "refund_status": self.status.as_str(),
            "user_received_account": self.received_account(),
            "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund},
        });
        if let (Some(e), Some(share)) = (&self.order.exchange, self.payer_amount_minor) {
            out["amount"] = json!({
                "total": total, "refund": refund, "payer_total": e.total_minor, "payer_refund": share,
                "currency": self.order.currency.code(), "payer_currency": e.currency.code(),
                "exchange_rate": {"type": "USERPAYMENT_RATE", "rate": e.rate.per_1e8()},
            });
        }
        if let Some(at) = self.success_at_ms {
            out["success_time"] = json!(wxpay::time::format_rfc3339(at / 1000));
        }
        out
    }
}
