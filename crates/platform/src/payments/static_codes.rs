//! A merchant's static QR codes (printed at the till): the person scans one and enters the amount; each
//! payment is an order of its own.

use super::{NewOrder, Order, Payments, TradeType, store, valid_notify_url};
use crate::merchants::MerchantAuth;
use crate::wallet::{parse_amount, parse_currency};
use crate::{Conflict, PlatformError, Result, ids};
use std::sync::Arc;

impl Payments {
    pub async fn create_static_code(
        &self,
        mchid: &str,
        appid: &str,
        description: &str,
        notify_url: &str,
        audit: Option<::store::Effect>,
    ) -> Result<String> {
        let merchant = self.merchants.merchant(mchid).await?;
        if !merchant.appids.iter().any(|a| a == appid) {
            return Err(PlatformError::conflict(Conflict::AppidMchidNotMatch, "this appid is not bound to this mchid"));
        }
        if description.is_empty() || description.chars().count() > 127 || description.chars().any(char::is_control) {
            return Err(PlatformError::invalid("description", "1 to 127 characters, no control characters"));
        }
        if !valid_notify_url(notify_url) {
            return Err(PlatformError::invalid("notify_url", "an http:// or https:// URL of at most 256 characters, without a query"));
        }
        let now = self.core.now_ms();
        let id = ids::object_id(now);
        let (m, a, d, n) = (merchant.merchant.id, appid.to_string(), description.to_string(), notify_url.to_string());
        self.core
            .transaction(move |c| {
                store::insert_static_code(c, id, m, &a, &d, &n, now)?;
                crate::audit::with_audit(c, true, &audit)
            })
            .await?;
        Ok(self.static_code_url(id))
    }

    /// A merchant's static codes, newest first, `limit` at most (1 to 200).
    pub async fn static_codes(&self, merchant: crate::MerchantId, limit: i64) -> Result<Vec<StaticCode>> {
        let limit = limit.clamp(1, 200);
        let rows = self.core.read(move |c| store::static_codes_of(c, merchant, limit)).await?;
        Ok(rows.into_iter().map(|code| StaticCode { code_url: self.static_code_url(code.id), ..code }).collect())
    }

    /// One of a merchant's static codes.
    pub async fn merchant_static_code(&self, merchant: crate::MerchantId, id: i64) -> Result<StaticCode> {
        let found = self.core.read(move |c| store::static_code(c, id)).await?;
        match found {
            Some((m, appid, description, notify_url)) if m == merchant => {
                Ok(StaticCode { id, code_url: self.static_code_url(id), appid, description, notify_url, created_at_ms: 0 })
            }
            _ => Err(PlatformError::NotFound("static code")),
        }
    }

    /// What a static code says (merchant, description), before the person enters the amount.
    pub async fn static_code(&self, code_url: &str) -> Result<(Arc<MerchantAuth>, String)> {
        let id = self.static_code_of(code_url)?;
        let (merchant, _, description, _) = self.core.read(move |c| store::static_code(c, id)).await?.ok_or_else(withdrawn)?;
        Ok((self.merchants.by_id(merchant).await?, description))
    }

    /// The order a person makes by entering an amount at a static code.
    pub(crate) async fn static_code_order(&self, code_url: &str, amount: &str, currency: Option<&str>) -> Result<Order> {
        let id = self.static_code_of(code_url)?;
        let (merchant, appid, description, notify_url) = self.core.read(move |c| store::static_code(c, id)).await?.ok_or_else(withdrawn)?;
        let merchant = self.merchants.by_id(merchant).await?;
        let currency = match currency {
            Some(code) => parse_currency(code)?,
            None => merchant.merchant.settlement_currency,
        };
        let total_minor = parse_amount("amount", amount, currency)?.minor();
        let new = NewOrder {
            trade_type: TradeType::Native,
            appid,
            description,
            out_trade_no: format!("QBS{}", ids::object_id(self.core.now_ms())),
            time_expire_s: None,
            attach: Some(format!("static:{id}")),
            notify_url,
            goods_tag: None,
            total_minor,
            currency: currency.code().to_string(),
            payer_openid: None,
            scene_info: None,
            sub_appid: None,
        };
        self.create_order(&merchant, None, new).await
    }
}

fn withdrawn() -> PlatformError {
    PlatformError::invalid("code_url", "this payment code was withdrawn")
}

/// A static code as its merchant sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StaticCode {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub code_url: String,
    pub appid: String,
    pub description: String,
    pub notify_url: String,
    pub created_at_ms: i64,
}
