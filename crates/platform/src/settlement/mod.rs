//! Fees, daily settlement and bills (`bills`).
//!
//! Days are China Standard Time days (as WeChat Pay's bills are). Settling a day, per merchant and
//! currency, moves that day's fees from the merchant's receivable to the platform's fee revenue and pays
//! out `payments − refunds − fees + carry` to the settlement clearing account. A day whose refunds exceed
//! its takings pays out nothing and carries the shortfall into the next day's settlement (the receivable
//! is the one account allowed below zero, and only refunds take it there). Each (merchant, day, currency)
//! settles exactly once: the settlement row is the guard of the committer request that moves the money.

mod bills;
mod statements;
mod store;

pub use bills::{BILL_LINK_TTL_MS, BillKind, BillOut, BillRequest, TradeBillType};
pub use statements::statement_day;

use crate::core::{Commit, Committed, Core};
use crate::merchants::Merchants;
use crate::payments::DayTotal;
use crate::payments::Payments;
use crate::{PlatformError, Result, chart, ids};
use ledger::{NewTransfer, TransferFlags};
use money::{Currency, Money};
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// A day must have ended this long ago before it settles (late commits from other instances land first).
pub const SETTLEMENT_DELAY_MS: i64 = 10 * 60_000;

#[derive(Debug, Clone, Serialize)]
pub struct Settlement {
    pub mchid: String,
    pub day: String,
    pub currency: Currency,
    pub payments: i64,
    #[serde(rename = "gross")]
    pub gross_minor: i64,
    #[serde(rename = "refunds")]
    pub refunds_minor: i64,
    #[serde(rename = "fees")]
    pub fees_minor: i64,
    /// A shortfall carried from an earlier day (≤ 0).
    #[serde(rename = "carry_in")]
    pub carry_in_minor: i64,
    #[serde(rename = "payout")]
    pub payout_minor: i64,
    /// The shortfall carried to the next day (≤ 0).
    #[serde(rename = "carry_out")]
    pub carry_out_minor: i64,
    pub created_at_ms: i64,
}

/// `[start, end)` in ms of a `YYYY-MM-DD` day in China Standard Time.
pub fn cst_day_bounds(day: &str) -> Result<(i64, i64)> {
    let bad = || PlatformError::invalid("bill_date", "a date YYYY-MM-DD");
    if day.len() != 10 {
        return Err(bad());
    }
    let start = wxpay::time::parse_rfc3339(&format!("{day}T00:00:00+08:00")).ok_or_else(bad)?;
    Ok((start * 1000, (start + 86_400) * 1000))
}

fn amount(minor: i64, currency: Currency) -> String {
    Money::from_minor(minor, currency).map(|m| m.to_decimal_string()).unwrap_or_else(|_| minor.to_string())
}

pub struct Settlements {
    core: Arc<Core>,
    merchants: Arc<Merchants>,
    payments: Arc<Payments>,
    /// Donations are a charity's takings, settled with its payments.
    charity: Arc<crate::charity::Charities>,
    /// The last day this instance settled per time zone (the deadline task settles each day once).
    last_settled_day: Mutex<std::collections::HashMap<String, String>>,
}

impl Settlements {
    pub(crate) fn new(
        core: Arc<Core>,
        merchants: Arc<Merchants>,
        payments: Arc<Payments>,
        charity: Arc<crate::charity::Charities>,
    ) -> Settlements {
        Settlements { core, merchants, payments, charity, last_settled_day: Mutex::new(std::collections::HashMap::new()) }
    }

    /// Settle a day for every merchant and currency with payments, refunds or a carried shortfall. Each
    /// merchant's day is its own (its country's time zone): the merchants whose day is not over yet
    /// settle later; if nobody's is, the day is refused.
    pub async fn settle_day(&self, day: &str) -> Result<Vec<Settlement>> {
        let mut any_over = false;
        for tz in self.core.read(store::time_zones).await? {
            let (start, end) = local_day_bounds(day, &tz)?;
            if end + SETTLEMENT_DELAY_MS <= self.core.now_ms() {
                any_over = true;
                self.settle_day_in(day, &tz, start, end).await?;
            }
        }
        if !any_over {
            local_day_bounds(day, "Asia/Shanghai")?;
            return Err(PlatformError::invalid("day", "a day settles once it is over (ten minutes after midnight, merchants' time)"));
        }
        self.settlements(day).await
    }

    /// The day of the merchants of one time zone: `[start_ms, end_ms)`.
    async fn settle_day_in(&self, day: &str, time_zone: &str, start_ms: i64, end_ms: i64) -> Result<usize> {
        let mut days = self.payments.day_totals(start_ms, end_ms, time_zone).await?;
        for gifts in self.charity.day_totals(start_ms, end_ms, time_zone).await? {
            match days.iter_mut().find(|x| x.merchant == gifts.merchant && x.currency == gifts.currency) {
                Some(d) => {
                    d.payments += gifts.payments;
                    d.gross += gifts.gross;
                    d.fees += gifts.fees;
                    d.refunds += gifts.refunds;
                }
                None => days.push(gifts),
            }
        }
        let (d, tz) = (day.to_string(), time_zone.to_string());
        for (merchant, currency) in self.core.read(move |c| store::carrying(c, &d, &tz)).await? {
            if !days.iter().any(|x| x.merchant == merchant && x.currency == currency) {
                days.push(DayTotal { merchant, currency, payments: 0, gross: 0, fees: 0, refunds: 0 });
            }
        }
        for d in &days {
            self.settle_one(d, day).await?;
        }
        Ok(days.len())
    }

    async fn settle_one(&self, d: &DayTotal, day: &str) -> Result<()> {
        let (merchant, currency, day_w) = (d.merchant, d.currency, day.to_string());
        let carry_in = self.core.read(move |c| store::carry_in(c, merchant, currency, &day_w)).await?;
        let overflow = || PlatformError::Internal(format!("settlement of merchant {merchant} on {day} overflows i64"));
        let net = d
            .gross
            .checked_sub(d.refunds)
            .and_then(|n| n.checked_sub(d.fees))
            .and_then(|n| n.checked_add(carry_in))
            .ok_or_else(overflow)?;
        let (payout, carry_out) = (net.max(0), net.min(0));
        let now = self.core.now_ms();
        let id = ids::object_id(now);
        let leg = |kind: u16, credit: u128, minor: i64| -> Result<NewTransfer> {
            Ok(NewTransfer {
                id: chart::derived(id, kind, 0),
                debit_account_id: chart::merchant_receivable(merchant, currency),
                credit_account_id: credit,
                amount: chart::ledger_amount(minor, currency)?,
                pending_id: 0,
                currency: Some(currency),
                code: kind,
                flags: TransferFlags::empty(),
                timeout_s: 0,
                user_data: merchant.get() as u128,
            })
        };
        let mut transfers = Vec::new();
        if d.fees > 0 {
            transfers.push(leg(chart::transfer::SETTLEMENT_FEE, chart::system_account(chart::account::FEE_REVENUE, currency), d.fees)?);
        }
        if payout > 0 {
            transfers.push(leg(
                chart::transfer::SETTLEMENT_PAYOUT,
                chart::system_account(chart::account::SETTLEMENT_CLEARING, currency),
                payout,
            )?);
        }
        let row = Settlement {
            mchid: String::new(),
            day: day.to_string(),
            currency,
            payments: d.payments,
            gross_minor: d.gross,
            refunds_minor: d.refunds,
            fees_minor: d.fees,
            carry_in_minor: carry_in,
            payout_minor: payout,
            carry_out_minor: carry_out,
            created_at_ms: now,
        };
        match self.core.commit(Commit { guards: vec![store::insert(&row, id, merchant)], transfers, effects: Vec::new() }).await? {
            Committed::Applied(results) => match results.iter().find_map(|r| r.err()) {
                None => Ok(()),
                Some(e) => Err(PlatformError::Internal(format!("settlement refused by the ledger: {}", e.code()))),
            },
            Committed::GuardFailed(_) => Ok(()), // settled before (by this or another instance)
        }
    }

    /// The settlements of a day (the operator's report), by mchid and currency.
    pub async fn settlements(&self, day: &str) -> Result<Vec<Settlement>> {
        cst_day_bounds(day)?;
        let d = day.to_string();
        let rows = self.core.read(move |c| store::of_day(c, &d)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (merchant, s, _) in rows {
            out.push(Settlement { mchid: self.merchants.mchid(merchant).await?, ..s });
        }
        out.sort_by(|a, b| (&a.mchid, a.currency).cmp(&(&b.mchid, b.currency)));
        Ok(out)
    }

    /// The settlement report as CSV.
    pub fn csv(settlements: &[Settlement]) -> String {
        let mut out = String::from("mchid,day,currency,payments,gross,refunds,fees,carry_in,payout,carry_out\n");
        for s in settlements {
            let c = s.currency;
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{}",
                s.mchid,
                s.day,
                c.code(),
                s.payments,
                amount(s.gross_minor, c),
                amount(s.refunds_minor, c),
                amount(s.fees_minor, c),
                amount(s.carry_in_minor, c),
                amount(s.payout_minor, c),
                amount(s.carry_out_minor, c)
            );
        }
        out
    }

    /// Settle each time zone's yesterday once it is past the delay, and the days before it that a
    /// stopped platform missed (up to [`CATCH_UP_DAYS`]); cheap to call often (a day settles once, and
    /// this instance remembers which it did).
    pub(crate) async fn settle_due_day(&self) -> Result<usize> {
        let mut settled = 0;
        for tz in self.core.read(store::time_zones).await? {
            let day = yesterday_in(self.core.now_ms() - SETTLEMENT_DELAY_MS, &tz)?;
            {
                let mut last = self.last_settled_day.lock().expect("last settled day");
                if last.get(&tz) == Some(&day) {
                    continue;
                }
                last.insert(tz.clone(), day.clone());
            }
            for back in (0..CATCH_UP_DAYS).rev() {
                let d = days_before(&day, back)?;
                let (start, end) = local_day_bounds(&d, &tz)?;
                settled += self.settle_day_in(&d, &tz, start, end).await?;
            }
        }
        Ok(settled)
    }
}

/// A partner institution's settlement file of a day: one line per sub-merchant and currency, and the
/// file's SHA-256 (hex) for the partner to check what it received.
#[derive(Debug, Clone)]
pub struct PartnerFile {
    pub csv: String,
    pub sha256_hex: String,
    pub lines: usize,
}

impl Settlements {
    /// The settlement file of a partner institution (a service provider) for a day.
    pub async fn partner_file(&self, partner_mchid: &str, day: &str) -> Result<PartnerFile> {
        local_day_bounds(day, "Asia/Shanghai")?;
        let partner = self.merchants.merchant(partner_mchid).await?;
        if partner.merchant.kind != crate::merchants::MerchantKind::ServiceProvider {
            return Err(PlatformError::invalid("mchid", "not a partner institution (a service provider)"));
        }
        let (id, d) = (partner.merchant.id, day.to_string());
        let rows = self.core.read(move |c| store::of_partner_day(c, id, &d)).await?;
        let mut csv = String::from("batch_id,settlement_date,sub_mchid,currency,orders,pay,refund,fee,carry_in,net,carry_out\n");
        for (batch, s) in &rows {
            let c = s.currency;
            let _ = writeln!(
                csv,
                "{batch},{},{},{},{},{},{},{},{},{},{}",
                s.day,
                s.mchid,
                c.code(),
                s.payments,
                amount(s.gross_minor, c),
                amount(s.refunds_minor, c),
                amount(s.fees_minor, c),
                amount(s.carry_in_minor, c),
                amount(s.payout_minor, c),
                amount(s.carry_out_minor, c)
            );
        }
        let sha256_hex = crate::crypto::hex(&crate::crypto::sha256(csv.as_bytes()));
        Ok(PartnerFile { csv, sha256_hex, lines: rows.len() })
    }

    /// A merchant's settlements between two days (inclusive), oldest first: a page (with batch ids)
    /// and how many there are.
    pub async fn of_merchant(
        &self,
        merchant: crate::MerchantId,
        from_day: &str,
        to_day: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<(i64, Settlement)>, i64)> {
        local_day_bounds(from_day, "Asia/Shanghai")?;
        local_day_bounds(to_day, "Asia/Shanghai")?;
        let (from, to) = (from_day.to_string(), to_day.to_string());
        let (limit, offset) = (limit.clamp(1, 30), offset.max(0));
        self.core.read(move |c| store::of_merchant(c, merchant, &from, &to, limit, offset)).await
    }
}

/// `[start, end)` in ms of a `YYYY-MM-DD` day in an IANA time zone (23 or 25 hours on the days the
/// clocks change).
pub fn local_day_bounds(day: &str, time_zone: &str) -> Result<(i64, i64)> {
    let bad = || PlatformError::invalid("day", "a date YYYY-MM-DD");
    if day.len() != 10 {
        return Err(bad());
    }
    let date: jiff::civil::Date = day.parse().map_err(|_| bad())?;
    let tz = jiff::tz::TimeZone::get(time_zone).map_err(|e| PlatformError::Internal(format!("time zone {time_zone}: {e}")))?;
    let at = |d: jiff::civil::Date| -> Result<i64> {
        let zoned = d.to_zoned(tz.clone()).map_err(|e| PlatformError::Internal(format!("{d} in {time_zone}: {e}")))?;
        Ok(zoned.timestamp().as_millisecond())
    };
    let next = date.tomorrow().map_err(|_| bad())?;
    Ok((at(date)?, at(next)?))
}

/// Days settled again when a new day is due (each settles once: what was settled is skipped).
pub const CATCH_UP_DAYS: i64 = 3;

/// The day `n` days before `day`.
fn days_before(day: &str, n: i64) -> Result<String> {
    let date: jiff::civil::Date = day.parse().map_err(|_| PlatformError::invalid("day", "a date YYYY-MM-DD"))?;
    let earlier = date.checked_sub(jiff::Span::new().days(n)).map_err(|e| PlatformError::Internal(e.to_string()))?;
    Ok(earlier.to_string())
}

/// The day before the one `at_ms` falls on, in a time zone.
fn yesterday_in(at_ms: i64, time_zone: &str) -> Result<String> {
    let tz = jiff::tz::TimeZone::get(time_zone).map_err(|e| PlatformError::Internal(format!("time zone {time_zone}: {e}")))?;
    let now = jiff::Timestamp::from_millisecond(at_ms).map_err(|e| PlatformError::Internal(e.to_string()))?;
    let yesterday = now.to_zoned(tz).date().yesterday().map_err(|e| PlatformError::Internal(e.to_string()))?;
    Ok(yesterday.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paris_day_has_23_hours_when_the_clocks_go_forward_and_25_when_they_go_back() {
        let (start, end) = local_day_bounds("2026-03-29", "Europe/Paris").unwrap();
        assert_eq!(end - start, 23 * 3_600_000);
        // Midnight in Paris (UTC+1 that night) is 07:00 in Shanghai.
        assert_eq!(wxpay::time::format_rfc3339(start / 1000), "2026-03-29T07:00:00+08:00");
        let (start, end) = local_day_bounds("2026-10-25", "Europe/Paris").unwrap();
        assert_eq!(end - start, 25 * 3_600_000);
        let (start, _) = local_day_bounds("2026-11-21", "Asia/Shanghai").unwrap();
        assert_eq!(start, cst_day_bounds("2026-11-21").unwrap().0);
        // Just after midnight of the 21st in Shanghai it is the 20th in Paris: its yesterday is the 19th.
        assert_eq!(yesterday_in(start + 1, "Europe/Paris").unwrap(), "2026-11-19");
    }

    #[test]
    fn days_are_china_standard_time() {
        let (start, end) = cst_day_bounds("2026-11-21").unwrap();
        assert_eq!(wxpay::time::format_rfc3339(start / 1000), "2026-11-21T00:00:00+08:00");
        assert_eq!(end - start, 86_400_000);
        assert!(cst_day_bounds("2026-02-30").is_err());
        assert!(cst_day_bounds("yesterday").is_err());
    }
}
