//! Payment beyond borders: reference (mid) rates with their history and source, the platform's markup
//! per pair and channel, quotes that lock a price for a while and execute once, conversions between a
//! person's own balances, and what the exchanges left: the FX positions and the report a regulator
//! needs. (Paying a merchant in another currency is `payments::pay`, with the price from here.)
//!
//! Rates keep their direction: `quote` per one `base`, exactly as published; an inverse is never
//! derived. A pair with no published rate is priced through the pivot currency (EUR, as the ECB
//! publishes) only when neither side is the pivot, from two published legs. A rate older than its
//! pair's maximum age is never used: what needs it is refused (`RATE_STALE`).

mod conversions;
pub mod ecb;
pub mod pricing;
mod store;

pub use store::rounding_name;
pub(crate) use store::{delete_execution, insert_execution, use_quote};

use crate::cache::TimedCache;
use crate::core::Core;
use crate::people::People;
use crate::wallet::{Wallet, parse_currency};
use crate::{Conflict, PersonId, PlatformError, Result, chart, ids};
use money::{Currency, Money, Rate, Rounding};
use serde::Serialize;
use std::sync::Arc;

pub use conversions::Conversion;

text_enum! {
    /// What an exchange is for: its markup may differ.
    pub enum Channel {
        Payment => "payment",
        CardPayment => "card_payment",
        Conversion => "conversion",
    }
}

text_enum! {
    pub enum ExecutionKind {
        Payment => "payment",
        Refund => "refund",
        Conversion => "conversion",
    }
}

/// The operator's FX rules.
#[derive(Debug, Clone)]
pub struct FxRules {
    /// The currency cross rates go through (the ECB publishes everything against EUR).
    pub pivot: Currency,
    /// How long a quote holds its price.
    pub quote_ttl_s: u32,
    /// How old a rate may be when its pair sets no age of its own: four days covers the ECB's weekends
    /// and holidays (none on Saturday and Sunday, nor from Good Friday to Easter Monday).
    pub rate_max_age_s: u32,
    /// The markup where no rule names one.
    pub markup_bps: u32,
    /// Currencies merchants may be priced and settled in (besides every region's wallet currencies).
    pub currencies: Vec<Currency>,
}

impl Default for FxRules {
    fn default() -> FxRules {
        let codes =
            ["GBP", "HKD", "USD", "JPY", "CAD", "AUD", "EUR", "NZD", "KRW", "THB", "SGD", "CHF", "SEK", "DKK", "NOK", "RUB", "CNY", "MOP"];
        FxRules {
            pivot: Currency::from_code("EUR").expect("EUR"),
            quote_ttl_s: 120,
            rate_max_age_s: 4 * 86_400,
            markup_bps: 50,
            currencies: codes.iter().map(|c| Currency::from_code(c).expect("ISO 4217")).collect(),
        }
    }
}

/// Markups are at most 10%: anything more is a typo, not a price.
const MARKUP_BPS_MAX: i64 = 1_000;
/// History rows answered at most.
const HISTORY_MAX: i64 = 1_000;
/// Exchanges a day's report lists at most.
const REPORT_ROWS_MAX: i64 = 100_000;

/// A published rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceRate {
    pub id: i64,
    pub rate: Rate,
    pub source: String,
    pub effective_at_ms: i64,
}

/// A price: the customer rate (one unit bought costs `rate` sold) and the reference it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub rate: Rate,
    pub mid: Rate,
    pub mid_source: String,
    pub markup_bps: u32,
}

/// A quote: `person` may sell `sell` for `buy` until `expires_at_ms`, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub id: i64,
    pub person: PersonId,
    pub channel: Channel,
    pub sell: Money,
    pub buy: Money,
    pub rate: Rate,
    pub mid: Rate,
    pub mid_source: String,
    pub markup_bps: u32,
    pub rounding: Rounding,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub used_by: Option<i64>,
}

/// An exchange made, with what a regulator's report needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub id: i64,
    pub kind: ExecutionKind,
    pub person: PersonId,
    pub order: Option<i64>,
    pub quote: Option<i64>,
    pub sell: Money,
    pub buy: Money,
    pub rate: Rate,
    pub mid: Rate,
    pub mid_source: String,
    pub markup_bps: u32,
    pub rounding: Rounding,
    pub spread_minor: i64,
    pub cross_border: bool,
    pub payer_region: String,
    pub merchant_country: Option<String>,
    pub mcc: Option<String>,
    pub purpose_code: Option<String>,
    pub created_at_ms: i64,
}

/// What a person asks a quote for: exactly one of the amounts.
#[derive(Debug, Clone, Copy)]
pub struct QuoteRequest<'a> {
    pub sell_currency: &'a str,
    pub buy_currency: &'a str,
    pub sell_amount: Option<&'a str>,
    pub buy_amount: Option<&'a str>,
    pub channel: Channel,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub already_there: usize,
    pub days: usize,
    pub currencies: Vec<String>,
    pub skipped_na: usize,
    pub unknown_currencies: Vec<String>,
}

pub struct Fx {
    core: Arc<Core>,
    people: Arc<People>,
    wallet: Arc<Wallet>,
    /// (base, quote) → the rate in force, for a second (every instance sees a new rate within it).
    mids: TimedCache<(u16, u16), ReferenceRate>,
    /// (base, quote) → the pair's own maximum age, and (buy, sell, channel) → its markup, for a second
    /// each: every payment in another currency needs both, and they change rarely.
    max_ages: TimedCache<(u16, u16), Option<i64>>,
    markups: TimedCache<(u16, u16, &'static str), Option<i64>>,
}

fn currency_field(field: &'static str, text: &str) -> Result<Currency> {
    parse_currency(text).map_err(|_| PlatformError::invalid(field, "an ISO 4217 currency code"))
}

/// A markup's pair (numeric codes, 0: any) and channel, checked: the errors a request gets before it
/// waits for approval.
pub fn check_markup(base: Option<&str>, quote: Option<&str>, channel: &str, bps: i64) -> Result<(u16, u16, Channel)> {
    let side = |field, text: Option<&str>| -> Result<u16> { text.map(|t| currency_field(field, t).map(|c| c.numeric())).unwrap_or(Ok(0)) };
    let (base, quote) = (side("base", base)?, side("quote", quote)?);
    let channel = Channel::parse(channel).ok_or_else(|| PlatformError::invalid("channel", "payment, card_payment or conversion"))?;
    if !(0..=MARKUP_BPS_MAX).contains(&bps) {
        return Err(PlatformError::invalid("markup_bps", format!("0 to {MARKUP_BPS_MAX} basis points")));
    }
    Ok((base, quote, channel))
}

impl Fx {
    pub(crate) fn new(core: Arc<Core>, people: Arc<People>, wallet: Arc<Wallet>) -> Fx {
        let second = std::time::Duration::from_secs(1);
        Fx {
            core,
            people,
            wallet,
            mids: TimedCache::with_ttl(second),
            max_ages: TimedCache::with_ttl(second),
            markups: TimedCache::with_ttl(second),
        }
    }

    fn enabled(&self, field: &'static str, c: Currency) -> Result<Currency> {
        if self.core.config.currencies().contains(&c) {
            Ok(c)
        } else {
            Err(PlatformError::invalid(field, format!("{c} is not enabled on this platform")))
        }
    }

    /// Publish a rate (`quote` per one `base`) from `source`, in force from `effective_at_ms` (now when
    /// absent).
    pub async fn set_rate(&self, base: &str, quote: &str, rate: &str, effective_at_ms: Option<i64>, source: &str) -> Result<ReferenceRate> {
        self.record_rate(base, quote, rate, effective_at_ms, source, None).await
    }

    /// An operator's rate, in one transaction with its audit row.
    pub async fn set_rate_audited(
        &self,
        (base, quote, rate): (&str, &str, &str),
        effective_at_ms: Option<i64>,
        source: &str,
        audit: ::store::Effect,
    ) -> Result<ReferenceRate> {
        self.record_rate(base, quote, rate, effective_at_ms, source, Some(audit)).await
    }

    async fn record_rate(
        &self,
        base: &str,
        quote: &str,
        rate: &str,
        effective_at_ms: Option<i64>,
        source: &str,
        audit: Option<::store::Effect>,
    ) -> Result<ReferenceRate> {
        let base = self.enabled("base", currency_field("base", base)?)?;
        let quote = self.enabled("quote", currency_field("quote", quote)?)?;
        if base == quote {
            return Err(PlatformError::invalid("quote", "a rate is between two currencies"));
        }
        let rate = Rate::parse(rate, base, quote).map_err(|e| PlatformError::invalid("rate", e.to_string()))?;
        if source.is_empty() || source.len() > 64 || source.chars().any(char::is_control) {
            return Err(PlatformError::invalid("source", "1 to 64 characters"));
        }
        let now = self.core.now_ms();
        let at = effective_at_ms.unwrap_or(now);
        let (id, source_text) = (ids::object_id(now), source.to_string());
        self.core
            .transaction(move |c| {
                store::insert_rate(c, id, &rate, &source_text, at, now)?;
                audit.as_ref().map_or(Ok(0), |a| c.execute(a.sql, &a.params))
            })
            .await?;
        self.mids.forget(&(base.numeric(), quote.numeric()));
        Ok(ReferenceRate { id, rate, source: source.to_string(), effective_at_ms: at })
    }

    /// Import the ECB's CSV (one day or the whole history); rows already imported are left as they are.
    pub async fn import_ecb(&self, csv: &str) -> Result<ImportReport> {
        let (rates, skipped) = ecb::parse(csv).map_err(|e| PlatformError::invalid("body", e))?;
        let enabled = self.core.config.currencies();
        let rates: Vec<_> = rates.into_iter().filter(|p| enabled.contains(&p.rate.quote())).collect();
        let mut rows = Vec::with_capacity(rates.len());
        for p in &rates {
            rows.push((p.rate, ecb::effective_at_ms(p.date).map_err(PlatformError::Internal)?));
        }
        let now = self.core.now_ms();
        let ids: Vec<i64> = rows.iter().map(|_| ids::object_id(now)).collect();
        let inserted = self
            .core
            .transaction(move |c| {
                let mut n = 0;
                for ((rate, at), id) in rows.iter().zip(&ids) {
                    n += usize::from(store::insert_rate(c, *id, rate, "ecb", *at, now)?);
                }
                Ok(n)
            })
            .await?;
        let mut days: Vec<String> = rates.iter().map(|p| p.date.to_string()).collect();
        days.sort();
        days.dedup();
        let mut currencies: Vec<String> = rates.iter().map(|p| p.rate.quote().code().to_string()).collect();
        currencies.sort();
        currencies.dedup();
        Ok(ImportReport {
            imported: inserted,
            already_there: rates.len() - inserted,
            days: days.len(),
            currencies,
            skipped_na: skipped.skipped_na,
            unknown_currencies: skipped.unknown_currencies,
        })
    }

    /// A pair's published rates, newest first.
    pub async fn history(&self, base: &str, quote: &str, limit: i64) -> Result<Vec<ReferenceRate>> {
        let (base, quote) = (currency_field("base", base)?, currency_field("quote", quote)?);
        let limit = limit.clamp(1, HISTORY_MAX);
        self.core.read(move |c| store::history(c, base, quote, limit)).await
    }

    /// A markup for a pair and channel; either side may be `None` (any currency).
    /// The markup of a pair (a side `None`: any currency) and channel, now; in one transaction with
    /// `conditions` (an approval's guard and its audit row). `None`: a guard changed no row, nothing set.
    /// Answers the markup it replaced.
    pub async fn set_markup(
        &self,
        base: Option<&str>,
        quote: Option<&str>,
        channel: &str,
        bps: i64,
        conditions: ::store::Conditions,
    ) -> Result<Option<Option<i64>>> {
        let (base, quote, channel) = check_markup(base, quote, channel, bps)?;
        let now = self.core.now_ms();
        let done = self.core.transaction_with(conditions, move |c| store::set_markup(c, base, quote, channel, bps, now)).await?;
        // A markup may be a default for many pairs: this instance forgets them all.
        self.markups.clear();
        Ok(done)
    }

    /// The markup set for exactly this pair (a side `None`: any currency) and channel, if one is.
    pub async fn markup_set(&self, base: Option<&str>, quote: Option<&str>, channel: &str) -> Result<Option<i64>> {
        let (base, quote, channel) = check_markup(base, quote, channel, 0)?;
        self.core.read(move |c| store::markup_set(c, base, quote, channel)).await
    }

    /// How old a pair's rate may be (seconds) before what needs it is refused.
    pub async fn set_max_age(&self, base: &str, quote: &str, max_age_s: i64, audit: Option<::store::Effect>) -> Result<()> {
        let (base, quote) = (currency_field("base", base)?, currency_field("quote", quote)?);
        if !(60..=366 * 86_400).contains(&max_age_s) {
            return Err(PlatformError::invalid("max_age_s", "one minute to a year"));
        }
        let now = self.core.now_ms();
        self.core
            .transaction(move |c| {
                store::set_max_age(c, base, quote, max_age_s, now)?;
                crate::audit::with_audit(c, true, &audit)
            })
            .await?;
        self.max_ages.forget(&(base.numeric(), quote.numeric()));
        Ok(())
    }

    /// The published rate in force for a pair now, or at a past moment, if any (never stale-checked:
    /// see [`Fx::mid`]). Only the current rate is cached.
    async fn published(&self, base: Currency, quote: Currency, at_ms: Option<i64>) -> Result<Option<ReferenceRate>> {
        let key = (base.numeric(), quote.numeric());
        if at_ms.is_none()
            && let Some(r) = self.mids.get(&key)
        {
            return Ok(Some(r));
        }
        let at = at_ms.unwrap_or_else(|| self.core.now_ms());
        let found = self.core.read(move |c| store::latest_rate(c, base, quote, at)).await?;
        if at_ms.is_none()
            && let Some(r) = &found
        {
            self.mids.put(key, r.clone());
        }
        Ok(found)
    }

    /// A published rate that is fresh enough, or why not.
    async fn fresh(&self, base: Currency, quote: Currency, at_ms: Option<i64>) -> Result<Option<ReferenceRate>> {
        let Some(r) = self.published(base, quote, at_ms).await? else { return Ok(None) };
        let key = (base.numeric(), quote.numeric());
        let own = match self.max_ages.get(&key) {
            Some(own) => own,
            None => {
                let own = self.core.read(move |c| store::max_age_s(c, base, quote)).await?;
                self.max_ages.put(key, own);
                own
            }
        };
        let max_age_s = match own {
            Some(s) => s,
            None => i64::from(self.core.config.fx.rate_max_age_s),
        };
        if at_ms.unwrap_or_else(|| self.core.now_ms()) - r.effective_at_ms > max_age_s * 1000 {
            let when = crate::wallet::iso_utc(r.effective_at_ms);
            return Err(PlatformError::conflict(
                Conflict::RateStale,
                format!("the {base}/{quote} rate is from {when}, older than its {max_age_s} s: nothing is priced from it"),
            ));
        }
        Ok(Some(r))
    }

    /// The reference rate for buying `buy` with `sell` (one `buy` costs this much `sell`): published for
    /// the pair, else crossed through the pivot from two published legs.
    pub async fn mid(&self, buy: Currency, sell: Currency) -> Result<(Rate, String)> {
        self.mid_at(buy, sell, None).await
    }

    /// [`Fx::mid`] as it stood at a past moment (`None`: now).
    pub async fn mid_at(&self, buy: Currency, sell: Currency, at_ms: Option<i64>) -> Result<(Rate, String)> {
        if let Some(r) = self.fresh(buy, sell, at_ms).await? {
            return Ok((r.rate, format!("{}@{}", r.source, crate::wallet::iso_utc(r.effective_at_ms))));
        }
        let pivot = self.core.config.fx.pivot;
        if buy != pivot
            && sell != pivot
            && let (Some(to_buy), Some(to_sell)) = (self.fresh(pivot, buy, at_ms).await?, self.fresh(pivot, sell, at_ms).await?)
        {
            let rate = Rate::cross(&to_buy.rate, &to_sell.rate, pricing::CUSTOMER_RATE_SCALE, Rounding::HalfEven)
                .map_err(|e| PlatformError::Internal(format!("crossing {buy}/{sell}: {e}")))?;
            let at = to_buy.effective_at_ms.min(to_sell.effective_at_ms);
            return Ok((rate, format!("{}@{} via {pivot}", to_buy.source, crate::wallet::iso_utc(at))));
        }
        Err(PlatformError::conflict(Conflict::NoRate, format!("no {buy}/{sell} rate is published (nor both through {pivot})")))
    }

    /// The price of buying `buy` with `sell` on a channel: the reference rate plus the markup, rounded
    /// once (up) to eight digits.
    pub async fn price(&self, buy: Currency, sell: Currency, channel: Channel) -> Result<Price> {
        self.price_at(buy, sell, channel, None).await
    }

    /// [`Fx::price`] with the reference rate as it stood at a past moment (`None`: now); the markup is
    /// today's (markups keep no history).
    pub async fn price_at(&self, buy: Currency, sell: Currency, channel: Channel, at_ms: Option<i64>) -> Result<Price> {
        let (mid, mid_source) = self.mid_at(buy, sell, at_ms).await?;
        let key = (buy.numeric(), sell.numeric(), channel.as_str());
        let markup = match self.markups.get(&key) {
            Some(m) => m,
            None => {
                let m = self.core.read(move |c| store::markup_bps(c, buy, sell, channel)).await?;
                self.markups.put(key, m);
                m
            }
        };
        let markup_bps = markup.map(|b| u32::try_from(b).unwrap_or(0)).unwrap_or(self.core.config.fx.markup_bps);
        let rate = mid
            .with_markup_bps(markup_bps, pricing::CUSTOMER_RATE_SCALE, Rounding::Up)
            .map_err(|e| PlatformError::Internal(format!("pricing {buy}/{sell}: {e}")))?;
        Ok(Price { rate, mid, mid_source, markup_bps })
    }

    /// Quote a person an exchange: exactly one of the amounts fixed, the other priced.
    pub async fn quote(&self, person: PersonId, request: QuoteRequest<'_>) -> Result<Quote> {
        let sell_currency = self.enabled("sell_currency", currency_field("sell_currency", request.sell_currency)?)?;
        let buy_currency = self.enabled("buy_currency", currency_field("buy_currency", request.buy_currency)?)?;
        if sell_currency == buy_currency {
            return Err(PlatformError::invalid("buy_currency", "an exchange is between two currencies"));
        }
        if request.channel == Channel::Conversion {
            self.wallet.require_currency(person, sell_currency).await?;
            self.wallet.require_currency(person, buy_currency).await?;
        }
        let price = self.price(buy_currency, sell_currency, request.channel).await?;
        let overflow = |_| PlatformError::invalid("amount", "too large once converted");
        let (sell, buy, rounding) = match (request.sell_amount, request.buy_amount) {
            (None, Some(text)) => {
                let buy = crate::wallet::parse_amount("buy_amount", text, buy_currency)?;
                (pricing::cost_of(&price.rate, buy).map_err(overflow)?, buy, pricing::PAYMENT_ROUNDING)
            }
            (Some(text), None) => {
                let sell = crate::wallet::parse_amount("sell_amount", text, sell_currency)?;
                (sell, pricing::proceeds_of(&price.rate, sell).map_err(overflow)?, pricing::CONVERSION_ROUNDING)
            }
            _ => return Err(PlatformError::invalid("buy_amount", "give exactly one of sell_amount and buy_amount")),
        };
        if !buy.is_positive() || !sell.is_positive() {
            return Err(PlatformError::invalid("sell_amount", "too small to buy anything at this rate"));
        }
        self.lock(person, request.channel, sell, buy, &price, rounding).await
    }

    /// Lock `price` for `person`: a quote to sell `sell` for `buy`, valid for the quote lifetime.
    pub(crate) async fn lock(
        &self,
        person: PersonId,
        channel: Channel,
        sell: Money,
        buy: Money,
        price: &Price,
        rounding: Rounding,
    ) -> Result<Quote> {
        let now = self.core.now_ms();
        let quote = Quote {
            id: ids::object_id(now),
            person,
            channel,
            sell,
            buy,
            rate: price.rate,
            mid: price.mid,
            mid_source: price.mid_source.clone(),
            markup_bps: price.markup_bps,
            rounding,
            created_at_ms: now,
            expires_at_ms: now + i64::from(self.core.config.fx.quote_ttl_s) * 1000,
            used_at_ms: None,
            used_by: None,
        };
        let stored = quote.clone();
        self.core.transaction(move |c| store::insert_quote(c, &stored)).await?;
        Ok(quote)
    }

    /// A quote: a person's own (anyone else's does not exist for them), or any for the operator (`None`).
    pub async fn quote_of(&self, person: Option<PersonId>, id: i64) -> Result<Quote> {
        match self.core.read(move |c| store::quote(c, id)).await? {
            Some(q) if person.is_none_or(|p| p == q.person) => Ok(q),
            _ => Err(PlatformError::NotFound("quote")),
        }
    }

    /// A quote this person may execute now, for `channel`; why not otherwise.
    pub(crate) async fn usable_quote(&self, person: PersonId, id: i64, channel: Channel) -> Result<Quote> {
        let q = self.quote_of(Some(person), id).await?;
        if q.used_at_ms.is_some() {
            return Err(PlatformError::conflict(Conflict::QuoteUsed, "this quote was already used"));
        }
        if self.core.now_ms() >= q.expires_at_ms {
            return Err(PlatformError::conflict(Conflict::QuoteExpired, "this quote has expired: ask for a new one"));
        }
        // A quote is for its channel only: a card payment and a balance payment have their own markups.
        if q.channel != channel {
            return Err(PlatformError::invalid("quote_id", format!("a {} quote cannot be used for a {channel}", q.channel)));
        }
        Ok(q)
    }

    /// The exchanges of a day (China Standard Time), oldest first: the cross-border report.
    pub async fn executions(&self, day: &str) -> Result<Vec<Execution>> {
        let (start, end) = crate::settlement::cst_day_bounds(day)?;
        self.core.read(move |c| store::executions(c, start, end, REPORT_ROWS_MAX)).await
    }

    /// The platform's FX exposure per currency, valued in `report` at today's reference rates, and what
    /// the markups earned.
    pub async fn positions(&self, report: &str) -> Result<Positions> {
        let report = self.enabled("report_currency", currency_field("report_currency", report)?)?;
        let (mut positions, mut values) = (Vec::new(), Vec::new());
        for c in self.core.config.currencies() {
            let account = self.core.account(chart::system_account(chart::account::FX_POSITION, c)).await?;
            let Some(a) = account else { continue };
            let exposure = i128::from(a.credits_posted) - i128::from(a.debits_posted);
            if exposure == 0 {
                continue;
            }
            let exposure = i64::try_from(exposure).map_err(|_| PlatformError::Internal(format!("{c} exposure overflows")))?;
            let (position, value) = self.position(c, exposure, report).await?;
            positions.push(position);
            values.push(value);
        }
        let spread = self.core.read(store::spread_income).await?;
        let mut spread_values = Vec::new();
        for (c, minor) in &spread {
            spread_values.push(self.value_in(Money::from_minor(*minor, *c)?, report).await?.map(|(v, _)| v));
        }
        let spread_income = spread.into_iter().map(|(c, minor)| Amount { currency: c, amount: crate::wallet::decimal(minor, c) }).collect();
        // Every FX flow is balanced, so the positions valued together are the platform's whole FX result:
        // the spread it earned plus what rates did to what it holds since (the revaluation).
        let sum = |vs: Vec<Option<Money>>| -> Option<i64> { vs.into_iter().try_fold(0i64, |acc, v| acc.checked_add(v?.minor())) };
        let (net, earned) = (sum(values), sum(spread_values));
        let result = match (net, earned) {
            (Some(net), Some(earned)) => Some(FxResult {
                net: crate::wallet::decimal(net, report),
                spread: crate::wallet::decimal(earned, report),
                revaluation: crate::wallet::decimal(
                    net.checked_sub(earned).ok_or_else(|| PlatformError::Internal("FX result overflows".into()))?,
                    report,
                ),
            }),
            _ => None,
        };
        Ok(Positions { report_currency: report, positions, spread_income, result })
    }

    async fn position(&self, c: Currency, exposure: i64, report: Currency) -> Result<(Position, Option<Money>)> {
        let money = Money::from_minor(exposure, c).map_err(|e| PlatformError::Internal(e.to_string()))?;
        let valued = self.value_in(money, report).await?;
        let position = Position {
            currency: c,
            exposure: money.to_decimal_string(),
            reference_rate: valued.as_ref().and_then(|(_, r)| r.clone()),
            value: valued.as_ref().map(|(v, _)| v.to_decimal_string()),
        };
        Ok((position, valued.map(|(v, _)| v)))
    }

    /// An amount in the report currency at the fresh reference rate, with the rate (none when no fresh
    /// rate values it). Valuing is reporting, not pricing: where only the report currency's own rate is
    /// published (EUR → X, as the ECB publishes), the amount is valued through it, written `1/rate`.
    async fn value_in(&self, money: Money, report: Currency) -> Result<Option<(Money, Option<String>)>> {
        if money.currency() == report {
            return Ok(Some((money, None)));
        }
        let valued = match self.mid(money.currency(), report).await {
            Ok((rate, _)) => rate.convert(money, Rounding::HalfEven).ok().map(|v| (v, Some(rate.decimal()))),
            Err(PlatformError::Conflict { .. }) => match self.mid(report, money.currency()).await {
                Ok((inverse, _)) => {
                    inverse.source_for_target(money, Rounding::HalfEven).ok().map(|v| (v, Some(format!("1/{}", inverse.decimal()))))
                }
                Err(PlatformError::Conflict { .. }) => None,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        Ok(valued)
    }
}

/// An amount with its currency, as views show it.
#[derive(Debug, Clone, Serialize)]
pub struct Amount {
    pub currency: Currency,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Position {
    pub currency: Currency,
    /// Credits less debits of the currency's FX position: positive is what the platform holds.
    pub exposure: String,
    /// One unit of the currency in the report currency (absent when no fresh rate prices it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_rate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Positions {
    pub report_currency: Currency,
    pub positions: Vec<Position>,
    /// What the markups earned, per sold currency.
    pub spread_income: Vec<Amount>,
    /// The FX result in the report currency (absent when a currency has no fresh rate to value it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<FxResult>,
}

/// The platform's FX result, in the report currency at today's reference rates.
#[derive(Debug, Clone, Serialize)]
pub struct FxResult {
    /// The positions valued together: everything FX earned or lost.
    pub net: String,
    /// The part earned as spread (markups), valued today.
    pub spread: String,
    /// The rest: what rate moves did to the positions held.
    pub revaluation: String,
}

impl Quote {
    /// The quote as the wallet and the operator see it: both amounts, the customer and reference rates
    /// with the reference's source, the markup, the rounding and the expiry.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "quote_id": self.id.to_string(),
            "channel": self.channel.as_str(),
            "sell": {"currency": self.sell.currency().code(), "amount": self.sell.to_decimal_string()},
            "buy": {"currency": self.buy.currency().code(), "amount": self.buy.to_decimal_string()},
            "rate": self.rate.decimal(),
            "rate_text": self.rate.to_string(),
            "reference_rate": self.mid.decimal(),
            "reference_source": self.mid_source,
            "markup_bps": self.markup_bps,
            "rounding": rounding_name(self.rounding),
            "created_at_ms": self.created_at_ms,
            "expires_at_ms": self.expires_at_ms,
            "used": self.used_at_ms.is_some(),
        })
    }
}

impl Execution {
    /// A line of the cross-border report.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.to_string(),
            "kind": self.kind.as_str(),
            "time": crate::wallet::iso_utc(self.created_at_ms),
            "person_id": self.person.to_string(),
            "payer_region": self.payer_region,
            "merchant_country": self.merchant_country,
            "mcc": self.mcc,
            "purpose_code": self.purpose_code,
            "order_id": self.order.map(|o| o.to_string()),
            "cross_border": self.cross_border,
            "paid": {"currency": self.sell.currency().code(), "amount": self.sell.to_decimal_string()},
            "received": {"currency": self.buy.currency().code(), "amount": self.buy.to_decimal_string()},
            "rate": self.rate.decimal(),
            "reference_rate": self.mid.decimal(),
            "reference_source": self.mid_source,
            "markup_bps": self.markup_bps,
            "rounding": rounding_name(self.rounding),
            "spread": crate::wallet::decimal(self.spread_minor, self.sell.currency()),
        })
    }
}

/// The cross-border report as CSV (one line per exchange).
pub fn report_csv(executions: &[Execution]) -> String {
    let mut out = String::from(
        "execution_id,time_utc,kind,payer_region,merchant_country,mcc,purpose_code,order_id,received_currency,received_amount,paid_currency,paid_amount,rate,reference_rate,markup_bps,rounding,cross_border\n",
    );
    for e in executions {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            e.id,
            crate::wallet::iso_utc(e.created_at_ms),
            e.kind,
            e.payer_region,
            e.merchant_country.as_deref().unwrap_or(""),
            e.mcc.as_deref().unwrap_or(""),
            e.purpose_code.as_deref().unwrap_or(""),
            e.order.map(|o| o.to_string()).unwrap_or_default(),
            e.buy.currency(),
            e.buy.to_decimal_string(),
            e.sell.currency(),
            e.sell.to_decimal_string(),
            e.rate.decimal(),
            e.mid.decimal(),
            e.markup_bps,
            rounding_name(e.rounding),
            e.cross_border
        ));
    }
    out
}

impl ReferenceRate {
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.to_string(),
            "base": self.rate.base().code(),
            "quote": self.rate.quote().code(),
            "rate": self.rate.decimal(),
            "source": self.source,
            "effective_at": crate::wallet::iso_utc(self.effective_at_ms),
            "effective_at_ms": self.effective_at_ms,
        })
    }
}
