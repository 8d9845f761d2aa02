//! Merchant orders and refunds, as the WeChat Pay v3-compatible merchant API and the wallet see them.
//!
//! An order is a row until someone pays it. Paying is one committer request: a *guard* moves the row
//! from NOTPAY to SUCCESS, the ledger chain (limits, payer wallet → merchant receivable) moves the money,
//! and an *effect* queues the TRANSACTION.SUCCESS notification, all in one database transaction. So a
//! close racing a payment, two people paying one code, or a crash at any point can never leave money
//! moved for a closed order or an order marked paid without the money. Refunds work the same way: the
//! guard adds to the order's refunded total only while it stays within what was paid.

use crate::rail::RailOutcome;
use crate::wallets::parse_currency;
use crate::{Platform, PlatformError, Result, crypto, ids};
use ledger::{NewTransfer, TransferFlags};
use money::Currency;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use store::{Conditions, Effect, GuardFailed, Value, params};

/// Default payment deadline of an order without `time_expire` (WeChat's: 2 hours).
pub const ORDER_EXPIRY_DEFAULT_S: i64 = 2 * 3600;
/// The latest `time_expire` accepted.
pub const ORDER_EXPIRY_MAX_S: i64 = 30 * 86_400;
/// The largest order, in minor units (WeChat's amounts are 32-bit).
pub const ORDER_TOTAL_MAX: i64 = i32::MAX as i64;
/// The MAC part of an order token: 8 bytes (16 hex characters).
const ORDER_TOKEN_MAC_BYTES: usize = 8;
const ORDER_TOKEN_CHARS: usize = 16 + 2 * ORDER_TOKEN_MAC_BYTES;
/// Partial refunds per order at most (WeChat's rule).
pub const REFUNDS_PER_ORDER_MAX: i64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TradeType {
    #[serde(rename = "JSAPI")]
    Jsapi,
    #[serde(rename = "NATIVE")]
    Native,
    #[serde(rename = "APP")]
    App,
    #[serde(rename = "MWEB")]
    H5,
    /// The merchant scanned the person's payment code.
    #[serde(rename = "MICROPAY")]
    Micropay,
}

impl TradeType {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeType::Jsapi => "JSAPI",
            TradeType::Native => "NATIVE",
            TradeType::App => "APP",
            TradeType::H5 => "MWEB",
            TradeType::Micropay => "MICROPAY",
        }
    }

    fn parse(text: &str) -> Result<TradeType> {
        Ok(match text {
            "JSAPI" => TradeType::Jsapi,
            "NATIVE" => TradeType::Native,
            "APP" => TradeType::App,
            "MWEB" => TradeType::H5,
            "MICROPAY" => TradeType::Micropay,
            other => return Err(PlatformError::Internal(format!("unknown trade type {other}"))),
        })
    }
}

/// An order as the merchant placed it, parsed by the merchant API.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub trade_type: TradeType,
    pub appid: String,
    pub description: String,
    pub out_trade_no: String,
    /// Unix seconds.
    pub time_expire_s: Option<i64>,
    pub attach: Option<String>,
    pub notify_url: String,
    pub goods_tag: Option<String>,
    pub total: i64,
    pub currency: String,
    pub payer_openid: Option<String>,
    /// The `scene_info` object as JSON text (echoed in queries).
    pub scene_info: Option<String>,
    /// Partner orders: the sub-merchant's own app id (the provider's is `appid`).
    pub sub_appid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub transaction_id: String,
    pub merchant_id: i64,
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    pub trade_type: TradeType,
    pub description: String,
    pub attach: Option<String>,
    pub notify_url: String,
    pub currency: Currency,
    pub total: i64,
    pub payer_openid: Option<String>,
    pub scene_info: Option<String>,
    /// NOTPAY, SUCCESS, REFUND, CLOSED
    pub trade_state: String,
    pub payer_id: Option<i64>,
    pub payer_openid_paid: Option<String>,
    pub bank_type: Option<String>,
    pub fee: i64,
    pub refunded: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub success_at_ms: Option<i64>,
    request_hash: Vec<u8>,
    /// Placed by a service provider for its sub-merchant (`merchant_id`): the provider.
    pub sp_merchant_id: Option<i64>,
    pub sp_mchid: Option<String>,
    pub sub_appid: Option<String>,
    pub payer_sub_openid_paid: Option<String>,
    /// balance or card, once paid.
    pub funding: Option<String>,
    card_reference: Option<String>,
}

impl Order {
    /// Who hears about the order (notifications, keys): the service provider if there is one.
    pub fn notified_merchant(&self) -> i64 {
        self.sp_merchant_id.unwrap_or(self.merchant_id)
    }

    pub fn paid(&self) -> bool {
        matches!(self.trade_state.as_str(), "SUCCESS" | "REFUND")
    }

    /// The order as WeChat Pay's query API and TRANSACTION.SUCCESS notification write it.
    pub fn transaction_json(&self) -> serde_json::Value {
        let desc = match self.trade_state.as_str() {
            "SUCCESS" => "支付成功",
            "REFUND" => "转入退款",
            "NOTPAY" => "订单未支付",
            "CLOSED" => "订单已关闭",
            "USERPAYING" => "用户支付中，需要输入密码",
            "REVOKED" => "已撤销",
            _ => "",
        };
        let mut out = json!({
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": self.trade_type.as_str(),
            "trade_state": self.trade_state,
            "trade_state_desc": desc,
            "amount": {"total": self.total, "currency": self.currency.code()},
        });
        if let Some(attach) = &self.attach {
            out["attach"] = json!(attach);
        }
        if self.paid() {
            out["transaction_id"] = json!(self.transaction_id);
            out["bank_type"] = json!(self.bank_type.as_deref().unwrap_or("OTHERS"));
            out["success_time"] = json!(wxpay::time::format_rfc3339(self.success_at_ms.unwrap_or(0) / 1000));
            out["payer"] = json!({"openid": self.payer_openid_paid});
            out["amount"] = json!({"total": self.total, "payer_total": self.total, "currency": self.currency.code(), "payer_currency": self.currency.code()});
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

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: i64,
    pub refund_id: String,
    pub out_refund_no: String,
    pub order: Order,
    pub amount: i64,
    pub status: String,
    /// ORIGINAL (back to the card that paid) or BALANCE (the payer's wallet).
    pub channel: String,
    pub created_at_ms: i64,
    pub success_at_ms: Option<i64>,
    request_hash: Vec<u8>,
}

impl Refund {
    fn received_account(&self) -> &'static str {
        if self.channel == "ORIGINAL" { "原支付卡" } else { "支付用户零钱" }
    }

    /// As WeChat Pay's refund API and REFUND.* notifications write it.
    pub fn refund_json(&self) -> serde_json::Value {
        let mut out = json!({
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "transaction_id": self.order.transaction_id,
            "out_trade_no": self.order.out_trade_no,
            "channel": self.channel,
            "user_received_account": self.received_account(),
            "create_time": wxpay::time::format_rfc3339(self.created_at_ms / 1000),
            "status": self.status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": self.order.total, "refund": self.amount, "payer_total": self.order.total, "payer_refund": self.amount,
                "settlement_total": self.order.total, "settlement_refund": self.amount, "discount_refund": 0,
                "currency": self.order.currency.code(), "refund_fee": 0, "from": [],
            },
            "promotion_detail": [],
        });
        if let Some(at) = self.success_at_ms {
            out["success_time"] = json!(wxpay::time::format_rfc3339(at / 1000));
        }
        out
    }

    /// The REFUND.* notification's resource.
    fn notification_json(&self) -> serde_json::Value {
        let mut out = json!({
            "mchid": self.order.mchid,
            "transaction_id": self.order.transaction_id,
            "out_trade_no": self.order.out_trade_no,
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "refund_status": self.status,
            "user_received_account": self.received_account(),
            "amount": {"total": self.order.total, "refund": self.amount, "payer_total": self.order.total, "payer_refund": self.amount},
        });
        if let Some(at) = self.success_at_ms {
            out["success_time"] = json!(wxpay::time::format_rfc3339(at / 1000));
        }
        out
    }
}

/// What a merchant asks to refund.
#[derive(Debug, Clone)]
pub struct NewRefund {
    /// The service provider asking (partner refunds); it must be the one that placed the order.
    pub sp_merchant_id: Option<i64>,
    pub transaction_id: Option<String>,
    pub out_trade_no: Option<String>,
    pub out_refund_no: String,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
    pub refund: i64,
    pub total: i64,
    pub currency: String,
}

/// `[0-9A-Za-z_-|*]` (and `@` for refunds), `min` to `max` characters.
pub fn valid_out_no(text: &str, min: usize, max: usize, at_allowed: bool) -> bool {
    (min..=max).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*') || (at_allowed && b == b'@'))
}

/// http(s)://host[:port]/path, at most 256 characters, no query (WeChat's rule for notify_url).
pub fn valid_notify_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split('/').next().unwrap_or("");
            url.len() <= 256
                && !host.is_empty()
                && !url.contains(['?', '#', ' '])
                && url.chars().all(|c| c.is_ascii_graphic())
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        }
        None => false,
    }
}

const ORDER_COLUMNS: &str = "o.id, o.transaction_id, o.merchant_id, m.mchid, o.appid, o.out_trade_no, o.trade_type, o.description, o.attach, o.notify_url, o.currency, o.total, o.payer_openid, o.scene_info, o.trade_state, o.payer_id, o.payer_openid_paid, o.bank_type, o.fee, o.refunded, o.created_at, o.expires_at, o.success_at, o.request_hash, o.sp_merchant_id, sp.mchid, o.sub_appid, o.payer_sub_openid, o.funding, o.card_reference";
/// The joins every order query needs for `ORDER_COLUMNS`.
const ORDER_FROM: &str = "orders o JOIN merchants m ON m.id = o.merchant_id LEFT JOIN merchants sp ON sp.id = o.sp_merchant_id";

fn order_from(r: &store::Row) -> Result<Order> {
    Ok(Order {
        id: r.int(0)?,
        transaction_id: r.text(1)?,
        merchant_id: r.int(2)?,
        mchid: r.text(3)?,
        appid: r.text(4)?,
        out_trade_no: r.text(5)?,
        trade_type: TradeType::parse(&r.text(6)?)?,
        description: r.text(7)?,
        attach: r.opt_text(8)?,
        notify_url: r.text(9)?,
        currency: Currency::from_numeric(r.int(10)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?,
        total: r.int(11)?,
        payer_openid: r.opt_text(12)?,
        scene_info: r.opt_text(13)?,
        trade_state: r.text(14)?,
        payer_id: r.opt_int(15)?,
        payer_openid_paid: r.opt_text(16)?,
        bank_type: r.opt_text(17)?,
        fee: r.int(18)?,
        refunded: r.int(19)?,
        created_at_ms: r.int(20)?,
        expires_at_ms: r.int(21)?,
        success_at_ms: r.opt_int(22)?,
        request_hash: r.bytes(23)?,
        sp_merchant_id: r.opt_int(24)?,
        sp_mchid: r.opt_text(25)?,
        sub_appid: r.opt_text(26)?,
        payer_sub_openid_paid: r.opt_text(27)?,
        funding: r.opt_text(28)?,
        card_reference: r.opt_text(29)?,
    })
}

/// yyyymmdd (China Standard Time) of a time, for ids that carry their date as WeChat's do.
fn cst_date(ms: i64) -> String {
    let t = wxpay::time::civil(ms / 1000 + wxpay::time::CST_OFFSET_S);
    format!("{:04}{:02}{:02}", t.year, t.month, t.day)
}

/// The merchant's fee on a payment: basis points, rounded half up to the minor unit.
pub fn fee_of(total: i64, fee_bps: i64) -> i64 {
    assert!(total >= 0 && (0..=10_000).contains(&fee_bps));
    let fee = (i128::from(total) * i128::from(fee_bps) + 5_000) / 10_000;
    i64::try_from(fee).expect("a fee is at most the total")
}

/// A deterministic event id (so re-running an effect queues the same event once): UUID-shaped.
fn event_id(kind: &str, object: i64) -> String {
    let h = crypto::sha256(format!("{kind}\n{object}").as_bytes());
    let x = crypto::hex(&h[..16]);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..32])
}

/// An event for the outbox.
struct Event {
    id: String,
    kind: &'static str,
    summary: &'static str,
    original_type: &'static str,
    resource: String,
}

fn notification_effect(event: Event, merchant_id: i64, notify_url: &str, now: i64) -> Effect {
    Effect {
        sql: "INSERT INTO notifications (id, merchant_id, notify_url, event_type, summary, original_type, resource, state, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8) ON CONFLICT (id) DO NOTHING",
        params: vec![
            event.id.into(),
            merchant_id.into(),
            notify_url.into(),
            event.kind.into(),
            event.summary.into(),
            event.original_type.into(),
            event.resource.into(),
            now.into(),
        ],
    }
}

/// What the wallet scanned or was handed: a Native `code_url`, or a `prepay_id` (JSAPI and App orders
/// come with the client-side signature the merchant made, which the wallet checks; H5 orders without).
#[derive(Debug, Clone, Copy)]
pub enum OrderReference<'a> {
    CodeUrl(&'a str),
    /// A merchant's static QR code and the amount the person entered (major units of `currency`).
    StaticCode {
        code_url: &'a str,
        amount: &'a str,
        currency: &'a str,
    },
    /// A payment-code order waiting for the person's PIN (from `orders_awaiting_pin`).
    AwaitingPin(i64),
    Prepay {
        prepay_id: &'a str,
        signature: Option<ClientSignature<'a>>,
    },
}

/// `wx.requestPayment` / the App SDK's parameters: the merchant signs `appId\ntimeStamp\nnonceStr\n
/// package\n` (JSAPI: package `prepay_id=...`) or `appId\ntimeStamp\nnonceStr\nprepayid\n` (App).
#[derive(Debug, Clone, Copy)]
pub struct ClientSignature<'a> {
    pub app_id: &'a str,
    pub time_stamp: &'a str,
    pub nonce_str: &'a str,
    pub package: &'a str,
    pub pay_sign: &'a str,
}

/// How long a payment code shown by a wallet stays valid (WeChat's codes refresh every minute).
pub const PAYMENT_CODE_TTL_MS: i64 = 60_000;
/// How long a payment-code order waits for the person's PIN before it closes.
pub const USERPAYING_TTL_MS: i64 = 5 * 60_000;

/// A one-time payment code for a merchant to scan.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentCode {
    /// 18 digits; 13… for mainland wallets, 15… for Hong Kong ones (WeChat's prefixes 10–15).
    pub code: String,
    pub expires_at_ms: i64,
}

/// `^1[0-5][0-9]{16}$`, what merchants' POS software accepts.
pub fn valid_payment_code(code: &str) -> bool {
    code.len() == 18 && code.bytes().all(|b| b.is_ascii_digit()) && code.starts_with('1') && (b'0'..=b'5').contains(&code.as_bytes()[1])
}

/// How a person pays an order.
#[derive(Debug, Clone, Copy)]
pub struct PayOrder<'a> {
    pub pin: Option<&'a str>,
    /// Pay straight from this linked card instead of the balance.
    pub card: Option<i64>,
}

impl Platform {
    /// Place an order. A repeat of an `out_trade_no` with the same content returns the same order; with
    /// different content it is `OUT_TRADE_NO_USED`.
    /// `sp`: the service provider placing it for its sub-merchant `merchant` (partner endpoints); the
    /// `appid` is then the provider's and `sub_appid`, if any, the sub-merchant's.
    pub async fn create_order(&self, merchant: &crate::MerchantAuth, sp: Option<&crate::MerchantAuth>, new: NewOrder) -> Result<Order> {
        match sp {
            None if !merchant.appids.contains(&new.appid) => {
                return Err(PlatformError::conflict("APPID_MCHID_NOT_MATCH", "this appid is not bound to this mchid"));
            }
            Some(sp) => {
                if merchant.merchant.parent_id != Some(sp.merchant.id) {
                    return Err(PlatformError::Forbidden("this sub_mchid is not a sub-merchant of this service provider".into()));
                }
                if !sp.appids.contains(&new.appid) {
                    return Err(PlatformError::conflict("APPID_MCHID_NOT_MATCH", "this sp_appid is not bound to this sp_mchid"));
                }
                if new.sub_appid.as_ref().is_some_and(|a| !merchant.appids.contains(a)) {
                    return Err(PlatformError::conflict("APPID_MCHID_NOT_MATCH", "this sub_appid is not bound to this sub_mchid"));
                }
            }
            None => {}
        }
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
        if new.total <= 0 || new.total > ORDER_TOTAL_MAX {
            return Err(PlatformError::invalid("amount.total", format!("1 to {ORDER_TOTAL_MAX} minor units")));
        }
        let currency = parse_currency(&new.currency).map_err(|_| PlatformError::invalid("amount.currency", "an ISO 4217 code"))?;
        if !self.config.currencies().contains(&currency) {
            return Err(PlatformError::invalid("amount.currency", format!("{currency} is not enabled on this platform")));
        }
        if new.trade_type == TradeType::Jsapi && new.payer_openid.as_deref().is_none_or(str::is_empty) {
            return Err(PlatformError::invalid("payer.openid", "a JSAPI order names its payer"));
        }
        let now = self.now_ms();
        let expires_at = match new.time_expire_s {
            None => now + ORDER_EXPIRY_DEFAULT_S * 1000,
            Some(s) if s * 1000 < now + 60_000 => {
                return Err(PlatformError::invalid("time_expire", "at least one minute from now"));
            }
            Some(s) if s * 1000 > now + ORDER_EXPIRY_MAX_S * 1000 => {
                return Err(PlatformError::invalid("time_expire", "at most 30 days from now"));
            }
            Some(s) => s * 1000,
        };
        // What makes two requests "the same order": every field the merchant chose, not its byte order.
        let request_hash = crypto::sha256(
            serde_json::to_string(&json!([
                new.trade_type.as_str(),
                new.appid,
                new.description,
                new.total,
                currency.code(),
                new.notify_url,
                new.attach,
                new.goods_tag,
                new.payer_openid,
                new.time_expire_s,
                new.sub_appid
            ]))
            .expect("JSON of strings and numbers")
            .as_bytes(),
        );
        let id = ids::object_id(now);
        let transaction_id = format!("42{}{:018}", cst_date(now), id % 1_000_000_000_000_000_000);
        debug_assert_eq!(transaction_id.len(), 28);
        let merchant_id = merchant.merchant.id;
        // The order as it will be, so a fresh one needs no read back.
        let placed = Order {
            id,
            transaction_id: transaction_id.clone(),
            merchant_id,
            mchid: merchant.merchant.mchid.clone(),
            appid: new.appid.clone(),
            out_trade_no: new.out_trade_no.clone(),
            trade_type: new.trade_type,
            description: new.description.clone(),
            attach: new.attach.clone(),
            notify_url: new.notify_url.clone(),
            currency,
            total: new.total,
            payer_openid: new.payer_openid.clone(),
            scene_info: new.scene_info.clone(),
            trade_state: "NOTPAY".into(),
            payer_id: None,
            payer_openid_paid: None,
            bank_type: None,
            fee: 0,
            refunded: 0,
            created_at_ms: now,
            expires_at_ms: expires_at,
            success_at_ms: None,
            request_hash: request_hash.clone(),
            sp_merchant_id: sp.map(|s| s.merchant.id),
            sp_mchid: sp.map(|s| s.merchant.mchid.clone()),
            sub_appid: new.sub_appid.clone(),
            payer_sub_openid_paid: None,
            funding: None,
            card_reference: None,
        };
        let values: Vec<Value> = vec![
            id.into(),
            transaction_id.into(),
            merchant_id.into(),
            new.appid.clone().into(),
            new.out_trade_no.clone().into(),
            new.trade_type.as_str().into(),
            new.description.into(),
            new.attach.into(),
            new.notify_url.into(),
            new.goods_tag.into(),
            currency.numeric().into(),
            new.total.into(),
            new.payer_openid.into(),
            new.scene_info.into(),
            request_hash.clone().into(),
            now.into(),
            expires_at.into(),
            sp.map(|s| s.merchant.id).into(),
            new.sub_appid.into(),
        ];
        let insert = Effect {
            sql: "INSERT INTO orders (id, transaction_id, merchant_id, appid, out_trade_no, trade_type, description, attach, notify_url, goods_tag, currency, total, payer_openid, scene_info, request_hash, trade_state, created_at, expires_at, sp_merchant_id, sub_appid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'NOTPAY', $16, $17, $18, $19) ON CONFLICT (merchant_id, out_trade_no) DO NOTHING",
            params: values,
        };
        if self.commit_rows(vec![insert], Vec::new()).await?.is_ok() {
            return Ok(placed);
        }
        let order = self.order_by_out_trade_no(merchant_id, &new.out_trade_no).await?;
        if order.request_hash != request_hash {
            return Err(PlatformError::conflict("OUT_TRADE_NO_USED", "this out_trade_no was used for a different order"));
        }
        Ok(order)
    }

    /// The order a payment token (in a `prepay_id`, a `code_url`, an H5 link) stands for. Tokens are
    /// `<order id, 16 hex><MAC, 16 hex>` under the server secret: nobody can make one for another order
    /// (a guess succeeds once in 2^64).
    fn order_token(&self, id: i64) -> String {
        let mac = crypto::hmac_sha256(&self.secret, format!("order-token\n{id}").as_bytes());
        format!("{:016x}{}", id, crypto::hex(&mac[..ORDER_TOKEN_MAC_BYTES]))
    }

    pub fn order_of_token(&self, token: &str) -> Result<i64> {
        let bad = || PlatformError::invalid("token", "not a Qianbao payment code");
        if token.len() != ORDER_TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let id = i64::from_str_radix(&token[..16], 16).map_err(|_| bad())?;
        if id <= 0 || !crypto::constant_time_eq(self.order_token(id).as_bytes(), token.as_bytes()) {
            return Err(bad());
        }
        Ok(id)
    }

    /// `wx` + the order's creation time (yyyymmddHHMMSS, CST) + its token (WeChat's are `wx` + time + 20).
    pub fn prepay_id(&self, order: &Order) -> String {
        let t = wxpay::time::civil(order.created_at_ms / 1000 + wxpay::time::CST_OFFSET_S);
        format!("wx{:04}{:02}{:02}{:02}{:02}{:02}{}", t.year, t.month, t.day, t.hour, t.minute, t.second, self.order_token(order.id))
    }

    pub fn order_of_prepay_id(&self, prepay_id: &str) -> Result<i64> {
        match prepay_id.strip_prefix("wx") {
            Some(rest) if rest.len() == 14 + ORDER_TOKEN_CHARS && rest.is_char_boundary(14) => self.order_of_token(&rest[14..]),
            _ => Err(PlatformError::invalid("prepay_id", "not a Qianbao prepay_id")),
        }
    }

    /// The Native payment link a merchant shows as a QR code (WeChat's shape, so merchant code that checks
    /// the prefix keeps working; the Qianbao wallet scans it).
    pub fn code_url(&self, order: &Order) -> String {
        format!("weixin://wxpay/bizpayurl?pr={}", self.order_token(order.id))
    }

    pub fn order_of_code_url(&self, code_url: &str) -> Result<i64> {
        match code_url.strip_prefix("weixin://wxpay/bizpayurl?pr=") {
            Some(token) => self.order_of_token(token),
            None => Err(PlatformError::invalid("code_url", "not a Qianbao payment code")),
        }
    }

    /// A merchant's static QR code (printed at the till): the person scans it and enters the amount.
    pub async fn create_static_code(&self, mchid: &str, appid: &str, description: &str, notify_url: &str) -> Result<String> {
        let merchant = self.merchant(mchid).await?;
        if !merchant.appids.iter().any(|a| a == appid) {
            return Err(PlatformError::conflict("APPID_MCHID_NOT_MATCH", "this appid is not bound to this mchid"));
        }
        if description.is_empty() || description.chars().count() > 127 || description.chars().any(char::is_control) {
            return Err(PlatformError::invalid("description", "1 to 127 characters, no control characters"));
        }
        if !valid_notify_url(notify_url) {
            return Err(PlatformError::invalid("notify_url", "an http:// or https:// URL of at most 256 characters, without a query"));
        }
        let now = self.now_ms();
        let id = ids::object_id(now);
        let (merchant_id, appid, description, notify_url) =
            (merchant.merchant.id, appid.to_string(), description.to_string(), notify_url.to_string());
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "INSERT INTO static_codes (id, merchant_id, appid, description, notify_url, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    params![id, merchant_id, appid.as_str(), description.as_str(), notify_url.as_str(), now],
                )
            })?)
        })
        .await?;
        Ok(format!("weixin://wxpay/bizpayurl?sr={}", self.order_token(id)))
    }

    /// What a static code says (merchant name, description), before the person enters the amount.
    pub async fn static_code(&self, code_url: &str) -> Result<(Arc<crate::MerchantAuth>, String)> {
        let id = code_url
            .strip_prefix("weixin://wxpay/bizpayurl?sr=")
            .ok_or_else(|| PlatformError::invalid("code_url", "not a Qianbao payment code"))
            .and_then(|token| self.order_of_token(token))?;
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query_one(
                        "SELECT m.mchid, s.description FROM static_codes s JOIN merchants m ON m.id = s.merchant_id WHERE s.id = $1",
                        params![id],
                    )
                })?)
            })
            .await?
            .ok_or_else(|| PlatformError::invalid("code_url", "this payment code was withdrawn"))?;
        Ok((self.merchant(&row.text(0)?).await?, row.text(1)?))
    }

    /// The order a person makes by entering an amount at a static code.
    async fn static_code_order(&self, code_url: &str, amount: &str, currency: &str) -> Result<Order> {
        let id = code_url
            .strip_prefix("weixin://wxpay/bizpayurl?sr=")
            .ok_or_else(|| PlatformError::invalid("code_url", "not a Qianbao payment code"))
            .and_then(|token| self.order_of_token(token))?;
        let currency = parse_currency(currency)?;
        let total = crate::wallets::parse_amount("amount", amount, currency)?.minor();
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query_one("SELECT m.mchid, s.appid, s.description, s.notify_url FROM static_codes s JOIN merchants m ON m.id = s.merchant_id WHERE s.id = $1", params![id]))?)
            })
            .await?
            .ok_or_else(|| PlatformError::invalid("code_url", "this payment code was withdrawn"))?;
        let merchant = self.merchant(&row.text(0)?).await?;
        let out_trade_no = format!("QBS{}", ids::object_id(self.now_ms()));
        let new = NewOrder {
            trade_type: TradeType::Native,
            appid: row.text(1)?,
            description: row.text(2)?,
            out_trade_no,
            time_expire_s: None,
            attach: Some(format!("static:{id}")),
            notify_url: row.text(3)?,
            goods_tag: None,
            total,
            currency: currency.code().to_string(),
            payer_openid: None,
            scene_info: None,
            sub_appid: None,
        };
        self.create_order(&merchant, None, new).await
    }

    /// The page a phone browser opens to pay an H5 order.
    pub fn h5_url(&self, order: &Order) -> String {
        format!("{}/pay/h5?prepay_id={}", self.config.public_url.trim_end_matches('/'), self.prepay_id(order))
    }

    async fn order_where(&self, clause: &'static str, values: Vec<Value>) -> Result<Order> {
        let row = self
            .blocking(move |db| Ok(db.with(|c| c.query_one(&format!("SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE {clause}"), &values))?))
            .await?
            .ok_or(PlatformError::NotFound("order"))?;
        order_from(&row)
    }

    pub async fn order_by_out_trade_no(&self, merchant_id: i64, out_trade_no: &str) -> Result<Order> {
        self.order_where("o.merchant_id = $1 AND o.out_trade_no = $2", vec![merchant_id.into(), out_trade_no.into()]).await
    }

    /// By Qianbao's transaction id: only paid orders have one to the merchant (as at WeChat).
    pub async fn order_by_transaction_id(&self, merchant_id: i64, transaction_id: &str) -> Result<Order> {
        let order =
            self.order_where("o.merchant_id = $1 AND o.transaction_id = $2", vec![merchant_id.into(), transaction_id.into()]).await?;
        if !order.paid() {
            return Err(PlatformError::NotFound("order"));
        }
        Ok(order)
    }

    pub async fn order(&self, id: i64) -> Result<Order> {
        self.order_where("o.id = $1", vec![id.into()]).await
    }

    /// Close an unpaid order (idempotent: closing a closed order succeeds). A paid order is `ORDER_PAID`.
    pub async fn close_order(&self, merchant_id: i64, out_trade_no: &str) -> Result<()> {
        let (key, now) = (out_trade_no.to_string(), self.now_ms());
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "UPDATE orders SET trade_state = 'CLOSED', closed_at = $3 WHERE merchant_id = $1 AND out_trade_no = $2 AND trade_state IN ('NOTPAY', 'USERPAYING')",
                    params![merchant_id, key.as_str(), now],
                )
            })?)
        })
        .await?;
        let order = self.order_by_out_trade_no(merchant_id, out_trade_no).await?;
        match order.trade_state.as_str() {
            "CLOSED" | "REVOKED" => Ok(()),
            _ => Err(PlatformError::conflict("ORDER_PAID", "this order is paid: refund it instead")),
        }
    }

    /// Orders past their deadline close (run by the deadline task).
    pub(crate) async fn close_due_orders(&self) -> Result<usize> {
        let now = self.now_ms();
        Ok(self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.execute(
                        "UPDATE orders SET trade_state = 'CLOSED', closed_at = $1 WHERE id IN (SELECT id FROM orders WHERE trade_state IN ('NOTPAY', 'USERPAYING') AND expires_at <= $1 LIMIT 1000) AND trade_state IN ('NOTPAY', 'USERPAYING')",
                        params![now],
                    )
                })?)
            })
            .await? as usize)
    }

    /// The order a wallet was shown, checked as the wallet must (a JSAPI or App order only with a valid
    /// merchant signature).
    pub async fn resolve_order(&self, reference: OrderReference<'_>) -> Result<Order> {
        let (id, signature) = match reference {
            OrderReference::CodeUrl(url) => (self.order_of_code_url(url)?, None),
            OrderReference::StaticCode { code_url, amount, currency } => {
                (self.static_code_order(code_url, amount, currency).await?.id, None)
            }
            OrderReference::AwaitingPin(id) => (id, None),
            OrderReference::Prepay { prepay_id, signature } => (self.order_of_prepay_id(prepay_id)?, signature.map(|s| (prepay_id, s))),
        };
        let order = self.order(id).await.map_err(|_| PlatformError::invalid("prepay_id", "no such order"))?;
        match (order.trade_type, signature) {
            (TradeType::Native, _) if matches!(reference, OrderReference::CodeUrl(_) | OrderReference::StaticCode { .. }) => Ok(order),
            (TradeType::H5, None) => Ok(order),
            // Only the person whose code it was can pay it (`pay_order` checks the payer).
            (TradeType::Micropay, None) if matches!(reference, OrderReference::AwaitingPin(_)) => Ok(order),
            (TradeType::Jsapi | TradeType::App, Some((prepay_id, s))) => {
                let message = match order.trade_type {
                    TradeType::Jsapi => {
                        if s.package != format!("prepay_id={prepay_id}") {
                            return Err(PlatformError::invalid("package", "prepay_id=<the prepay_id>"));
                        }
                        format!("{}\n{}\n{}\n{}\n", s.app_id, s.time_stamp, s.nonce_str, s.package)
                    }
                    _ => format!("{}\n{}\n{}\n{}\n", s.app_id, s.time_stamp, s.nonce_str, prepay_id),
                };
                if s.app_id != order.appid {
                    return Err(PlatformError::invalid("app_id", "not the order's app id"));
                }
                let signature = wxpay::base64::decode(s.pay_sign).ok_or_else(|| PlatformError::invalid("pay_sign", "not base64"))?;
                let merchant = self.merchant(&order.mchid).await?;
                if !merchant.keys.iter().any(|(_, key)| key.verify(message.as_bytes(), &signature).is_ok()) {
                    return Err(PlatformError::invalid("pay_sign", "the merchant's signature does not verify"));
                }
                Ok(order)
            }
            (TradeType::Jsapi | TradeType::App, None) => {
                Err(PlatformError::invalid("pay_sign", "this order is paid with the merchant's signed parameters"))
            }
            _ => Err(PlatformError::invalid("prepay_id", "this kind of order is not paid this way")),
        }
    }

    /// A person pays an order from their balance (or a linked card), with the PIN rules of every payment.
    /// `order` as just read (by `resolve_order`); a stale state is caught by the payment's guard.
    pub async fn pay_order(&self, person: i64, order: Order, how: PayOrder<'_>) -> Result<Order> {
        match order.trade_state.as_str() {
            "NOTPAY" | "USERPAYING" => {}
            _ if order.paid() && order.payer_id == Some(person) => return Ok(order),
            _ if order.paid() => return Err(PlatformError::conflict("ORDER_PAID", "this order is already paid")),
            _ => return Err(PlatformError::conflict("ORDER_CLOSED", "this order is closed")),
        }
        let now = self.now_ms();
        if now >= order.expires_at_ms {
            return Err(PlatformError::conflict("ORDER_CLOSED", "this order has expired"));
        }
        let openid = self.openid(&order.appid, person);
        let sub_openid = order.sub_appid.as_deref().map(|a| self.openid(a, person));
        if let Some(required) = &order.payer_openid
            && *required != openid
            && Some(required) != sub_openid.as_ref()
        {
            return Err(PlatformError::Forbidden("this order is for another payer".into()));
        }
        let currency = order.currency;
        self.require_currency(person, currency).await?;
        let auth = self.merchant(&order.mchid).await?;
        let card_payment = match how.card {
            None => {
                self.authorize_payment(person, order.total, how.pin).await?;
                None
            }
            Some(card) => {
                let amount = money::Money::from_minor(order.total, currency).map_err(|e| PlatformError::Internal(e.to_string()))?;
                Some(self.charge_card_for_payment(person, card, &amount.to_decimal_string(), currency, how.pin).await?)
            }
        };
        let attempt = ids::object_id(now);
        let payment = NewTransfer {
            id: ids::derived(attempt, ids::transfer::ORDER_PAY, 0),
            debit_account_id: ids::wallet(person, currency.numeric()),
            credit_account_id: ids::merchant_receivable(order.merchant_id, currency.numeric()),
            amount: order.total as u64,
            pending_id: 0,
            currency: Some(currency),
            code: ids::transfer::ORDER_PAY,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: order.id as u128,
        };
        let fee = fee_of(order.total, auth.merchant.fee_bps);
        let bank_type = if card_payment.is_some() { "CARD" } else { "OTHERS" };
        let paid = Order {
            trade_state: "SUCCESS".into(),
            payer_id: Some(person),
            payer_openid_paid: Some(openid.clone()),
            payer_sub_openid_paid: sub_openid.clone(),
            bank_type: Some(bank_type.into()),
            fee,
            success_at_ms: Some(now),
            ..order.clone()
        };
        let conditions = Conditions {
            guards: vec![Effect {
                sql: "UPDATE orders SET trade_state = 'SUCCESS', payer_id = $2, payer_openid_paid = $3, funding = $4, card_operation = $5, bank_type = $6, fee = $7, success_at = $8, payer_sub_openid = $9, card_reference = $10 WHERE id = $1 AND trade_state IN ('NOTPAY', 'USERPAYING') AND expires_at > $8",
                params: params![
                    order.id,
                    person,
                    openid.as_str(),
                    if card_payment.is_some() { "card" } else { "balance" },
                    card_payment.as_ref().map(|(op, _)| *op),
                    bank_type,
                    fee,
                    now,
                    sub_openid.clone(),
                    card_payment.as_ref().map(|(_, reference)| reference.as_str())
                ]
                .to_vec(),
            }],
            effects: (!order.notify_url.is_empty())
                .then(|| {
                    notification_effect(
                        Event {
                            id: event_id("TRANSACTION.SUCCESS", order.id),
                            kind: "TRANSACTION.SUCCESS",
                            summary: "支付成功",
                            original_type: "transaction",
                            resource: paid.transaction_json().to_string(),
                        },
                        order.notified_merchant(),
                        &order.notify_url,
                        now,
                    )
                })
                .into_iter()
                .collect(),
        };
        let funding = card_payment
            .as_ref()
            .map(|(op, _)| crate::wallets::card_in(*op, ids::transfer::ORDER_CARD_FUND, person, currency, order.total));
        let outcome = self.pay_within_limits_conditions(person, currency, order.total, funding, payment, conditions).await;
        match (outcome, card_payment) {
            (Ok(Ok(())), card) => {
                if let Some((op, _)) = card {
                    self.finish_card_payment(op, "succeeded", None).await?;
                }
                self.outbox_wake.notify_one();
                Ok(paid)
            }
            (failed, card) => {
                if let Some((op, reference)) = card {
                    self.refund_card_payment(op, &reference).await?;
                }
                match failed {
                    Ok(Err(GuardFailed(_))) => {
                        let now_order = self.order(order.id).await?;
                        Err(if now_order.paid() {
                            PlatformError::conflict("ORDER_PAID", "this order is already paid")
                        } else {
                            PlatformError::conflict("ORDER_CLOSED", "this order is closed")
                        })
                    }
                    Err(e) => Err(e),
                    Ok(Ok(())) => unreachable!("handled above"),
                }
            }
        }
    }

    /// A fresh one-time payment code for the person (each lives a minute and pays one order).
    pub async fn issue_payment_code(&self, person: i64) -> Result<PaymentCode> {
        let region = self.person(person).await?.region;
        let prefix = if region == "HK" { "15" } else { "13" };
        let now = self.now_ms();
        let expires_at = now + PAYMENT_CODE_TTL_MS;
        for _ in 0..4 {
            let code = format!("{prefix}{:08}{:08}", crypto::random_in(0, 99_999_999), crypto::random_in(0, 99_999_999));
            debug_assert!(valid_payment_code(&code));
            let c = code.clone();
            let inserted = self
                .blocking(move |db| {
                    match db.with(|conn| {
                        conn.execute(
                            "INSERT INTO payment_codes (code, person_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                            params![c.as_str(), person, now, expires_at],
                        )
                    }) {
                        Ok(_) => Ok(true),
                        Err(store::StoreError::Duplicate(_)) => Ok(false),
                        Err(e) => Err(e.into()),
                    }
                })
                .await?;
            if inserted {
                return Ok(PaymentCode { code, expires_at_ms: expires_at });
            }
        }
        Err(PlatformError::Internal("no free payment code after four tries".into()))
    }

    /// The merchant scanned a payment code: the order is the code's person's to pay. At or below the
    /// no-PIN threshold it is paid at once; above, it waits (USERPAYING) for the person's PIN.
    pub async fn charge_payment_code(&self, merchant: &crate::MerchantAuth, mut new: NewOrder, auth_code: &str) -> Result<Order> {
        if !valid_payment_code(auth_code) {
            return Err(PlatformError::invalid("payer.auth_code", "18 digits starting 10 to 15"));
        }
        let (code, now) = (auth_code.to_string(), self.now_ms());
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query_one("SELECT person_id, expires_at, order_id FROM payment_codes WHERE code = $1", params![code.as_str()])
                })?)
            })
            .await?;
        let invalid = || PlatformError::invalid("payer.auth_code", "this payment code is unknown, used or expired: ask for a fresh one");
        let Some(row) = row else { return Err(invalid()) };
        let (person, expires_at, used_by) = (row.int(0)?, row.int(1)?, row.opt_int(2)?);
        new.trade_type = TradeType::Micropay;
        new.payer_openid = Some(self.openid(&new.appid, person));
        new.time_expire_s = None;
        new.sub_appid = None;
        // A retried request (same out_trade_no) finds its order; anything else needs a fresh, unused code.
        if let Ok(existing) = self.order_by_out_trade_no(merchant.merchant.id, &new.out_trade_no).await
            && used_by == Some(existing.id)
        {
            return Ok(existing);
        }
        if used_by.is_some() || expires_at <= now {
            return Err(invalid());
        }
        let order = self.create_order(merchant, None, new).await?;
        let (code, order_id) = (auth_code.to_string(), order.id);
        let bound = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.execute(
                        "UPDATE payment_codes SET order_id = $2 WHERE code = $1 AND order_id IS NULL AND expires_at > $3",
                        params![code.as_str(), order_id, now],
                    )
                })?)
            })
            .await?;
        if bound == 0 {
            self.close_order(merchant.merchant.id, &order.out_trade_no).await?;
            return Err(invalid());
        }
        if order.total <= self.config.no_pin_threshold_minor {
            return match self.pay_order(person, order.clone(), PayOrder { pin: None, card: None }).await {
                Ok(paid) => Ok(paid),
                Err(e) => {
                    self.close_order(merchant.merchant.id, &order.out_trade_no).await?;
                    Err(e)
                }
            };
        }
        let deadline = now + USERPAYING_TTL_MS;
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "UPDATE orders SET trade_state = 'USERPAYING', expires_at = $2 WHERE id = $1 AND trade_state = 'NOTPAY'",
                    params![order_id, deadline],
                )
            })?)
        })
        .await?;
        self.order(order.id).await
    }

    /// Payment-code orders waiting for this person's PIN.
    pub async fn orders_awaiting_pin(&self, person: i64) -> Result<Vec<Order>> {
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        &format!("SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.trade_state = 'USERPAYING' AND o.id IN (SELECT order_id FROM payment_codes WHERE person_id = $1 AND order_id IS NOT NULL) ORDER BY o.created_at DESC LIMIT 20"),
                        params![person],
                    )
                })?)
            })
            .await?;
        rows.iter().map(order_from).collect()
    }

    /// Reverse a payment-code order: unpaid, it is revoked; paid, it is refunded in full and revoked.
    pub async fn reverse_order(&self, merchant_id: i64, out_trade_no: &str) -> Result<Order> {
        let order = self.order_by_out_trade_no(merchant_id, out_trade_no).await?;
        if order.trade_type != TradeType::Micropay {
            return Err(PlatformError::conflict("INVALID_REQUEST", "only payment-code orders are reversed; close or refund this one"));
        }
        if order.paid() && order.refunded < order.total {
            let refund = NewRefund {
                sp_merchant_id: order.sp_merchant_id,
                transaction_id: None,
                out_trade_no: Some(order.out_trade_no.clone()),
                out_refund_no: format!("REVERSE-{}", order.out_trade_no),
                reason: Some("reversed".into()),
                notify_url: None,
                refund: order.total - order.refunded,
                total: order.total,
                currency: order.currency.code().to_string(),
            };
            self.refund_order(merchant_id, refund).await?;
        }
        let (id, now) = (order.id, self.now_ms());
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "UPDATE orders SET trade_state = 'REVOKED', closed_at = $2 WHERE id = $1 AND (trade_state IN ('NOTPAY', 'USERPAYING') OR (trade_state IN ('SUCCESS', 'REFUND') AND refunded = total))",
                    params![id, now],
                )
            })?)
        })
        .await?;
        self.order(order.id).await
    }

    /// Refund (part of) a paid order back to its payer's wallet; idempotent on `out_refund_no`.
    pub async fn refund_order(&self, merchant_id: i64, new: NewRefund) -> Result<Refund> {
        if !valid_out_no(&new.out_refund_no, 1, 64, true) {
            return Err(PlatformError::invalid("out_refund_no", "1 to 64 characters of [0-9A-Za-z_-|*@]"));
        }
        if new.reason.as_ref().is_some_and(|r| r.chars().count() > 80) {
            return Err(PlatformError::invalid("reason", "at most 80 characters"));
        }
        if new.notify_url.as_ref().is_some_and(|u| !valid_notify_url(u)) {
            return Err(PlatformError::invalid("notify_url", "an http:// or https:// URL of at most 256 characters, without a query"));
        }
        let order = match (&new.transaction_id, &new.out_trade_no) {
            (Some(t), _) => self.order_by_transaction_id(merchant_id, t).await,
            (None, Some(o)) => self.order_by_out_trade_no(merchant_id, o).await,
            (None, None) => return Err(PlatformError::invalid("transaction_id", "give transaction_id or out_trade_no")),
        }
        .map_err(|_| PlatformError::NotFound("order"))?;
        if order.sp_merchant_id != new.sp_merchant_id {
            return Err(PlatformError::NotFound("order"));
        }
        let currency = parse_currency(&new.currency).map_err(|_| PlatformError::invalid("amount.currency", "an ISO 4217 code"))?;
        if currency != order.currency {
            return Err(PlatformError::invalid("amount.currency", "differs from the order's currency"));
        }
        if new.total != order.total {
            return Err(PlatformError::invalid("amount.total", "differs from the order's total"));
        }
        if new.refund <= 0 || new.refund > order.total {
            return Err(PlatformError::invalid("amount.refund", "1 to the order's total"));
        }
        let request_hash = crypto::sha256(
            serde_json::to_string(&json!([order.id, new.refund, new.reason, new.notify_url])).expect("JSON of plain values").as_bytes(),
        );
        if let Ok(existing) = self.refund_by_out_refund_no(merchant_id, &new.out_refund_no).await {
            if existing.request_hash != request_hash {
                return Err(PlatformError::conflict("INVALID_REQUEST", "this out_refund_no was used for a different refund"));
            }
            return Ok(existing);
        }
        if !order.paid() {
            return Err(PlatformError::conflict("INVALID_REQUEST", "this order is not paid"));
        }
        let Some(payer) = order.payer_id else { return Err(PlatformError::Internal("a paid order without its payer".into())) };
        let to_card = order.funding.as_deref() == Some("card");
        let now = self.now_ms();
        let id = ids::object_id(now);
        let refund_id = format!("50{}{:019}", cst_date(now), id);
        let refund = Refund {
            id,
            refund_id: refund_id.clone(),
            out_refund_no: new.out_refund_no.clone(),
            order: order.clone(),
            amount: new.refund,
            status: "SUCCESS".into(),
            // A card-funded payment is refunded to the card (through the wallet, in one linked chain).
            channel: if to_card { "ORIGINAL".into() } else { "BALANCE".into() },
            created_at_ms: now,
            success_at_ms: Some(now),
            request_hash: request_hash.clone(),
        };
        let transfer = NewTransfer {
            id: ids::derived(id, ids::transfer::ORDER_REFUND, 0),
            debit_account_id: ids::merchant_receivable(order.merchant_id, currency.numeric()),
            credit_account_id: ids::wallet(payer, currency.numeric()),
            amount: new.refund as u64,
            pending_id: 0,
            currency: Some(currency),
            code: ids::transfer::ORDER_REFUND,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: order.id as u128,
        };
        let mut transfers = vec![transfer];
        if to_card {
            transfers[0].flags = TransferFlags::LINKED;
            transfers.push(NewTransfer {
                id: ids::derived(id, ids::transfer::ORDER_REFUND_TO_CARD, 0),
                debit_account_id: ids::wallet(payer, currency.numeric()),
                credit_account_id: ids::system_account(ids::account::CARD_RAIL, currency.numeric()),
                code: ids::transfer::ORDER_REFUND_TO_CARD,
                flags: TransferFlags::empty(),
                ..transfer
            });
        }
        let notify_url = new.notify_url.clone().unwrap_or_else(|| order.notify_url.clone());
        let notifies = !notify_url.is_empty();
        let conditions = Conditions {
            guards: vec![
                Effect {
                    sql: "UPDATE orders SET refunded = refunded + $2, trade_state = 'REFUND' WHERE id = $1 AND refunded + $2 <= total AND trade_state IN ('SUCCESS', 'REFUND') AND (SELECT COUNT(*) FROM refunds WHERE order_id = $1) < $3",
                    params: params![order.id, new.refund, REFUNDS_PER_ORDER_MAX].to_vec(),
                },
                Effect {
                    sql: "INSERT INTO refunds (id, refund_id, merchant_id, order_id, out_refund_no, reason, notify_url, amount, currency, status, request_hash, created_at, success_at, channel, card_state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'SUCCESS', $10, $11, $11, $12, $13) ON CONFLICT (merchant_id, out_refund_no) DO NOTHING",
                    params: params![
                        id,
                        refund_id.as_str(),
                        merchant_id,
                        order.id,
                        new.out_refund_no.as_str(),
                        new.reason.clone(),
                        new.notify_url.clone(),
                        new.refund,
                        currency.numeric(),
                        request_hash.clone(),
                        now,
                        refund.channel.as_str(),
                        to_card.then_some("pending")
                    ]
                    .to_vec(),
                },
            ],
            effects: notifies
                .then(|| {
                    notification_effect(
                        Event {
                            id: event_id("REFUND.SUCCESS", id),
                            kind: "REFUND.SUCCESS",
                            summary: "退款成功",
                            original_type: "refund",
                            resource: refund.notification_json().to_string(),
                        },
                        order.notified_merchant(),
                        &notify_url,
                        now,
                    )
                })
                .into_iter()
                .collect(),
        };
        let results = self.ledger.create_transfers_guarded(transfers, conditions).await?;
        match results {
            Ok(results) => match results.iter().find_map(|r| r.err()) {
                None => {
                    self.outbox_wake.notify_one();
                    if to_card {
                        self.finish_card_refund(id, &order, new.refund).await?;
                        return self.refund_by_out_refund_no(merchant_id, &new.out_refund_no).await;
                    }
                    Ok(refund)
                }
                Some(e) => Err(PlatformError::Internal(format!("ledger refused a refund: {}", e.code()))),
            },
            Err(GuardFailed(0)) => Err(PlatformError::conflict(
                "NOT_ENOUGH",
                "the refund is more than what is left to refund on this order (or 50 refunds were made)",
            )),
            Err(GuardFailed(_)) => {
                // The same out_refund_no raced in: answer as its first request did.
                let existing = self.refund_by_out_refund_no(merchant_id, &new.out_refund_no).await?;
                if existing.request_hash != request_hash {
                    return Err(PlatformError::conflict("INVALID_REQUEST", "this out_refund_no was used for a different refund"));
                }
                Ok(existing)
            }
        }
    }

    pub async fn refund_by_out_refund_no(&self, merchant_id: i64, out_refund_no: &str) -> Result<Refund> {
        let key = out_refund_no.to_string();
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query_one(
                        "SELECT id, refund_id, out_refund_no, order_id, amount, status, created_at, success_at, request_hash, channel FROM refunds WHERE merchant_id = $1 AND out_refund_no = $2",
                        params![merchant_id, key.as_str()],
                    )
                })?)
            })
            .await?
            .ok_or(PlatformError::NotFound("refund"))?;
        Ok(Refund {
            id: row.int(0)?,
            refund_id: row.text(1)?,
            out_refund_no: row.text(2)?,
            order: self.order(row.int(3)?).await?,
            amount: row.int(4)?,
            status: row.text(5)?,
            created_at_ms: row.int(6)?,
            success_at_ms: row.opt_int(7)?,
            request_hash: row.bytes(8)?,
            channel: row.text(9)?,
        })
    }

    /// Tell the card issuer about a refund that left the wallet for the card. If the issuer refuses,
    /// the money goes back to the payer's wallet instead (and the refund says so).
    async fn finish_card_refund(&self, refund_id: i64, order: &Order, amount: i64) -> Result<()> {
        let reference = order.card_reference.clone().ok_or_else(|| PlatformError::Internal("a card payment without its charge".into()))?;
        let outcome = self.rail.refund_amount(&reference, amount, &format!("order-refund-{refund_id}"));
        let payer = order.payer_id.ok_or_else(|| PlatformError::Internal("a paid order without its payer".into()))?;
        let state = match outcome {
            RailOutcome::Approved { .. } | RailOutcome::Pending { .. } => "refunded",
            RailOutcome::Declined { reason } => {
                tracing::warn!(refund_id, %reason, "the card issuer refused a refund; it goes to the wallet");
                let back = NewTransfer {
                    id: ids::derived(refund_id, ids::transfer::ORDER_REFUND_TO_BALANCE, 0),
                    debit_account_id: ids::system_account(ids::account::CARD_RAIL, order.currency.numeric()),
                    credit_account_id: ids::wallet(payer, order.currency.numeric()),
                    amount: amount as u64,
                    pending_id: 0,
                    currency: Some(order.currency),
                    code: ids::transfer::ORDER_REFUND_TO_BALANCE,
                    flags: TransferFlags::empty(),
                    timeout_s: 0,
                    user_data: order.id as u128,
                };
                let result = self.ledger.create_transfers(vec![back]).await?;
                if let Some(e) = result[0].err() {
                    return Err(PlatformError::Internal(format!("returning a refused card refund: {}", e.code())));
                }
                "to_balance"
            }
        };
        let channel = if state == "refunded" { "ORIGINAL" } else { "BALANCE" };
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "UPDATE refunds SET card_state = $2, channel = $3 WHERE id = $1 AND card_state = 'pending'",
                    params![refund_id, state, channel],
                )
            })?)
        })
        .await?;
        Ok(())
    }

    /// Card refunds interrupted between the ledger and the issuer (a crash): tell the issuer now (the
    /// rail refund is idempotent on the refund's id).
    pub(crate) async fn finish_interrupted_card_refunds(&self) -> Result<usize> {
        let stale = self.now_ms() - 60_000;
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        "SELECT id, order_id, amount FROM refunds WHERE card_state = 'pending' AND created_at < $1 LIMIT 100",
                        params![stale],
                    )
                })?)
            })
            .await?;
        for r in &rows {
            let order = self.order(r.int(1)?).await?;
            self.finish_card_refund(r.int(0)?, &order, r.int(2)?).await?;
        }
        Ok(rows.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_to_the_minor_unit() {
        assert_eq!(fee_of(10_000, 60), 60);
        assert_eq!(fee_of(1, 60), 0);
        assert_eq!(fee_of(84, 60), 1); // 0.504 → 1
        assert_eq!(fee_of(83, 60), 0); // 0.498 → 0
        assert_eq!(fee_of(ORDER_TOTAL_MAX, 10_000), ORDER_TOTAL_MAX);
    }

    #[test]
    fn out_trade_numbers_follow_wechat_rules() {
        assert!(valid_out_no("T1000001", 6, 32, false));
        assert!(valid_out_no("a_b-c|d*e", 6, 32, false));
        assert!(!valid_out_no("short", 6, 32, false));
        assert!(!valid_out_no("has space", 6, 32, false));
        assert!(!valid_out_no("refund@1", 6, 32, false));
        assert!(valid_out_no("refund@1", 1, 64, true));
        assert!(!valid_out_no(&"x".repeat(33), 6, 32, false));
    }

    #[test]
    fn notify_urls_are_http_or_https_without_a_query() {
        assert!(valid_notify_url("https://merchant.example/notify"));
        assert!(valid_notify_url("http://127.0.0.1:9000/wx/notify"));
        assert!(!valid_notify_url("ftp://merchant.example/notify"));
        assert!(!valid_notify_url("https://merchant.example/notify?a=1"));
        assert!(!valid_notify_url("https:///notify"));
        assert!(!valid_notify_url(&format!("https://m.example/{}", "x".repeat(250))));
    }

    #[test]
    fn event_ids_are_stable_and_uuid_shaped() {
        let id = event_id("TRANSACTION.SUCCESS", 42);
        assert_eq!(id, event_id("TRANSACTION.SUCCESS", 42));
        assert_ne!(id, event_id("REFUND.SUCCESS", 42));
        assert_eq!(id.len(), 36);
    }
}
