//! Fees, daily settlement and bills (`bills`).
//!
//! Days are China Standard Time days (as WeChat Pay's bills are). Settling a day, per merchant and
//! currency, moves that day's fees from the merchant's receivable to the platform's fee revenue and pays
//! out `payments − refunds − fees + carry` to the settlement clearing account. A day whose refunds exceed
//! its takings pays out nothing and carries the shortfall into the next day's settlement (the receivable
//! is the one account allowed below zero, and only refunds take it there). Each (merchant, day, currency)
//! settles exactly once: the settlement row is the guard of the committer request that moves the money.

mod bills;
mod store;

pub use bills::{BILL_LINK_TTL_MS, BillKind, BillRequest, TradeBillType};

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
    /// The last day this instance settled (the deadline task settles each day once).
    last_settled_day: Mutex<Option<String>>,
}

impl Settlements {
    pub(crate) fn new(core: Arc<Core>, merchants: Arc<Merchants>, payments: Arc<Payments>) -> Settlements {
        Settlements { core, merchants, payments, last_settled_day: Mutex::new(None) }
    }

    /// Settle a day for every merchant and currency with payments, refunds or a carried shortfall.
    pub async fn settle_day(&self, day: &str) -> Result<Vec<Settlement>> {
        let (start, end) = cst_day_bounds(day)?;
        if end + SETTLEMENT_DELAY_MS > self.core.now_ms() {
            return Err(PlatformError::invalid("day", "a day settles once it is over (ten minutes after midnight China time)"));
        }
        let mut days = self.payments.day_totals(start, end).await?;
        let d = day.to_string();
        for (merchant, currency) in self.core.read(move |c| store::carrying(c, &d)).await? {
            if !days.iter().any(|x| x.merchant == merchant && x.currency == currency) {
                days.push(DayTotal { merchant, currency, payments: 0, gross: 0, fees: 0, refunds: 0 });
            }
        }
        for d in &days {
            self.settle_one(d, day).await?;
        }
        self.settlements(day).await
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

    /// Settle yesterday (China time) once it is past the delay; cheap to call often (a day settles once).
    pub(crate) async fn settle_due_day(&self) -> Result<usize> {
        let yesterday_ms = self.core.now_ms() - SETTLEMENT_DELAY_MS - 86_400_000;
        let t = wxpay::time::civil(yesterday_ms / 1000 + wxpay::time::CST_OFFSET_S);
        let day = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
        {
            let mut last = self.last_settled_day.lock().expect("last settled day");
            if last.as_deref() == Some(day.as_str()) {
                return Ok(0);
            }
            *last = Some(day.clone());
        }
        Ok(self.settle_day(&day).await?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_china_standard_time() {
        let (start, end) = cst_day_bounds("2026-11-21").unwrap();
        assert_eq!(wxpay::time::format_rfc3339(start / 1000), "2026-11-21T00:00:00+08:00");
        assert_eq!(end - start, 86_400_000);
        assert!(cst_day_bounds("2026-02-30").is_err());
        assert!(cst_day_bounds("yesterday").is_err());
    }
}
