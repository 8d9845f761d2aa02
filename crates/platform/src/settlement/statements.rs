//! The global API's statement (`/v3/global/statements`): a merchant's payments and refunds of one of
//! its own days (its time zone's), in English columns, with what the payer paid in the payer's
//! currency and the exchange rate of each payment and refund (the refund's is the payment's: refunds
//! go back at the original rate).

use super::bills::{BILL_BUFFER_BYTES, BillOut, add, rate_text, write_row, write_text, written};
use super::{Settlements, amount, local_day_bounds};
use crate::payments::{BillLine, BillLines, Order};
use crate::{MerchantId, PlatformError, Result};
use money::Currency;

const STATEMENT_HEADER: &str = "Transaction time,Official account ID,Vendor ID,Sub vendor ID,Device ID,Wechat order number,\
Vendor order number,User tag,Transaction type,Transaction status,Payment bank,Currency type,Total amount,Coupon amount,\
Wechat refund number,Vendor refund number,Refund amount,Coupon refund amount,Refund type,Refund status,Product name,\
Vendor's data package,Fee,Rate,Cash currency type,Cash amount,Settlement currency type,Settlement amount,Exchange Rate,\
Refund Exchange Rate,Payer's refund amount,Payer's refund currency type\n";

const STATEMENT_TOTALS: &str =
    "Total transaction count,Total amount,Total refund amount,Total coupon refund amount,Total fee amount,Total cash amount\n";

/// `yyyyMMdd` (the global API's date) as `YYYY-MM-DD`.
pub fn statement_day(date: &str) -> Result<String> {
    let bad = || PlatformError::invalid("date", "a date yyyyMMdd");
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let day = format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]);
    day.parse::<jiff::civil::Date>().map_err(|_| bad())?;
    Ok(day)
}

/// `2018-06-08 10:34:56` in a time zone.
fn local_time(ms: i64, time_zone: &str) -> Result<String> {
    let tz = jiff::tz::TimeZone::get(time_zone).map_err(|e| PlatformError::Internal(format!("time zone {time_zone}: {e}")))?;
    let at = jiff::Timestamp::from_millisecond(ms).map_err(|e| PlatformError::Internal(e.to_string()))?;
    Ok(at.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S").to_string())
}

/// The payer's currency, amount and the rate (× 10^8) of a payment: its own when no exchange happened.
fn payer_side(o: &Order) -> (Currency, i64, u64) {
    match &o.exchange {
        Some(e) => (e.currency, e.total_minor, e.rate.per_1e8().unwrap_or(0)),
        None => (o.currency, o.total_minor, 100_000_000),
    }
}

/// One statement line's cells: a payment, or a refund (with the payment's rate and the payer's share).
fn statement_cells(l: &BillLine, time_zone: &str, rate_text: &str, settlement: Currency) -> Result<[String; 32]> {
    let o = &l.order;
    let (payer_currency, payer_total, rate) = payer_side(o);
    let (c, fee) = (o.currency, if l.refund { 0 } else { o.fee_minor });
    let payer_refund = l.payer_refund_minor.unwrap_or(l.refund_minor);
    let refund = |text: String| if l.refund { text } else { String::new() };
    Ok([
        local_time(l.at_ms, time_zone)?,
        o.appid.clone(),
        // An institution's order: the institution is the vendor, the merchant its sub-vendor.
        o.sp_mchid.clone().unwrap_or_else(|| o.mchid.clone()),
        if o.sp_mchid.is_some() { o.mchid.clone() } else { String::new() },
        String::new(),
        o.transaction_id.clone(),
        o.out_trade_no.clone(),
        o.payer_openid_paid.clone().unwrap_or_default(),
        o.trade_type.as_str().into(),
        if l.refund { "REFUND".into() } else { "SUCCESS".into() },
        o.bank_type.clone().unwrap_or_else(|| "OTHERS".into()),
        c.code().to_string(),
        amount(if l.refund { 0 } else { o.total_minor }, c),
        amount(0, c),
        if l.refund { l.refund_id.clone() } else { "0".into() },
        if l.refund { l.out_refund_no.clone() } else { "0".into() },
        amount(l.refund_minor, c),
        amount(0, c),
        refund("ORIGINAL".into()),
        refund("SUCCESS".into()),
        o.description.clone(),
        o.attach.clone().unwrap_or_default(),
        amount(fee, c),
        rate_text.to_string(),
        payer_currency.code().to_string(),
        amount(if l.refund { 0 } else { payer_total }, payer_currency),
        settlement.code().to_string(),
        amount(
            if l.refund {
                0
            } else {
                o.total_minor.checked_sub(fee).ok_or_else(|| PlatformError::Internal("a fee above its payment".into()))?
            },
            c,
        ),
        rate.to_string(),
        refund(rate.to_string()),
        refund(amount(payer_refund, payer_currency)),
        refund(payer_currency.code().to_string()),
    ])
}

impl Settlements {
    /// The statement of a merchant's day (`YYYY-MM-DD` in its own time zone), written to `out` a page of
    /// lines at a time (bounded memory for any day).
    pub async fn write_global_statement(&self, merchant: MerchantId, day: &str, out: BillOut<'_>) -> Result<()> {
        let mut buffered = std::io::BufWriter::with_capacity(BILL_BUFFER_BYTES, out);
        let out: BillOut<'_> = &mut buffered;
        let auth = self.merchants.by_id(merchant).await?;
        let time_zone = auth.merchant.time_zone.clone();
        let (start, end) = local_day_bounds(day, &time_zone)?;
        let rate = rate_text(auth.merchant.fee_bps);
        write_text(out, STATEMENT_HEADER)?;
        let (mut count, mut total, mut refunded, mut fees, mut cash) = (0i64, 0i64, 0i64, 0i64, 0i64);
        let settlement = auth.merchant.settlement_currency;
        // The cash total is only a sum when the payers paid in one currency.
        let mut cash_currencies = std::collections::BTreeSet::new();
        let mut lines = self.payments.bill_lines(merchant, start, end, BillLines::All);
        while let Some(l) = lines.next().await? {
            let o = &l.order;
            let (payer_currency, payer_total, _) = payer_side(o);
            count += 1;
            if l.refund {
                add(&mut refunded, l.refund_minor)?;
            } else {
                add(&mut total, o.total_minor)?;
                add(&mut fees, o.fee_minor)?;
                add(&mut cash, payer_total)?;
                cash_currencies.insert(payer_currency.code());
            }
            write_row(out, &statement_cells(&l, &time_zone, &rate, settlement)?)?;
        }
        write_text(out, STATEMENT_TOTALS)?;
        let c = settlement;
        let cash_total = match cash_currencies.iter().collect::<Vec<_>>()[..] {
            [one] => format!("{} {one}", amount(cash, money::Currency::from_code(one)?)),
            [] => String::new(),
            _ => "MULTIPLE".to_string(),
        };
        write_row(out, &[count.to_string(), amount(total, c), amount(refunded, c), amount(0, c), amount(fees, c), cash_total])?;
        std::io::Write::flush(&mut buffered).map_err(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_date_is_eight_digits_of_a_real_day() {
        assert_eq!(statement_day("20261201").unwrap(), "2026-12-01");
        for bad in ["2026121", "2026-12-01", "20261301", "20260230", "２０２６１２０１"] {
            assert!(statement_day(bad).is_err(), "{bad}");
        }
    }
}
