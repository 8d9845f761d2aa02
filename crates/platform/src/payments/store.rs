//! The payments domain's storage: `orders`, `refunds`, `payment_codes`, `static_codes`. The only place
//! their SQL lives; settlement and bills read payments through the functions at the end.

use super::{CardRefund, Funding, Order, Refund, RefundChannel, RefundStatus, TradeState, TradeType};
use crate::history::Window;
use crate::{MerchantId, OrderId, PersonId};
use money::Currency;
use store::{Conn, Effect, Result, Row, StoreError, Value, params};

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} in a stored order"))
}

const ORDER: &str = "o.id, o.transaction_id, o.merchant_id, m.mchid, o.appid, o.out_trade_no, o.trade_type, o.description, o.attach, o.notify_url, o.goods_tag, o.currency, o.total, o.payer_openid, o.scene_info, o.trade_state, o.payer_id, o.payer_openid_paid, o.bank_type, o.fee, o.refunded, o.created_at, o.expires_at, o.success_at, o.request_hash, o.sp_merchant_id, sp.mchid AS sp_mchid, o.sub_appid, o.payer_sub_openid, o.funding, o.card_reference, o.payer_currency, o.payer_total, o.payer_refunded, o.rate_mantissa, o.rate_scale";
/// The joins every order query needs for `ORDER` (the mchids are the merchants'; names are theirs).
const ORDER_FROM: &str = "orders o JOIN merchants m ON m.id = o.merchant_id LEFT JOIN merchants sp ON sp.id = o.sp_merchant_id";

fn order_from(r: &Row) -> Result<Order> {
    Ok(Order {
        id: OrderId::new(r.int("id")?),
        transaction_id: r.text("transaction_id")?,
        merchant_id: MerchantId::new(r.int("merchant_id")?),
        mchid: r.text("mchid")?,
        appid: r.text("appid")?,
        out_trade_no: r.text("out_trade_no")?,
        trade_type: TradeType::parse(&r.text("trade_type")?).ok_or_else(|| corrupt("trade type"))?,
        description: r.text("description")?,
        attach: r.opt_text("attach")?,
        notify_url: r.text("notify_url")?,
        goods_tag: r.opt_text("goods_tag")?,
        currency: Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))?,
        total_minor: r.int("total")?,
        payer_openid: r.opt_text("payer_openid")?,
        scene_info: r.opt_text("scene_info")?,
        trade_state: TradeState::parse(&r.text("trade_state")?).ok_or_else(|| corrupt("trade state"))?,
        payer_id: r.opt_int("payer_id")?.map(PersonId::new),
        payer_openid_paid: r.opt_text("payer_openid_paid")?,
        bank_type: r.opt_text("bank_type")?,
        fee_minor: r.int("fee")?,
        refunded_minor: r.int("refunded")?,
        created_at_ms: r.int("created_at")?,
        expires_at_ms: r.int("expires_at")?,
        success_at_ms: r.opt_int("success_at")?,
        request_hash: r.bytes("request_hash")?,
        sp_merchant_id: r.opt_int("sp_merchant_id")?.map(MerchantId::new),
        sp_mchid: r.opt_text("sp_mchid")?,
        sub_appid: r.opt_text("sub_appid")?,
        payer_sub_openid_paid: r.opt_text("payer_sub_openid")?,
        funding: r.opt_text("funding")?.map(|f| Funding::parse(&f).ok_or_else(|| corrupt("funding"))).transpose()?,
        card_reference: r.opt_text("card_reference")?,
        exchange: exchange_from(r)?,
    })
}

/// An order paid in another currency: the payer's side, with its rate (the order's currency as base).
fn exchange_from(r: &Row) -> Result<Option<super::Exchange>> {
    let Some(payer_currency) = r.opt_int("payer_currency")? else { return Ok(None) };
    let payer_currency =
        Currency::from_numeric(u16::try_from(payer_currency).map_err(|_| corrupt("currency"))?).map_err(|_| corrupt("currency"))?;
    let order_currency = Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))?;
    let mantissa = r.opt_int("rate_mantissa")?.and_then(|m| u64::try_from(m).ok()).ok_or_else(|| corrupt("rate"))?;
    let scale = r.opt_int("rate_scale")?.and_then(|s| u8::try_from(s).ok()).ok_or_else(|| corrupt("rate"))?;
    Ok(Some(super::Exchange {
        currency: payer_currency,
        total_minor: r.opt_int("payer_total")?.ok_or_else(|| corrupt("payer total"))?,
        refunded_minor: r.int("payer_refunded")?,
        rate: money::Rate::new(order_currency, payer_currency, mantissa, scale).map_err(|_| corrupt("rate"))?,
    }))
}

fn one_order(c: &mut dyn Conn, clause: &str, values: &[Value]) -> Result<Option<Order>> {
    c.query_one(&format!("SELECT {ORDER} FROM {ORDER_FROM} WHERE {clause}"), values)?.as_ref().map(order_from).transpose()
}

/// A merchant's orders matching a console search, newest first.
pub(crate) fn orders_of(c: &mut dyn Conn, merchant: MerchantId, search: &super::OrderSearch, limit: i64) -> Result<Vec<Order>> {
    let state = search.state.map(|s| s.as_str().to_string());
    let rows = c.query(
        &format!(
            "SELECT {ORDER} FROM {ORDER_FROM} WHERE o.merchant_id = $1 AND ($2 = '' OR o.out_trade_no = $2 OR o.transaction_id = $2) AND ($3 = '' OR o.trade_state = $3) AND o.created_at >= $4 AND o.created_at < $5 ORDER BY o.created_at DESC, o.id DESC LIMIT $6"
        ),
        params![
            merchant,
            search.reference.clone().unwrap_or_default(),
            state.unwrap_or_default(),
            search.from_ms.unwrap_or(0),
            search.to_ms.unwrap_or(i64::MAX),
            limit
        ],
    )?;
    rows.iter().map(order_from).collect()
}

fn sales_from(r: &Row, channel: bool) -> Result<super::SalesBucket> {
    Ok(super::SalesBucket {
        bucket: r.int("bucket")?,
        currency: Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))?,
        channel: if channel { r.text("trade_type")? } else { String::new() },
        count: r.int("n")?,
        amount_minor: r.int("amount")?,
    })
}

/// Rows summed per bucket by `sql` (parameters: merchant, start, end, bucket size, limit).
#[allow(clippy::too_many_arguments)]
fn bucketed(
    c: &mut dyn Conn,
    sql: &str,
    channel: bool,
    merchant: MerchantId,
    start_ms: i64,
    end_ms: i64,
    bucket_ms: i64,
    limit: i64,
) -> Result<Vec<super::SalesBucket>> {
    let rows = c.query(sql, params![merchant, start_ms, end_ms, bucket_ms, limit])?;
    rows.iter().map(|r| sales_from(r, channel)).collect()
}

/// Payments summed per bucket, currency and trade type (by the time they were paid).
pub(crate) fn sales(
    c: &mut dyn Conn,
    merchant: MerchantId,
    start_ms: i64,
    end_ms: i64,
    bucket_ms: i64,
    limit: i64,
) -> Result<Vec<super::SalesBucket>> {
    let sql = "SELECT (success_at - $2) / $4 AS bucket, currency, trade_type, COUNT(*) AS n, CAST(SUM(total) AS BIGINT) AS amount FROM orders WHERE merchant_id = $1 AND success_at >= $2 AND success_at < $3 GROUP BY 1, 2, 3 ORDER BY 1 LIMIT $5";
    bucketed(c, sql, true, merchant, start_ms, end_ms, bucket_ms, limit)
}

/// Every merchant's payments in a window, per currency (a currency is a row: at most the currencies known).
pub(crate) fn totals(c: &mut dyn Conn, start_ms: i64, end_ms: i64) -> Result<Vec<super::PaymentTotal>> {
    let rows = c.query(
        "SELECT currency, COUNT(*) AS n, CAST(SUM(total) AS BIGINT) AS amount FROM orders WHERE success_at >= $1 AND success_at < $2 GROUP BY currency ORDER BY currency",
        params![start_ms, end_ms],
    )?;
    rows.iter()
        .map(|r| {
            Ok(super::PaymentTotal {
                currency: Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))?,
                count: r.int("n")?,
                amount_minor: r.int("amount")?,
            })
        })
        .collect()
}

/// Refunds summed per bucket and currency (by the time they were made).
pub(crate) fn refund_sales(
    c: &mut dyn Conn,
    merchant: MerchantId,
    start_ms: i64,
    end_ms: i64,
    bucket_ms: i64,
    limit: i64,
) -> Result<Vec<super::SalesBucket>> {
    let sql = "SELECT (created_at - $2) / $4 AS bucket, currency, COUNT(*) AS n, CAST(SUM(amount) AS BIGINT) AS amount FROM refunds WHERE merchant_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2 ORDER BY 1 LIMIT $5";
    bucketed(c, sql, false, merchant, start_ms, end_ms, bucket_ms, limit)
}

/// An order's refunds, oldest first.
pub(crate) fn refunds_of(c: &mut dyn Conn, order: OrderId) -> Result<Vec<super::RefundLine>> {
    let rows = c.query(
        "SELECT refund_id, out_refund_no, amount, status, channel, created_at, success_at FROM refunds WHERE order_id = $1 ORDER BY created_at, id",
        params![order],
    )?;
    rows.iter()
        .map(|r| {
            Ok(super::RefundLine {
                refund_id: r.text("refund_id")?,
                out_refund_no: r.text("out_refund_no")?,
                amount_minor: r.int("amount")?,
                status: RefundStatus::parse(&r.text("status")?).ok_or_else(|| corrupt("refund status"))?,
                channel: RefundChannel::parse(&r.text("channel")?).ok_or_else(|| corrupt("refund channel"))?,
                created_at_ms: r.int("created_at")?,
                success_at_ms: r.opt_int("success_at")?,
            })
        })
        .collect()
}

/// A new order (unpaid); `ON CONFLICT DO NOTHING` on (merchant, out_trade_no), so a guard.
pub(crate) fn insert_order(o: &Order) -> Effect {
    Effect {
        sql: "INSERT INTO orders (id, transaction_id, merchant_id, appid, out_trade_no, trade_type, description, attach, notify_url, goods_tag, currency, total, payer_openid, scene_info, request_hash, trade_state, created_at, expires_at, sp_merchant_id, sub_appid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) ON CONFLICT (merchant_id, out_trade_no) DO NOTHING",
        params: vec![
            o.id.into(),
            o.transaction_id.as_str().into(),
            o.merchant_id.into(),
            o.appid.as_str().into(),
            o.out_trade_no.as_str().into(),
            o.trade_type.into(),
            o.description.as_str().into(),
            o.attach.clone().into(),
            o.notify_url.as_str().into(),
            o.goods_tag.clone().into(),
            o.currency.numeric().into(),
            o.total_minor.into(),
            o.payer_openid.clone().into(),
            o.scene_info.clone().into(),
            o.request_hash.clone().into(),
            o.trade_state.into(),
            o.created_at_ms.into(),
            o.expires_at_ms.into(),
            o.sp_merchant_id.into(),
            o.sub_appid.clone().into(),
        ],
    }
}

pub(crate) fn order(c: &mut dyn Conn, id: OrderId) -> Result<Option<Order>> {
    one_order(c, "o.id = $1", params![id])
}

pub(crate) fn order_by_out_trade_no(c: &mut dyn Conn, merchant: MerchantId, out_trade_no: &str) -> Result<Option<Order>> {
    one_order(c, "o.merchant_id = $1 AND o.out_trade_no = $2", params![merchant, out_trade_no])
}

pub(crate) fn order_by_transaction_id(c: &mut dyn Conn, merchant: MerchantId, transaction_id: &str) -> Result<Option<Order>> {
    one_order(c, "o.merchant_id = $1 AND o.transaction_id = $2", params![merchant, transaction_id])
}

/// Close an unpaid order (no row changes when it is paid or closed already).
pub(crate) fn close(c: &mut dyn Conn, merchant: MerchantId, out_trade_no: &str, now_ms: i64) -> Result<u64> {
    c.execute(
        "UPDATE orders SET trade_state = $4, closed_at = $3 WHERE merchant_id = $1 AND out_trade_no = $2 AND trade_state IN ($5, $6)",
        params![merchant, out_trade_no, now_ms, TradeState::Closed, TradeState::NotPay, TradeState::UserPaying],
    )
}

/// Close up to 1000 unpaid orders past their deadline.
pub(crate) fn close_due(c: &mut dyn Conn, now_ms: i64) -> Result<u64> {
    c.execute(
        "UPDATE orders SET trade_state = $2, closed_at = $1 WHERE id IN (SELECT id FROM orders WHERE trade_state IN ($3, $4) AND expires_at <= $1 LIMIT 1000) AND trade_state IN ($3, $4)",
        params![now_ms, TradeState::Closed, TradeState::NotPay, TradeState::UserPaying],
    )
}

/// What paying an order records.
pub(crate) struct Paid<'a> {
    pub order: OrderId,
    pub payer: Option<PersonId>,
    pub openid: &'a str,
    pub sub_openid: Option<&'a str>,
    pub funding: Funding,
    pub card: Option<(i64, &'a str)>,
    pub bank_type: &'a str,
    pub fee_minor: i64,
    pub now_ms: i64,
    /// Paid in another currency: (its currency, the amount, the rate).
    pub exchange: Option<&'a super::Exchange>,
}

/// The order moves from unpaid to paid (a guard: only while unpaid and before its deadline).
pub(crate) fn mark_paid(p: &Paid) -> Effect {
    Effect {
        sql: "UPDATE orders SET trade_state = $11, payer_id = $2, payer_openid_paid = $3, funding = $4, card_operation = $5, bank_type = $6, fee = $7, success_at = $8, payer_sub_openid = $9, card_reference = $10, payer_currency = $14, payer_total = $15, rate_mantissa = $16, rate_scale = $17 WHERE id = $1 AND trade_state IN ($12, $13) AND expires_at > $8",
        params: params![
            p.order,
            p.payer,
            p.openid,
            p.funding,
            p.card.map(|(op, _)| op),
            p.bank_type,
            p.fee_minor,
            p.now_ms,
            p.sub_openid,
            p.card.map(|(_, reference)| reference),
            TradeState::Success,
            TradeState::NotPay,
            TradeState::UserPaying,
            p.exchange.map(|e| i64::from(e.currency.numeric())),
            p.exchange.map(|e| e.total_minor),
            p.exchange.map(|e| i64::try_from(e.rate.mantissa()).unwrap_or(i64::MAX)),
            p.exchange.map(|e| i64::from(e.rate.scale()))
        ]
        .to_vec(),
    }
}

pub(crate) fn set_user_paying(c: &mut dyn Conn, order: OrderId, deadline_ms: i64) -> Result<()> {
    c.execute(
        "UPDATE orders SET trade_state = $3, expires_at = $2 WHERE id = $1 AND trade_state = $4",
        params![order, deadline_ms, TradeState::UserPaying, TradeState::NotPay],
    )?;
    Ok(())
}

/// Revoke a payment-code order: unpaid, or paid and refunded in full.
pub(crate) fn revoke(c: &mut dyn Conn, order: OrderId, now_ms: i64) -> Result<()> {
    c.execute(
        "UPDATE orders SET trade_state = $3, closed_at = $2 WHERE id = $1 AND (trade_state IN ($4, $5) OR (trade_state IN ($6, $7) AND refunded = total))",
        params![order, now_ms, TradeState::Revoked, TradeState::NotPay, TradeState::UserPaying, TradeState::Success, TradeState::Refund],
    )?;
    Ok(())
}

/// Payment-code orders waiting for this person's PIN, newest first.
pub(crate) fn awaiting_pin(c: &mut dyn Conn, person: PersonId) -> Result<Vec<Order>> {
    let rows = c.query(
        &format!("SELECT {ORDER} FROM {ORDER_FROM} WHERE o.trade_state = $2 AND o.id IN (SELECT order_id FROM payment_codes WHERE person_id = $1 AND order_id IS NOT NULL) ORDER BY o.created_at DESC LIMIT 20"),
        params![person, TradeState::UserPaying],
    )?;
    rows.iter().map(order_from).collect()
}

/// The person a payment code-order belongs to (the code's), if it is one.
pub(crate) fn code_owner(c: &mut dyn Conn, order: OrderId) -> Result<Option<PersonId>> {
    c.query_one("SELECT person_id FROM payment_codes WHERE order_id = $1", params![order])?
        .map(|r| Ok(PersonId::new(r.int("person_id")?)))
        .transpose()
}

/// Orders a person paid in a history window, newest first.
pub(crate) fn paid_by(c: &mut dyn Conn, person: PersonId, w: Window) -> Result<Vec<Order>> {
    let rows = c.query(
        &format!("SELECT {ORDER} FROM {ORDER_FROM} WHERE o.payer_id = $1 AND o.success_at >= $2 AND (o.success_at, o.id) < ($3, $4) AND ($5 < 0 OR o.currency = $5) ORDER BY o.success_at DESC, o.id DESC LIMIT $6"),
        params![person, w.from_ms, w.before.0, w.before.1, w.currency, w.limit],
    )?;
    rows.iter().map(order_from).collect()
}

/// Refunds to a person in a history window, newest first: (id, currency, amount, created_at).
pub(crate) fn refunds_to(c: &mut dyn Conn, person: PersonId, w: Window) -> Result<Vec<(i64, Currency, i64, i64)>> {
    let rows = c.query(
        "SELECT r.id, r.currency, r.amount, r.created_at FROM refunds r JOIN orders o ON o.id = r.order_id WHERE o.payer_id = $1 AND r.created_at >= $2 AND (r.created_at, r.id) < ($3, $4) AND ($5 < 0 OR r.currency = $5) ORDER BY r.created_at DESC, r.id DESC LIMIT $6",
        params![person, w.from_ms, w.before.0, w.before.1, w.currency, w.limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok((
                r.int("id")?,
                Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))?,
                r.int("amount")?,
                r.int("created_at")?,
            ))
        })
        .collect()
}

/// A refund takes `amount` more of the order's paid total (a guard: only within what was paid, within
/// the refunds per order allowed).
/// The same for an order paid in another currency: the payer's share is computed from the refunded total
/// as read (`refunded_before`), so the guard holds only while nobody else refunded meanwhile.
pub(crate) fn add_refunded_exchanged(
    order: OrderId,
    amount_minor: i64,
    payer_share_minor: i64,
    refunded_before: i64,
    refunds_max: i64,
) -> Effect {
    Effect {
        sql: "UPDATE orders SET refunded = refunded + $2, payer_refunded = payer_refunded + $6, trade_state = $4 WHERE id = $1 AND refunded = $7 AND refunded + $2 <= total AND trade_state IN ($5, $4) AND (SELECT COUNT(*) FROM refunds WHERE order_id = $1) < $3",
        params: params![order, amount_minor, refunds_max, TradeState::Refund, TradeState::Success, payer_share_minor, refunded_before]
            .to_vec(),
    }
}

pub(crate) fn add_refunded(order: OrderId, amount_minor: i64, refunds_max: i64) -> Effect {
    Effect {
        sql: "UPDATE orders SET refunded = refunded + $2, trade_state = $4 WHERE id = $1 AND refunded + $2 <= total AND trade_state IN ($5, $4) AND (SELECT COUNT(*) FROM refunds WHERE order_id = $1) < $3",
        params: params![order, amount_minor, refunds_max, TradeState::Refund, TradeState::Success].to_vec(),
    }
}

/// A refund's row (a guard: `ON CONFLICT DO NOTHING` on the merchant's out_refund_no).
pub(crate) fn insert_refund(
    r: &Refund,
    merchant: MerchantId,
    reason: Option<&str>,
    notify_url: Option<&str>,
    card: Option<CardRefund>,
) -> Effect {
    Effect {
        sql: "INSERT INTO refunds (id, refund_id, merchant_id, order_id, out_refund_no, reason, notify_url, amount, currency, status, request_hash, created_at, success_at, channel, card_state, payer_currency, payer_amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (merchant_id, out_refund_no) DO NOTHING",
        params: params![
            r.id,
            r.refund_id.as_str(),
            merchant,
            r.order.id,
            r.out_refund_no.as_str(),
            reason,
            notify_url,
            r.amount_minor,
            r.order.currency.numeric(),
            r.status,
            r.request_hash.clone(),
            r.created_at_ms,
            r.success_at_ms,
            r.channel,
            card,
            r.order.exchange.as_ref().map(|e| i64::from(e.currency.numeric())),
            r.payer_amount_minor
        ]
        .to_vec(),
    }
}

/// A refund as stored, with its order's id (the caller reads the order).
pub(crate) struct StoredRefund {
    pub id: i64,
    pub refund_id: String,
    pub out_refund_no: String,
    pub order: OrderId,
    pub amount_minor: i64,
    pub status: RefundStatus,
    pub channel: RefundChannel,
    pub created_at_ms: i64,
    pub success_at_ms: Option<i64>,
    pub request_hash: Vec<u8>,
    pub payer_amount_minor: Option<i64>,
}

pub(crate) fn refund_by_out_refund_no(c: &mut dyn Conn, merchant: MerchantId, out_refund_no: &str) -> Result<Option<StoredRefund>> {
    let row = c.query_one(
        "SELECT id, refund_id, out_refund_no, order_id, amount, status, created_at, success_at, request_hash, channel, payer_amount FROM refunds WHERE merchant_id = $1 AND out_refund_no = $2",
        params![merchant, out_refund_no],
    )?;
    row.map(|r| {
        Ok(StoredRefund {
            id: r.int("id")?,
            refund_id: r.text("refund_id")?,
            out_refund_no: r.text("out_refund_no")?,
            order: OrderId::new(r.int("order_id")?),
            amount_minor: r.int("amount")?,
            status: RefundStatus::parse(&r.text("status")?).ok_or_else(|| corrupt("refund status"))?,
            channel: RefundChannel::parse(&r.text("channel")?).ok_or_else(|| corrupt("refund channel"))?,
            created_at_ms: r.int("created_at")?,
            success_at_ms: r.opt_int("success_at")?,
            request_hash: r.bytes("request_hash")?,
            payer_amount_minor: r.opt_int("payer_amount")?,
        })
    })
    .transpose()
}

pub(crate) fn finish_card_refund(c: &mut dyn Conn, refund: i64, state: CardRefund, channel: RefundChannel) -> Result<()> {
    c.execute(
        "UPDATE refunds SET card_state = $2, channel = $3 WHERE id = $1 AND card_state = $4",
        params![refund, state, channel, CardRefund::Pending],
    )?;
    Ok(())
}

/// Card refunds the issuer was not told of, created before a time: (refund, order, amount).
/// A card refund the issuer was not told of.
pub(crate) struct PendingCardRefund {
    pub refund: i64,
    pub order: OrderId,
    pub amount_minor: i64,
    /// For an order paid in another currency: the payer's share, in the payer's currency.
    pub payer_amount_minor: Option<i64>,
}

pub(crate) fn pending_card_refunds(c: &mut dyn Conn, before_ms: i64, limit: i64) -> Result<Vec<PendingCardRefund>> {
    let rows = c.query(
        "SELECT id, order_id, amount, payer_amount FROM refunds WHERE card_state = $1 AND created_at < $2 LIMIT $3",
        params![CardRefund::Pending, before_ms, limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok(PendingCardRefund {
                refund: r.int("id")?,
                order: OrderId::new(r.int("order_id")?),
                amount_minor: r.int("amount")?,
                payer_amount_minor: r.opt_int("payer_amount")?,
            })
        })
        .collect()
}

/// `false` when the code is taken.
pub(crate) fn insert_code(c: &mut dyn Conn, code: &str, person: PersonId, now_ms: i64, expires_at_ms: i64) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO payment_codes (code, person_id, created_at, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING",
        params![code, person, now_ms, expires_at_ms],
    )?;
    Ok(inserted == 1)
}

/// A payment code: (person, expires_at, the order it paid).
pub(crate) fn code(c: &mut dyn Conn, code: &str) -> Result<Option<(PersonId, i64, Option<OrderId>)>> {
    let row = c.query_one("SELECT person_id, expires_at, order_id FROM payment_codes WHERE code = $1", params![code])?;
    row.map(|r| Ok((PersonId::new(r.int("person_id")?), r.int("expires_at")?, r.opt_int("order_id")?.map(OrderId::new)))).transpose()
}

/// Bind a code to its one order (only while unused and unexpired).
pub(crate) fn bind_code(c: &mut dyn Conn, code: &str, order: OrderId, now_ms: i64) -> Result<bool> {
    Ok(c.execute(
        "UPDATE payment_codes SET order_id = $2 WHERE code = $1 AND order_id IS NULL AND expires_at > $3",
        params![code, order, now_ms],
    )? == 1)
}

pub(crate) fn purge_codes(c: &mut dyn Conn, before_ms: i64, limit: i64) -> Result<u64> {
    c.execute(
        "DELETE FROM payment_codes WHERE code IN (SELECT code FROM payment_codes WHERE expires_at < $1 LIMIT $2)",
        params![before_ms, limit],
    )
}

pub(crate) fn insert_static_code(
    c: &mut dyn Conn,
    id: i64,
    merchant: MerchantId,
    appid: &str,
    description: &str,
    notify_url: &str,
    now_ms: i64,
) -> Result<()> {
    c.execute(
        "INSERT INTO static_codes (id, merchant_id, appid, description, notify_url, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![id, merchant, appid, description, notify_url, now_ms],
    )?;
    Ok(())
}

/// A static code: (merchant, appid, description, notify_url).
/// A merchant's static codes, newest first (their `code_url` left for the caller to fill).
pub(crate) fn static_codes_of(c: &mut dyn Conn, merchant: MerchantId, limit: i64) -> Result<Vec<super::StaticCode>> {
    c.query(
        "SELECT id, appid, description, notify_url, created_at FROM static_codes WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        params![merchant, limit],
    )?
    .iter()
    .map(|r| {
        Ok(super::StaticCode {
            id: r.int("id")?,
            code_url: String::new(),
            appid: r.text("appid")?,
            description: r.text("description")?,
            notify_url: r.text("notify_url")?,
            created_at_ms: r.int("created_at")?,
        })
    })
    .collect()
}

pub(crate) fn static_code(c: &mut dyn Conn, id: i64) -> Result<Option<(MerchantId, String, String, String)>> {
    let row = c.query_one("SELECT merchant_id, appid, description, notify_url FROM static_codes WHERE id = $1", params![id])?;
    row.map(|r| Ok((MerchantId::new(r.int("merchant_id")?), r.text("appid")?, r.text("description")?, r.text("notify_url")?))).transpose()
}

/// One merchant's day in one currency, before it is settled (amounts in minor units).
pub(crate) struct DayTotal {
    pub merchant: MerchantId,
    pub currency: Currency,
    pub payments: i64,
    pub gross: i64,
    pub fees: i64,
    pub refunds: i64,
}

/// One day's takings per merchant and currency.
/// (Of the merchants whose business day is counted in `time_zone`.)
pub(crate) fn day_totals(c: &mut dyn Conn, start_ms: i64, end_ms: i64, time_zone: &str) -> Result<Vec<DayTotal>> {
    let rows = c.query(
        "SELECT merchant_id, currency, CAST(SUM(payments) AS BIGINT) AS payments, CAST(SUM(gross) AS BIGINT) AS gross, CAST(SUM(fees) AS BIGINT) AS fees, CAST(SUM(refunds) AS BIGINT) AS refunds FROM (
            SELECT merchant_id, currency, COUNT(*) AS payments, SUM(total) AS gross, SUM(fee) AS fees, 0 AS refunds FROM orders WHERE success_at >= $1 AND success_at < $2 AND merchant_id IN (SELECT id FROM merchants WHERE time_zone = $3) GROUP BY merchant_id, currency
            UNION ALL SELECT merchant_id, currency, 0, 0, 0, SUM(amount) FROM refunds WHERE created_at >= $1 AND created_at < $2 AND merchant_id IN (SELECT id FROM merchants WHERE time_zone = $3) GROUP BY merchant_id, currency
         ) t GROUP BY merchant_id, currency ORDER BY merchant_id, currency",
        params![start_ms, end_ms, time_zone],
    )?;
    rows.iter()
        .map(|r| {
            let currency = Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))?;
            Ok(DayTotal {
                merchant: MerchantId::new(r.int("merchant_id")?),
                currency,
                payments: r.int("payments")?,
                gross: r.int("gross")?,
                fees: r.int("fees")?,
                refunds: r.int("refunds")?,
            })
        })
        .collect()
}

/// A line of a merchant's trade bill: a payment, or a refund of one.
pub(crate) struct BillLine {
    pub refund: bool,
    pub at_ms: i64,
    /// The order's row id for a payment, the refund's for a refund (the page cursor's tie-break).
    pub row_id: i64,
    pub order: Order,
    pub refund_id: String,
    pub out_refund_no: String,
    pub refund_minor: i64,
    /// What the payer got back, in the payer's currency, when the payment was exchanged.
    pub payer_refund_minor: Option<i64>,
}

/// Where a page of bill lines starts: after this `(time, row id)` (keyset pagination: each page is one
/// range read of an index, whatever the day's size).
pub(crate) type BillCursor = (i64, i64);

/// A page of a merchant's payments of `[after.0, end_ms)` after `after`, in `(success_at, id)` order.
pub(crate) fn bill_payments(c: &mut dyn Conn, merchant: MerchantId, after: BillCursor, end_ms: i64, limit: i64) -> Result<Vec<BillLine>> {
    let rows = c.query(
        &format!(
            "SELECT {ORDER} FROM {ORDER_FROM} WHERE o.merchant_id = $1 AND o.success_at IS NOT NULL AND (o.success_at, o.id) > ($2, $3) AND o.success_at < $4 ORDER BY o.success_at, o.id LIMIT $5"
        ),
        params![merchant, after.0, after.1, end_ms, limit],
    )?;
    rows.iter()
        .map(|r| {
            let order = order_from(r)?;
            Ok(BillLine {
                refund: false,
                at_ms: order.success_at_ms.ok_or_else(|| corrupt("success time"))?,
                row_id: order.id.get(),
                order,
                refund_id: String::new(),
                out_refund_no: String::new(),
                refund_minor: 0,
                payer_refund_minor: None,
            })
        })
        .collect()
}

/// A page of a merchant's refunds of `[after.0, end_ms)` after `after`, in `(created_at, id)` order, each
/// with its order (one join, not a read per refund).
pub(crate) fn bill_refunds(c: &mut dyn Conn, merchant: MerchantId, after: BillCursor, end_ms: i64, limit: i64) -> Result<Vec<BillLine>> {
    let rows = c.query(
        &format!(
            "SELECT {ORDER}, r.id AS refund_row, r.refund_id, r.out_refund_no, r.amount AS refund_amount, r.payer_amount AS refund_payer_amount, r.created_at AS refunded_at
             FROM refunds r JOIN orders o ON o.id = r.order_id JOIN merchants m ON m.id = o.merchant_id LEFT JOIN merchants sp ON sp.id = o.sp_merchant_id
             WHERE r.merchant_id = $1 AND (r.created_at, r.id) > ($2, $3) AND r.created_at < $4 ORDER BY r.created_at, r.id LIMIT $5"
        ),
        params![merchant, after.0, after.1, end_ms, limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok(BillLine {
                refund: true,
                at_ms: r.int("refunded_at")?,
                row_id: r.int("refund_row")?,
                order: order_from(r)?,
                refund_id: r.text("refund_id")?,
                out_refund_no: r.text("out_refund_no")?,
                refund_minor: r.int("refund_amount")?,
                payer_refund_minor: r.opt_int("refund_payer_amount")?,
            })
        })
        .collect()
}

/// The regions of the people who paid a merchant in a currency in `[start_ms, end_ms)`.
pub(crate) fn payer_regions(c: &mut dyn Conn, merchant: MerchantId, currency: Currency, start_ms: i64, end_ms: i64) -> Result<Vec<String>> {
    let rows = c.query(
        "SELECT DISTINCT p.region FROM orders o JOIN people p ON p.id = o.payer_id WHERE o.merchant_id = $1 AND o.currency = $2 AND o.success_at >= $3 AND o.success_at < $4 ORDER BY p.region",
        params![merchant, currency.numeric(), start_ms, end_ms],
    )?;
    rows.iter().map(|r| r.text("region")).collect()
}

/// `bench bills`' fixture: a merchant's day of `orders` paid orders, spread evenly over
/// `[start_ms, start_ms + span_ms)`, each of `total_minor` CNY with `fee_minor` taken, and a refund of
/// `refund_minor` of every `refund_every`-th, as the payment and refund paths write their rows. A few
/// set-wise statements (a recursive series), so a million rows import in seconds. It writes rows only, no
/// ledger transfers: it is for measuring how a day is read (bills, settlement), on a bench database.
pub(crate) fn import_paid_day(c: &mut dyn Conn, day: &super::ImportedDay<'_>) -> Result<()> {
    let d = day;
    c.execute(
        "INSERT INTO orders (id, transaction_id, merchant_id, appid, out_trade_no, trade_type, description, notify_url, currency, total, request_hash, trade_state, payer_openid_paid, funding, bank_type, fee, refunded, created_at, expires_at, success_at)
         WITH RECURSIVE n(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i + 1 < CAST($1 AS BIGINT))
         SELECT CAST($2 AS BIGINT) + i, 'bench' || CAST(CAST($2 AS BIGINT) + i AS TEXT), (SELECT id FROM merchants WHERE mchid = $3), $4, 'bench-' || CAST(i AS TEXT), 'NATIVE', 'Bench order', 'http://127.0.0.1:9/notify', 156, CAST($5 AS BIGINT), $6, 'SUCCESS', 'bench-payer', 'balance', 'OTHERS', CAST($7 AS BIGINT), 0,
                CAST($8 AS BIGINT) + (i * CAST($9 AS BIGINT)) / CAST($1 AS BIGINT), CAST($8 AS BIGINT) + (i * CAST($9 AS BIGINT)) / CAST($1 AS BIGINT) + 7200000, CAST($8 AS BIGINT) + (i * CAST($9 AS BIGINT)) / CAST($1 AS BIGINT)
         FROM n",
        params![d.orders, d.first_id, d.mchid, d.appid, d.total_minor, vec![0u8; 32], d.fee_minor, d.start_ms, d.span_ms],
    )?;
    c.execute(
        "INSERT INTO refunds (id, refund_id, merchant_id, order_id, out_refund_no, amount, currency, status, channel, request_hash, created_at, success_at)
         SELECT o.id, 'benchrefund' || CAST(o.id AS TEXT), o.merchant_id, o.id, 'bench-refund-' || CAST(o.id AS TEXT), CAST($4 AS BIGINT), 156, 'SUCCESS', 'BALANCE', $5, o.success_at + 1, o.success_at + 1
         FROM orders o WHERE o.id >= CAST($1 AS BIGINT) AND o.id < CAST($1 AS BIGINT) + CAST($2 AS BIGINT) AND (o.id - CAST($1 AS BIGINT)) % CAST($3 AS BIGINT) = 0",
        params![d.first_id, d.orders, d.refund_every, d.refund_minor, vec![0u8; 32]],
    )?;
    c.execute(
        "UPDATE orders SET refunded = CAST($4 AS BIGINT) WHERE id >= CAST($1 AS BIGINT) AND id < CAST($1 AS BIGINT) + CAST($2 AS BIGINT) AND (id - CAST($1 AS BIGINT)) % CAST($3 AS BIGINT) = 0",
        params![d.first_id, d.orders, d.refund_every, d.refund_minor],
    )?;
    Ok(())
}
