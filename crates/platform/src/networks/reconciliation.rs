//! A partner network's day (UTC), both sides of it: what Qianbao booked (the day's finished payments)
//! against the network's settlement report, payment by payment (matched, missing on either side,
//! amounts that differ), and the net per currency that one side owes the other. The day's net is
//! booked once (its ledger id derives from the network, the day and the currency) between the
//! network's settlement account and the bank rail, as the payment between the two sides' banks.

use super::{Direction, NetworkPayment, Networks, SettlementLine, store};
use crate::core::{Commit, Committed, chain_outcome};
use crate::{PlatformError, Result, chart};
use ledger::{NewTransfer, TransferFlags};
use money::{Currency, Money};
use std::collections::BTreeMap;

/// Payments of one network and day compared at most (a bound: a bigger day is refused, never cut).
const DAY_PAYMENTS_MAX: i64 = 100_000;
const DAY_MS: i64 = 86_400_000;
/// How long after midnight (UTC) a day may be reconciled: payments finishing at its last instant have
/// committed by then.
const DAY_GRACE_MS: i64 = 10 * 60_000;

text_enum! {
    pub enum Verdict {
        Matched => "matched",
        MissingAtNetwork => "missing_at_network",
        MissingAtQianbao => "missing_at_qianbao",
        AmountDiffers => "amount_differs",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationLine {
    pub request_id: String,
    pub direction: String,
    pub verdict: Verdict,
    pub qianbao: Option<Money>,
    pub network: Option<Money>,
}

/// One currency's day: what Qianbao's wallets paid the network's merchants (out), what its wallets
/// paid Qianbao's (in), and the net Qianbao owes the network (negative: the network owes Qianbao).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyDay {
    pub currency: Currency,
    pub out_minor: i64,
    pub in_minor: i64,
    pub net_minor: i64,
    pub payments: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub network: String,
    pub day: String,
    pub currencies: Vec<CurrencyDay>,
    pub lines: Vec<ReconciliationLine>,
}

impl Reconciliation {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.lines.iter().filter(|l| l.verdict == verdict).count()
    }
}

fn day_start_ms(day: &str) -> Result<i64> {
    let date: jiff::civil::Date = day.parse().map_err(|_| PlatformError::invalid("day", "a date, YYYY-MM-DD"))?;
    let zoned = date.to_zoned(jiff::tz::TimeZone::UTC).map_err(|_| PlatformError::invalid("day", "a date, YYYY-MM-DD"))?;
    Ok(zoned.timestamp().as_millisecond())
}

impl Networks {
    /// Compare a finished day with the network's report (asked over its API).
    pub async fn reconcile(&self, network: &str, day: &str) -> Result<Reconciliation> {
        let connector = self.connector(network)?;
        let from = day_start_ms(day)?;
        if from + DAY_MS + DAY_GRACE_MS > self.core.now_ms() {
            return Err(PlatformError::invalid("day", "a day is reconciled once it has ended (UTC) and ten minutes have passed"));
        }
        let n = network.to_string();
        let ours = self.core.read(move |c| store::succeeded_between(c, &n, from, from + DAY_MS, DAY_PAYMENTS_MAX + 1)).await?;
        if ours.len() as i64 > DAY_PAYMENTS_MAX {
            return Err(PlatformError::invalid(
                "day",
                format!("more than {DAY_PAYMENTS_MAX} payments in one day: too many to reconcile at once"),
            ));
        }
        let d = day.to_string();
        let theirs = self.call(&connector, move |c| c.settlement(&d)).await?.map_err(|why| {
            PlatformError::conflict(
                crate::Conflict::NetworkUnreachable,
                format!("{} did not send its report: {why}", connector.config().name),
            )
        })?;
        Ok(Reconciliation {
            network: network.to_string(),
            day: day.to_string(),
            currencies: totals(&ours)?,
            lines: compare(&ours, &theirs),
        })
    }

    /// Book the day's net per currency between the network's account and the bank rail (once: a
    /// second run finds the transfers made). Answers the reconciliation it settled.
    pub async fn settle_day(&self, network: &str, day: &str) -> Result<Reconciliation> {
        let report = self.reconcile(network, day).await?;
        let number = self.connector(network)?.config().number;
        let day_number = day_start_ms(day)? / DAY_MS;
        // A payment held that day and still waiting for the network may yet finish inside it.
        let (n, end) = (network.to_string(), (day_number + 1) * DAY_MS);
        if self.core.read(move |c| store::any_pending_before(c, &n, end)).await? {
            return Err(PlatformError::conflict(
                crate::Conflict::RequestInProgress,
                "payments of this day still wait for the network's answer: settle once they are answered",
            ));
        }
        let mut transfers = Vec::new();
        for c in report.currencies.iter().filter(|c| c.net_minor != 0) {
            let (account, bank) =
                (super::settlement_account(number, c.currency), chart::system_account(chart::account::BANK_RAIL, c.currency));
            // Qianbao owes the network: its account pays out through the bank; else the bank pays it in.
            let (debit, credit) = if c.net_minor > 0 { (account, bank) } else { (bank, account) };
            transfers.push(NewTransfer {
                id: chart::derived(
                    (day_number << 16) | i64::from(number),
                    chart::transfer::NETWORK_SETTLE,
                    u32::from(c.currency.numeric()),
                ),
                debit_account_id: debit,
                credit_account_id: credit,
                amount: chart::ledger_amount(c.net_minor.abs(), c.currency)?,
                pending_id: 0,
                currency: Some(c.currency),
                code: chart::transfer::NETWORK_SETTLE,
                flags: TransferFlags::empty(),
                timeout_s: 0,
                user_data: day_number as u128,
            });
        }
        for t in transfers {
            match self.core.commit(Commit { guards: Vec::new(), transfers: vec![t], effects: Vec::new() }).await? {
                Committed::Applied(results) => match chain_outcome(&results) {
                    Ok(_) => {}
                    Err(ledger::TransferError::ExistsWithDifferentAmount) => {
                        return Err(PlatformError::conflict(
                            crate::Conflict::RequestInProgress,
                            "this day was settled before at another net: its report changed since (see the reconciliation)",
                        ));
                    }
                    Err(e) => return Err(PlatformError::Internal(format!("settling a network day: {}", e.code()))),
                },
                Committed::GuardFailed(_) => unreachable!("no guards"),
            }
        }
        Ok(report)
    }
}

/// Each currency's sums (checked: a day's sum that does not fit is an error, never a wrapped number).
fn totals(ours: &[NetworkPayment]) -> Result<Vec<CurrencyDay>> {
    let overflow = || PlatformError::Internal("a network day's sum overflows i64".into());
    let mut by: BTreeMap<&str, CurrencyDay> = BTreeMap::new();
    for p in ours {
        let c = p.amount.currency();
        let day = by.entry(c.code()).or_insert(CurrencyDay { currency: c, out_minor: 0, in_minor: 0, net_minor: 0, payments: 0 });
        let side = match p.direction {
            Direction::Out => &mut day.out_minor,
            Direction::In => &mut day.in_minor,
        };
        *side = side.checked_add(p.amount.minor()).ok_or_else(overflow)?;
        day.net_minor = day.out_minor.checked_sub(day.in_minor).ok_or_else(overflow)?;
        day.payments += 1;
    }
    Ok(by.into_values().collect())
}

fn compare(ours: &[NetworkPayment], theirs: &[SettlementLine]) -> Vec<ReconciliationLine> {
    let mut lines = Vec::new();
    let theirs_by: BTreeMap<(&str, &str), &SettlementLine> =
        theirs.iter().map(|l| ((l.direction.as_str(), l.request_id.as_str()), l)).collect();
    let ours_by: BTreeMap<(&str, &str), &NetworkPayment> =
        ours.iter().map(|p| ((p.direction.as_str(), p.request_id.as_str()), p)).collect();
    for (key, p) in &ours_by {
        let network = theirs_by.get(key).map(|l| l.amount);
        let verdict = match network {
            None => Verdict::MissingAtNetwork,
            Some(a) if a == p.amount => Verdict::Matched,
            Some(_) => Verdict::AmountDiffers,
        };
        lines.push(ReconciliationLine {
            request_id: p.request_id.clone(),
            direction: key.0.to_string(),
            verdict,
            qianbao: Some(p.amount),
            network,
        });
    }
    for (key, l) in theirs_by.iter().filter(|(k, _)| !ours_by.contains_key(*k)) {
        lines.push(ReconciliationLine {
            request_id: l.request_id.clone(),
            direction: key.0.to_string(),
            verdict: Verdict::MissingAtQianbao,
            qianbao: None,
            network: Some(l.amount),
        });
    }
    lines
}
