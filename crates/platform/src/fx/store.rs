//! The fx domain's storage: `fx_rates`, `fx_pairs`, `fx_markups`, `fx_quotes`, `fx_executions`. The only
//! place their SQL lives.

use super::{Channel, Execution, ExecutionKind, Quote, ReferenceRate};
use crate::PersonId;
use money::{Currency, Money, Rate, Rounding};
use store::{Conn, Effect, Result, Row, StoreError, params};

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("a stored {what} does not parse"))
}

fn currency(r: &Row, column: &str) -> Result<Currency> {
    Currency::from_numeric(r.uint(column)?).map_err(|_| corrupt("currency"))
}

fn rate(r: &Row, base: Currency, quote: Currency, prefix: &str) -> Result<Rate> {
    let mantissa = u64::try_from(r.int(&format!("{prefix}mantissa"))?).map_err(|_| corrupt("rate"))?;
    let scale = u8::try_from(r.int(&format!("{prefix}scale"))?).map_err(|_| corrupt("rate"))?;
    Rate::new(base, quote, mantissa, scale).map_err(|_| corrupt("rate"))
}

fn money(r: &Row, column: &str, currency: Currency) -> Result<Money> {
    Money::from_minor(r.int(column)?, currency).map_err(|_| corrupt("amount"))
}

fn rounding_text(r: Rounding) -> &'static str {
    match r {
        Rounding::Down => "down",
        Rounding::Up => "up",
        Rounding::Floor => "floor",
        Rounding::Ceiling => "ceiling",
        Rounding::HalfUp => "half_up",
        Rounding::HalfEven => "half_even",
    }
}

pub(super) fn rounding_of(text: &str) -> Option<Rounding> {
    [Rounding::Down, Rounding::Up, Rounding::Floor, Rounding::Ceiling, Rounding::HalfUp, Rounding::HalfEven]
        .into_iter()
        .find(|r| rounding_text(*r) == text)
}

pub fn rounding_name(r: Rounding) -> &'static str {
    rounding_text(r)
}

fn reference_from(r: &Row) -> Result<ReferenceRate> {
    let (base, quote) = (currency(r, "base_currency")?, currency(r, "quote_currency")?);
    Ok(ReferenceRate {
        id: r.int("id")?,
        rate: rate(r, base, quote, "")?,
        source: r.text("source")?,
        effective_at_ms: r.int("effective_at")?,
    })
}

const REFERENCE: &str = "id, base_currency, quote_currency, mantissa, scale, source, effective_at";

/// Insert a rate; the same pair, source and time again with the same value changes nothing (an import
/// run twice), with another value it is a correction and replaces it (never silently dropped). `true`
/// when something was written.
pub(super) fn insert_rate(c: &mut dyn Conn, id: i64, rate: &Rate, source: &str, effective_at_ms: i64, now_ms: i64) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO fx_rates (id, base_currency, quote_currency, mantissa, scale, source, effective_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (base_currency, quote_currency, source, effective_at) DO UPDATE SET mantissa = excluded.mantissa, scale = excluded.scale, created_at = excluded.created_at \
         WHERE fx_rates.mantissa <> excluded.mantissa OR fx_rates.scale <> excluded.scale",
        params![
            id,
            i64::from(rate.base().numeric()),
            i64::from(rate.quote().numeric()),
            i64::try_from(rate.mantissa()).map_err(|_| corrupt("rate"))?,
            i64::from(rate.scale()),
            source,
            effective_at_ms,
            now_ms
        ],
    )?;
    Ok(inserted == 1)
}

/// The rate in force at `at_ms` for a pair: the latest effective by then (an operator's rate before a
/// feed's at the same instant).
pub(super) fn latest_rate(c: &mut dyn Conn, base: Currency, quote: Currency, at_ms: i64) -> Result<Option<ReferenceRate>> {
    let row = c.query_one(
        &format!("SELECT {REFERENCE} FROM fx_rates WHERE base_currency = $1 AND quote_currency = $2 AND effective_at <= $3 ORDER BY effective_at DESC, CASE WHEN source LIKE 'operator%' THEN 0 ELSE 1 END, id DESC LIMIT 1"),
        params![i64::from(base.numeric()), i64::from(quote.numeric()), at_ms],
    )?;
    row.as_ref().map(reference_from).transpose()
}

/// A pair's history, newest first.
pub(super) fn history(c: &mut dyn Conn, base: Currency, quote: Currency, limit: i64) -> Result<Vec<ReferenceRate>> {
    let rows = c.query(
        &format!(
            "SELECT {REFERENCE} FROM fx_rates WHERE base_currency = $1 AND quote_currency = $2 ORDER BY effective_at DESC, id DESC LIMIT $3"
        ),
        params![i64::from(base.numeric()), i64::from(quote.numeric()), limit],
    )?;
    rows.iter().map(reference_from).collect()
}

pub(super) fn set_max_age(c: &mut dyn Conn, base: Currency, quote: Currency, max_age_s: i64, now_ms: i64) -> Result<()> {
    c.execute(
        "INSERT INTO fx_pairs (base_currency, quote_currency, max_age_s, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (base_currency, quote_currency) DO UPDATE SET max_age_s = $3, updated_at = $4",
        params![i64::from(base.numeric()), i64::from(quote.numeric()), max_age_s, now_ms],
    )?;
    Ok(())
}

pub(super) fn max_age_s(c: &mut dyn Conn, base: Currency, quote: Currency) -> Result<Option<i64>> {
    let row = c.query_one(
        "SELECT max_age_s FROM fx_pairs WHERE base_currency = $1 AND quote_currency = $2",
        params![i64::from(base.numeric()), i64::from(quote.numeric())],
    )?;
    row.map(|r| r.int("max_age_s")).transpose()
}

/// 0 for a side means any currency.
/// The markup set for exactly this pair (0: any) and channel.
pub(super) fn markup_set(c: &mut dyn Conn, base: u16, quote: u16, channel: Channel) -> Result<Option<i64>> {
    c.query_one(
        "SELECT markup_bps FROM fx_markups WHERE base_currency = $1 AND quote_currency = $2 AND channel = $3",
        params![i64::from(base), i64::from(quote), channel],
    )?
    .map(|r| r.int("markup_bps"))
    .transpose()
}

/// Set a markup; the one it replaced, if any.
pub(super) fn set_markup(c: &mut dyn Conn, base: u16, quote: u16, channel: Channel, bps: i64, now_ms: i64) -> Result<Option<i64>> {
    let before = markup_set(c, base, quote, channel)?;
    c.execute(
        "INSERT INTO fx_markups (base_currency, quote_currency, channel, markup_bps, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (base_currency, quote_currency, channel) DO UPDATE SET markup_bps = $4, updated_at = $5",
        params![i64::from(base), i64::from(quote), channel, bps, now_ms],
    )?;
    Ok(before)
}

/// The most specific markup for a pair and channel: the pair's own, then one side's, then any.
pub(super) fn markup_bps(c: &mut dyn Conn, base: Currency, quote: Currency, channel: Channel) -> Result<Option<i64>> {
    let row = c.query_one(
        "SELECT markup_bps FROM fx_markups WHERE channel = $3 AND base_currency IN ($1, 0) AND quote_currency IN ($2, 0) ORDER BY (base_currency = 0), (quote_currency = 0) LIMIT 1",
        params![i64::from(base.numeric()), i64::from(quote.numeric()), channel],
    )?;
    row.map(|r| r.int("markup_bps")).transpose()
}

const QUOTE: &str = "id, person_id, channel, sell_currency, sell_amount, buy_currency, buy_amount, rate_mantissa, rate_scale, mid_mantissa, mid_scale, mid_source, markup_bps, rounding, created_at, expires_at, used_at, used_by";

fn quote_from(r: &Row) -> Result<Quote> {
    let (sell, buy) = (currency(r, "sell_currency")?, currency(r, "buy_currency")?);
    Ok(Quote {
        id: r.int("id")?,
        person: PersonId::new(r.int("person_id")?),
        channel: Channel::parse(&r.text("channel")?).ok_or_else(|| corrupt("channel"))?,
        sell: money(r, "sell_amount", sell)?,
        buy: money(r, "buy_amount", buy)?,
        rate: rate(r, buy, sell, "rate_")?,
        mid: rate(r, buy, sell, "mid_")?,
        mid_source: r.text("mid_source")?,
        markup_bps: u32::try_from(r.int("markup_bps")?).map_err(|_| corrupt("markup"))?,
        rounding: rounding_of(&r.text("rounding")?).ok_or_else(|| corrupt("rounding"))?,
        created_at_ms: r.int("created_at")?,
        expires_at_ms: r.int("expires_at")?,
        used_at_ms: r.opt_int("used_at")?,
        used_by: r.opt_int("used_by")?,
    })
}

pub(super) fn insert_quote(c: &mut dyn Conn, q: &Quote) -> Result<()> {
    c.execute(
        &format!(
            "INSERT INTO fx_quotes ({QUOTE}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL, NULL)"
        ),
        params![
            q.id,
            q.person,
            q.channel,
            i64::from(q.sell.currency().numeric()),
            q.sell.minor(),
            i64::from(q.buy.currency().numeric()),
            q.buy.minor(),
            i64::try_from(q.rate.mantissa()).map_err(|_| corrupt("rate"))?,
            i64::from(q.rate.scale()),
            i64::try_from(q.mid.mantissa()).map_err(|_| corrupt("rate"))?,
            i64::from(q.mid.scale()),
            q.mid_source.as_str(),
            i64::from(q.markup_bps),
            rounding_text(q.rounding),
            q.created_at_ms,
            q.expires_at_ms
        ],
    )?;
    Ok(())
}

pub(super) fn quote(c: &mut dyn Conn, id: i64) -> Result<Option<Quote>> {
    c.query_one(&format!("SELECT {QUOTE} FROM fx_quotes WHERE id = $1"), params![id])?.as_ref().map(quote_from).transpose()
}

/// The guard that uses a quote once, for `by` (an order or a conversion), while it is valid.
pub(crate) fn use_quote(id: i64, person: PersonId, by: i64, now_ms: i64) -> Effect {
    Effect {
        sql: "UPDATE fx_quotes SET used_at = $4, used_by = $3 WHERE id = $1 AND person_id = $2 AND used_at IS NULL AND expires_at > $4",
        params: params![id, person, by, now_ms].to_vec(),
    }
}

const EXECUTION: &str = "id, kind, person_id, order_id, quote_id, sell_currency, sell_amount, buy_currency, buy_amount, rate_mantissa, rate_scale, mid_mantissa, mid_scale, mid_source, markup_bps, rounding, spread_minor, cross_border, payer_region, merchant_country, mcc, purpose_code, created_at";

/// The record of an exchange; written with the money it explains (an effect: once, with its chain).
/// An exchange that did not happen after all (its payment was declined): its record goes.
pub(crate) fn delete_execution(id: i64) -> Effect {
    Effect { sql: "DELETE FROM fx_executions WHERE id = $1", params: params![id].to_vec() }
}

pub(crate) fn insert_execution(e: &Execution) -> Effect {
    Effect {
        sql: "INSERT INTO fx_executions (id, kind, person_id, order_id, quote_id, sell_currency, sell_amount, buy_currency, buy_amount, rate_mantissa, rate_scale, mid_mantissa, mid_scale, mid_source, markup_bps, rounding, spread_minor, cross_border, payer_region, merchant_country, mcc, purpose_code, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) ON CONFLICT DO NOTHING",
        params: params![
            e.id,
            e.kind,
            e.person,
            e.order,
            e.quote,
            i64::from(e.sell.currency().numeric()),
            e.sell.minor(),
            i64::from(e.buy.currency().numeric()),
            e.buy.minor(),
            i64::try_from(e.rate.mantissa()).unwrap_or(i64::MAX),
            i64::from(e.rate.scale()),
            i64::try_from(e.mid.mantissa()).unwrap_or(i64::MAX),
            i64::from(e.mid.scale()),
            e.mid_source.clone(),
            i64::from(e.markup_bps),
            rounding_text(e.rounding),
            e.spread_minor,
            i64::from(e.cross_border),
            e.payer_region.clone(),
            e.merchant_country.clone(),
            e.mcc.clone(),
            e.purpose_code.clone(),
            e.created_at_ms
        ]
        .to_vec(),
    }
}

fn execution_from(r: &Row) -> Result<Execution> {
    let (sell, buy) = (currency(r, "sell_currency")?, currency(r, "buy_currency")?);
    Ok(Execution {
        id: r.int("id")?,
        kind: ExecutionKind::parse(&r.text("kind")?).ok_or_else(|| corrupt("kind"))?,
        person: PersonId::new(r.int("person_id")?),
        order: r.opt_int("order_id")?,
        quote: r.opt_int("quote_id")?,
        sell: money(r, "sell_amount", sell)?,
        buy: money(r, "buy_amount", buy)?,
        rate: rate(r, buy, sell, "rate_")?,
        mid: rate(r, buy, sell, "mid_")?,
        mid_source: r.text("mid_source")?,
        markup_bps: u32::try_from(r.int("markup_bps")?).map_err(|_| corrupt("markup"))?,
        rounding: rounding_of(&r.text("rounding")?).ok_or_else(|| corrupt("rounding"))?,
        spread_minor: r.int("spread_minor")?,
        cross_border: r.int("cross_border")? == 1,
        payer_region: r.text("payer_region")?,
        merchant_country: r.opt_text("merchant_country")?,
        mcc: r.opt_text("mcc")?,
        purpose_code: r.opt_text("purpose_code")?,
        created_at_ms: r.int("created_at")?,
    })
}

/// Exchanges made in `[start_ms, end_ms)`, oldest first, at most `limit`.
pub(super) fn executions(c: &mut dyn Conn, start_ms: i64, end_ms: i64, limit: i64) -> Result<Vec<Execution>> {
    let rows = c.query(
        &format!("SELECT {EXECUTION} FROM fx_executions WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, id LIMIT $3"),
        params![start_ms, end_ms, limit],
    )?;
    rows.iter().map(execution_from).collect()
}

/// What the markups earned, per sold currency: (currency, Σ spread_minor).
pub(super) fn spread_income(c: &mut dyn Conn) -> Result<Vec<(Currency, i64)>> {
    let rows = c.query("SELECT sell_currency, CAST(SUM(spread_minor) AS BIGINT) AS spread FROM fx_executions GROUP BY sell_currency ORDER BY sell_currency", &[])?;
    rows.iter().map(|r| Ok((currency(r, "sell_currency")?, r.int("spread")?))).collect()
}

/// The exchange that executed a quote, if any.
pub(super) fn execution_by_quote(c: &mut dyn Conn, quote: i64) -> Result<Option<Execution>> {
    c.query_one(&format!("SELECT {EXECUTION} FROM fx_executions WHERE quote_id = $1"), params![quote])?
        .as_ref()
        .map(execution_from)
        .transpose()
}
