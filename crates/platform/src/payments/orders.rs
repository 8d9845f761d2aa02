//! Placing and closing orders.

use super::{NewOrder, Order, Payments, TradeState, TradeType, cst_date, store, valid_notify_url, valid_out_no};
use crate::merchants::MerchantAuth;
use crate::wallet::parse_currency;
use crate::{Conflict, MerchantId, OrderId, PlatformError, Result, crypto, ids};
use money::Currency;
use serde_json::json;

/// Default payment deadline of an order without `time_expire` (WeChat's: 2 hours).
pub const ORDER_EXPIRY_DEFAULT_S: i64 = 2 * 3600;
/// The latest `time_expire` accepted.
pub const ORDER_EXPIRY_MAX_S: i64 = 30 * 86_400;
/// The largest order, in minor units (WeChat's amounts are 32-bit).
pub const ORDER_TOTAL_MAX: i64 = i32::MAX as i64;
/// Partial refunds per order at most (WeChat's rule).
pub const REFUNDS_PER_ORDER_MAX: i64 = 50;

/// The placing merchant may use this app id: its own, or (partner orders) the provider's and the
/// sub-merchant's.
fn check_apps(merchant: &MerchantAuth, sp: Option<&MerchantAuth>, new: &NewOrder) -> Result<()> {
    let not_bound = |what: &str| PlatformError::conflict(Conflict::AppidMchidNotMatch, format!("this {what} is not bound to this mchid"));
    match sp {
        None if !merchant.appids.contains(&new.appid) => Err(not_bound("appid")),
        None => Ok(()),
        Some(sp) => {
            if merchant.merchant.parent_id != Some(sp.merchant.id) {
                return Err(PlatformError::Forbidden("this sub_mchid is not a sub-merchant of this service provider".into()));
            }
            if !sp.appids.contains(&new.appid) {
                return Err(not_bound("sp_appid"));
            }
            if new.sub_appid.as_ref().is_some_and(|a| !merchant.appids.contains(a)) {
                return Err(not_bound("sub_appid"));
            }
            Ok(())
        }
    }
}

fn check_fields(new: &NewOrder) -> Result<()> {
    if !valid_out_no(&new.out_trade_no, 6, 32, false) {
        return Err(PlatformError::invalid("out_trade_no", "6 to 32 characters of [0-9A-Za-z_-|*]"));
    }
    if new.description.is_empty() || new.description.chars().count() > 127 || new.description.chars().any(char::is_control) {
        return Err(PlatformError::invalid("description", "1 to 127 characters, no control characters"));
    }
    if new.attach.as_ref().is_some_and(|a| a.chars().count() > 128) {
        return Err(PlatformError::invalid("attach", "at most 128 characters"));
    }
    if new.goods_tag.as_ref().is_some_and(|g| g.chars().count() > 32) {
        return Err(PlatformError::invalid("goods_tag", "at most 32 characters"));
    }
    // Payment-code orders have none: their result is in the answer and the merchant's query.
    let without_notifications = new.trade_type == TradeType::Micropay && new.notify_url.is_empty();
    if !without_notifications && !valid_notify_url(&new.notify_url) {
        return Err(PlatformError::invalid("notify_url", "an http:// or https:// URL of at most 256 characters, without a query"));
    }
    if new.total_minor <= 0 || new.total_minor > ORDER_TOTAL_MAX {
        return Err(PlatformError::invalid("amount.total", format!("1 to {ORDER_TOTAL_MAX} minor units")));
    }
    if new.trade_type == TradeType::Jsapi && new.payer_openid.as_deref().is_none_or(str::is_empty) {
        return Err(PlatformError::invalid("payer.openid", "a JSAPI order names its payer"));
    }
    Ok(())
}

fn deadline(new: &NewOrder, now: i64) -> Result<i64> {
    match new.time_expire_s {
        None => Ok(now + ORDER_EXPIRY_DEFAULT_S * 1000),
        Some(s) if s * 1000 < now + 60_000 => Err(PlatformError::invalid("time_expire", "at least one minute from now")),
        Some(s) if s * 1000 > now + ORDER_EXPIRY_MAX_S * 1000 => Err(PlatformError::invalid("time_expire", "at most 30 days from now")),
        Some(s) => Ok(s * 1000),
    }
}

impl Payments {
    /// Place an order. A repeat of an `out_trade_no` with the same content returns the same order; with
    /// different content it is `OUT_TRADE_NO_USED`. `sp`: the service provider placing it for its
    /// sub-merchant `merchant` (partner endpoints); the `appid` is then the provider's and `sub_appid`,
    /// if any, the sub-merchant's.
    pub async fn create_order(&self, merchant: &MerchantAuth, sp: Option<&MerchantAuth>, new: NewOrder) -> Result<Order> {
        let currency = self.check_order(merchant, sp, &new)?;
        let frozen = crate::risk::FreezeKind::Merchant;
        crate::risk::freezes::refuse_if_frozen(&self.core, frozen, merchant.merchant.mchid.clone(), crate::risk::Flow::Out).await?;
        let now = self.core.now_ms();
        let placed = placed_order(merchant, sp, new, currency, now)?;
        if self.core.commit_rows(vec![store::insert_order(&placed)], Vec::new()).await? {
            return Ok(placed);
        }
        let order = self.order_by_out_trade_no(placed.merchant_id, &placed.out_trade_no).await?;
        if order.request_hash != placed.request_hash {
            return Err(PlatformError::conflict(Conflict::OutTradeNoUsed, "this out_trade_no was used for a different order"));
        }
        Ok(order)
    }

    /// Every rule a new order must meet; its currency.
    fn check_order(&self, merchant: &MerchantAuth, sp: Option<&MerchantAuth>, new: &NewOrder) -> Result<Currency> {
        check_apps(merchant, sp, new)?;
        check_fields(new)?;
        let currency = parse_currency(&new.currency).map_err(|_| PlatformError::invalid("amount.currency", "an ISO 4217 code"))?;
        if !self.core.config.currencies().contains(&currency) {
            return Err(PlatformError::invalid("amount.currency", format!("{currency} is not enabled on this platform")));
        }
        // A merchant is priced in its settlement currency: a payer in another currency pays through the
        // FX positions, and the merchant is always settled in its own.
        if currency != merchant.merchant.settlement_currency {
            return Err(PlatformError::invalid(
                "amount.currency",
                format!("this merchant is priced and settled in {}", merchant.merchant.settlement_currency),
            ));
        }
        Ok(currency)
    }

    /// Close an unpaid order (idempotent: closing a closed order succeeds). A paid order is `ORDER_PAID`.
    pub async fn close_order(&self, merchant: MerchantId, out_trade_no: &str) -> Result<()> {
        let (key, now) = (out_trade_no.to_string(), self.core.now_ms());
        self.core.write(move |c| store::close(c, merchant, &key, now)).await?;
        match self.order_by_out_trade_no(merchant, out_trade_no).await?.trade_state {
            TradeState::Closed | TradeState::Revoked => Ok(()),
            _ => Err(PlatformError::conflict(Conflict::OrderPaid, "this order is paid: refund it instead")),
        }
    }

    /// Orders past their deadline close (run by the deadline task).
    pub(crate) async fn close_due_orders(&self) -> Result<usize> {
        let now = self.core.now_ms();
        Ok(usize::try_from(self.core.write(move |c| store::close_due(c, now)).await?).unwrap_or(usize::MAX))
    }
}

/// What makes two requests "the same order": every field the merchant chose, not its byte order.
fn request_hash(new: &NewOrder, currency: Currency) -> Vec<u8> {
    let fields = json!([
        new.trade_type.as_str(),
        new.appid,
        new.description,
        new.total_minor,
        currency.code(),
        new.notify_url,
        new.attach,
        new.goods_tag,
        new.payer_openid,
        new.time_expire_s,
        new.sub_appid
    ]);
    crypto::sha256(fields.to_string().as_bytes())
}

/// The order as it will be once inserted, so a fresh one needs no read back.
fn placed_order(merchant: &MerchantAuth, sp: Option<&MerchantAuth>, new: NewOrder, currency: Currency, now: i64) -> Result<Order> {
    let expires_at = deadline(&new, now)?;
    let request_hash = request_hash(&new, currency);
    let id = ids::object_id(now);
    let transaction_id = format!("42{}{:018}", cst_date(now), id % 1_000_000_000_000_000_000);
    debug_assert_eq!(transaction_id.len(), 28);
    Ok(Order {
        id: OrderId::new(id),
        transaction_id,
        merchant_id: merchant.merchant.id,
        mchid: merchant.merchant.mchid.clone(),
        appid: new.appid,
        out_trade_no: new.out_trade_no,
        trade_type: new.trade_type,
        description: new.description,
        attach: new.attach,
        notify_url: new.notify_url,
        goods_tag: new.goods_tag,
        currency,
        total_minor: new.total_minor,
        payer_openid: new.payer_openid,
        scene_info: new.scene_info,
        trade_state: TradeState::NotPay,
        payer_id: None,
        payer_openid_paid: None,
        bank_type: None,
        fee_minor: 0,
        refunded_minor: 0,
        created_at_ms: now,
        expires_at_ms: expires_at,
        success_at_ms: None,
        request_hash,
        sp_merchant_id: sp.map(|s| s.merchant.id),
        sp_mchid: sp.map(|s| s.merchant.mchid.clone()),
        sub_appid: new.sub_appid,
        payer_sub_openid_paid: None,
        funding: None,
        card_reference: None,
        exchange: None,
    })
}
