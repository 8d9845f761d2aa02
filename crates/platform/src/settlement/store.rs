//! The settlement domain's storage: `settlements`.

use super::Settlement;
use crate::MerchantId;
use money::Currency;
use store::{Conn, Effect, Result, StoreError, params};

/// A day's settlement row (a guard: each merchant, day and currency settles once).
pub(crate) fn insert(s: &Settlement, id: i64, merchant: MerchantId) -> Effect {
    Effect {
        sql: "INSERT INTO settlements (id, merchant_id, day, currency, payments, gross, refunds, fees, carry_in, payout, carry_out, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (merchant_id, day, currency) DO NOTHING",
        params: params![
            id,
            merchant,
            s.day.as_str(),
            s.currency.numeric(),
            s.payments,
            s.gross_minor,
            s.refunds_minor,
            s.fees_minor,
            s.carry_in_minor,
            s.payout_minor,
            s.carry_out_minor,
            s.created_at_ms
        ]
        .to_vec(),
    }
}

/// The shortfall carried into `day` for a merchant and currency (the last earlier day's carry-out).
pub(crate) fn carry_in(c: &mut dyn Conn, merchant: MerchantId, currency: Currency, day: &str) -> Result<i64> {
    let row = c.query_one(
        "SELECT carry_out FROM settlements WHERE merchant_id = $1 AND currency = $2 AND day < $3 ORDER BY day DESC LIMIT 1",
        params![merchant, currency.numeric(), day],
    )?;
    Ok(row.map(|r| r.int("carry_out")).transpose()?.unwrap_or(0))
}

/// Merchants (of a time zone) and currencies that carry a shortfall into `day` (they settle even
/// without takings).
pub(crate) fn carrying(c: &mut dyn Conn, day: &str, time_zone: &str) -> Result<Vec<(MerchantId, Currency)>> {
    let rows = c.query(
        "SELECT s.merchant_id, s.currency FROM settlements s WHERE s.carry_out < 0 AND s.day < $1 AND s.merchant_id IN (SELECT id FROM merchants WHERE time_zone = $2) AND s.day = (SELECT MAX(p.day) FROM settlements p WHERE p.merchant_id = s.merchant_id AND p.currency = s.currency AND p.day < $1)",
        params![day, time_zone],
    )?;
    rows.iter()
        .map(|r| {
            let currency = Currency::from_numeric(r.uint("currency")?).map_err(|e| StoreError::Database(e.to_string()))?;
            Ok((MerchantId::new(r.int("merchant_id")?), currency))
        })
        .collect()
}

/// The settlements of a day, with the merchant of each (the caller names it).
pub(crate) fn of_day(c: &mut dyn Conn, day: &str) -> Result<Vec<(MerchantId, Settlement, i64)>> {
    let rows = c.query(
        "SELECT id, merchant_id, day, currency, payments, gross, refunds, fees, carry_in, payout, carry_out, created_at FROM settlements WHERE day = $1 ORDER BY merchant_id, currency",
        params![day],
    )?;
    rows.iter()
        .map(|r| {
            let s = Settlement {
                mchid: String::new(),
                day: r.text("day")?,
                currency: Currency::from_numeric(r.uint("currency")?).map_err(|e| StoreError::Database(e.to_string()))?,
                payments: r.int("payments")?,
                gross_minor: r.int("gross")?,
                refunds_minor: r.int("refunds")?,
                fees_minor: r.int("fees")?,
                carry_in_minor: r.int("carry_in")?,
                payout_minor: r.int("payout")?,
                carry_out_minor: r.int("carry_out")?,
                created_at_ms: r.int("created_at")?,
            };
            Ok((MerchantId::new(r.int("merchant_id")?), s, r.int("id")?))
        })
        .collect()
}

/// What a settlement took and paid out, for the fund-flow bill (minor units).
pub(crate) struct Flows {
    pub id: i64,
    pub currency: Currency,
    pub fees: i64,
    pub payout: i64,
    pub created_at_ms: i64,
}

/// A merchant's settlements of a day, for the fund-flow bill.
pub(crate) fn of_merchant_day(c: &mut dyn Conn, merchant: MerchantId, day: &str) -> Result<Vec<Flows>> {
    let rows = c.query(
        "SELECT id, currency, fees, payout, created_at FROM settlements WHERE merchant_id = $1 AND day = $2",
        params![merchant, day],
    )?;
    rows.iter()
        .map(|r| {
            let currency = Currency::from_numeric(r.uint("currency")?).map_err(|e| StoreError::Database(e.to_string()))?;
            Ok(Flows { id: r.int("id")?, currency, fees: r.int("fees")?, payout: r.int("payout")?, created_at_ms: r.int("created_at")? })
        })
        .collect()
}

/// The time zones merchants' days are counted in.
pub(crate) fn time_zones(c: &mut dyn Conn) -> Result<Vec<String>> {
    let rows = c.query("SELECT DISTINCT time_zone FROM merchants ORDER BY time_zone", &[])?;
    rows.iter().map(|r| r.text("time_zone")).collect()
}

const SETTLEMENT: &str = "s.id, s.merchant_id, s.day, s.currency, s.payments, s.gross, s.refunds, s.fees, s.carry_in, s.payout, s.carry_out, s.created_at, m.mchid";

fn settlement_from(r: &store::Row) -> Result<(i64, Settlement)> {
    Ok((
        r.int("id")?,
        Settlement {
            mchid: r.text("mchid")?,
            day: r.text("day")?,
            currency: Currency::from_numeric(r.uint("currency")?).map_err(|e| StoreError::Database(e.to_string()))?,
            payments: r.int("payments")?,
            gross_minor: r.int("gross")?,
            refunds_minor: r.int("refunds")?,
            fees_minor: r.int("fees")?,
            carry_in_minor: r.int("carry_in")?,
            payout_minor: r.int("payout")?,
            carry_out_minor: r.int("carry_out")?,
            created_at_ms: r.int("created_at")?,
        },
    ))
}

/// A partner institution's sub-merchants' settlements of a day, by mchid and currency.
pub(crate) fn of_partner_day(c: &mut dyn Conn, partner: MerchantId, day: &str) -> Result<Vec<(i64, Settlement)>> {
    let rows = c.query(
        &format!("SELECT {SETTLEMENT} FROM settlements s JOIN merchants m ON m.id = s.merchant_id WHERE s.day = $1 AND m.parent_id = $2 ORDER BY m.mchid, s.currency"),
        params![day, partner],
    )?;
    rows.iter().map(settlement_from).collect()
}

/// A merchant's settlements from `from_day` to `to_day` (inclusive), oldest first: a page and the total.
pub(crate) fn of_merchant(
    c: &mut dyn Conn,
    merchant: MerchantId,
    from_day: &str,
    to_day: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<(i64, Settlement)>, i64)> {
    let rows = c.query(
        &format!("SELECT {SETTLEMENT} FROM settlements s JOIN merchants m ON m.id = s.merchant_id WHERE s.merchant_id = $1 AND s.day >= $2 AND s.day <= $3 ORDER BY s.day, s.currency LIMIT $4 OFFSET $5"),
        params![merchant, from_day, to_day, limit, offset],
    )?;
    let total = c.query_one(
        "SELECT COUNT(*) AS n FROM settlements WHERE merchant_id = $1 AND day >= $2 AND day <= $3",
        params![merchant, from_day, to_day],
    )?;
    Ok((rows.iter().map(settlement_from).collect::<Result<Vec<_>>>()?, total.map(|r| r.int("n")).transpose()?.unwrap_or(0)))
}
