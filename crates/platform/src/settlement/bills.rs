//! WeChat Pay's bills for a merchant's day: the trade bill (payments and refunds) and the fund-flow bill
//! (the receivable: payments in, refunds, fees and payouts out, with the running balance), and the
//! short-lived download links that carry a request.

use super::{Settlements, amount, cst_day_bounds, store};
use crate::payments::{BillLine, BillLines};
use crate::{MerchantId, PlatformError, Result, crypto};
use money::Currency;
use std::io::Write as _;

/// How long a bill's download link works (WeChat's: 30 s).
pub const BILL_LINK_TTL_MS: i64 = 30_000;

text_enum! {
    pub enum BillKind {
        Trade => "trade",
        FundFlow => "fundflow",
    }
}

text_enum! {
    pub enum TradeBillType {
        All => "ALL",
        Success => "SUCCESS",
        Refund => "REFUND",
    }
}

/// A bill asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRequest {
    /// Whose bill (a sub-merchant's, when its service provider asks).
    pub merchant_id: MerchantId,
    /// Who asked (and alone may download it).
    pub requester_id: MerchantId,
    pub kind: BillKind,
    pub day: String,
    pub bill_type: TradeBillType,
    pub gzip: bool,
    pub expires_at_ms: i64,
}

/// Add to a bill's running total; a bill whose totals do not fit i64 is refused, never wrapped.
pub(super) fn add(total: &mut i64, value: i64) -> Result<()> {
    *total = total.checked_add(value).ok_or_else(|| PlatformError::Internal("a bill total overflows i64".into()))?;
    Ok(())
}

/// `2018-06-08 10:34:56` in China Standard Time, as WeChat's bills write times.
fn bill_time(ms: i64) -> String {
    let t = wxpay::time::civil(ms / 1000 + wxpay::time::CST_OFFSET_S);
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

/// Where a bill is written: a file, a digest, a socket; anything that takes bytes.
pub type BillOut<'a> = &'a mut (dyn std::io::Write + Send);

/// A bill's writes are gathered this much before they reach the writer (a digest, gzip, a file), which
/// would otherwise take each cell's few bytes in a call of their own.
pub(super) const BILL_BUFFER_BYTES: usize = 64 * 1024;

pub(super) fn written(e: std::io::Error) -> PlatformError {
    PlatformError::Internal(format!("writing a bill: {e}"))
}

/// One bill line straight to `out` (no line is built in memory). WeChat prefixes every cell with a
/// backtick (so spreadsheets keep long numbers as text); commas and line breaks in merchant text would
/// break the columns, so they become spaces.
pub(super) fn write_row(out: BillOut<'_>, cells: &[String]) -> Result<()> {
    for (i, text) in cells.iter().enumerate() {
        out.write_all(if i == 0 { b"`" } else { b",`" }).map_err(written)?;
        for (j, piece) in text.split([',', '\n', '\r']).enumerate() {
            if j > 0 {
                out.write_all(b" ").map_err(written)?;
            }
            out.write_all(piece.as_bytes()).map_err(written)?;
        }
    }
    out.write_all(b"\n").map_err(written)
}

pub(super) fn write_text(out: BillOut<'_>, text: &str) -> Result<()> {
    out.write_all(text.as_bytes()).map_err(written)
}

const TRADE_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n";
const FUND_HEADER: &str =
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号\n";

/// A trade bill line's cells.
fn trade_cells(l: &BillLine, rate: &str) -> [String; 27] {
    let (o, c) = (&l.order, l.order.currency);
    let fee = if l.refund { 0 } else { o.fee_minor };
    [
        bill_time(l.at_ms),
        o.appid.clone(),
        o.mchid.clone(),
        "0".into(),
        String::new(),
        o.transaction_id.clone(),
        o.out_trade_no.clone(),
        o.payer_openid_paid.clone().unwrap_or_default(),
        o.trade_type.as_str().into(),
        if l.refund { "REFUND".into() } else { "SUCCESS".into() },
        o.bank_type.clone().unwrap_or_else(|| "OTHERS".into()),
        c.code().to_string(),
        if l.refund { amount(0, c) } else { amount(o.total_minor, c) },
        amount(0, c),
        if l.refund { l.refund_id.clone() } else { "0".into() },
        if l.refund { l.out_refund_no.clone() } else { "0".into() },
        amount(l.refund_minor, c),
        amount(0, c),
        if l.refund { "ORIGINAL".into() } else { String::new() },
        if l.refund { "SUCCESS".into() } else { String::new() },
        o.description.clone(),
        o.attach.clone().unwrap_or_default(),
        amount(fee, c),
        rate.to_string(),
        amount(o.total_minor, c),
        amount(l.refund_minor, c),
        String::new(),
    ]
}

/// A fund-flow line: when, what, its reference, the signed amount and its currency.
struct Flow {
    at_ms: i64,
    kind: FlowKind,
    reference: String,
    value: i64,
    currency: Currency,
}

/// What moved the receivable; the order is the bill's at equal times (as WeChat's: alphabetical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FlowKind {
    Fee,
    Payment,
    Payout,
    Refund,
}

impl FlowKind {
    /// (business name, business type, remark) as the bill writes them.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            FlowKind::Payment => ("交易", "交易", "payment"),
            FlowKind::Refund => ("退款", "退款", "refund"),
            FlowKind::Fee => ("手续费", "扣除交易手续费", "fee"),
            FlowKind::Payout => ("结算", "提现", "payout"),
        }
    }
}

impl Flow {
    fn of(l: BillLine) -> Flow {
        match l.refund {
            false => Flow {
                at_ms: l.at_ms,
                kind: FlowKind::Payment,
                value: l.order.total_minor,
                currency: l.order.currency,
                reference: l.order.transaction_id,
            },
            true => {
                Flow { at_ms: l.at_ms, kind: FlowKind::Refund, value: -l.refund_minor, currency: l.order.currency, reference: l.refund_id }
            }
        }
    }
}

/// A fund-flow bill's running totals.
#[derive(Default)]
struct FundTotals {
    balance: i64,
    income_n: i64,
    income: i64,
    expense_n: i64,
    expense: i64,
    currency: Option<Currency>,
}

impl FundTotals {
    fn write(&mut self, out: BillOut<'_>, day: &str, f: &Flow) -> Result<()> {
        // The line's number in the day, from 0: the count before this line.
        let number = self.lines();
        self.currency.get_or_insert(f.currency);
        add(&mut self.balance, f.value)?;
        if f.value >= 0 {
            self.income_n += 1;
            add(&mut self.income, f.value)?;
        } else {
            self.expense_n += 1;
            add(&mut self.expense, -f.value)?;
        }
        let (name, business, remark) = f.kind.names();
        write_row(
            out,
            &[
                bill_time(f.at_ms),
                f.reference.clone(),
                format!("{day}{number:08}").replace('-', ""),
                name.to_string(),
                business.to_string(),
                if f.value >= 0 { "收入".into() } else { "支出".into() },
                amount(f.value.abs(), f.currency),
                amount(self.balance, f.currency),
                "system".into(),
                remark.to_string(),
                f.reference.clone(),
            ],
        )
    }

    /// The lines written so far.
    fn lines(&self) -> i64 {
        self.income_n + self.expense_n
    }
}

/// A fee rate as the bills write it: `0.60%`.
pub(super) fn rate_text(fee_bps: i64) -> String {
    format!("{}.{:02}%", fee_bps / 100, fee_bps % 100)
}

fn cny() -> Currency {
    Currency::from_code("CNY").expect("CNY")
}

impl Settlements {
    /// WeChat Pay's trade bill for a merchant's day (`ALL`, `SUCCESS`: payments, or `REFUND`), written
    /// to `out` a page of lines at a time (bounded memory for any day).
    pub async fn write_trade_bill(&self, merchant: MerchantId, day: &str, bill_type: TradeBillType, out: BillOut<'_>) -> Result<()> {
        let mut buffered = std::io::BufWriter::with_capacity(BILL_BUFFER_BYTES, out);
        let out: BillOut<'_> = &mut buffered;
        let (start, end) = cst_day_bounds(day)?;
        let fee_bps = self.merchants.by_id(merchant).await?.merchant.fee_bps;
        let which = match bill_type {
            TradeBillType::All => BillLines::All,
            TradeBillType::Success => BillLines::Payments,
            TradeBillType::Refund => BillLines::Refunds,
        };
        let mut lines = self.payments.bill_lines(merchant, start, end, which);
        write_text(out, TRADE_HEADER)?;
        let (mut count, mut settled, mut refunded, mut fees) = (0i64, 0i64, 0i64, 0i64);
        let mut currency = None;
        let rate = rate_text(fee_bps);
        while let Some(l) = lines.next().await? {
            currency.get_or_insert(l.order.currency);
            count += 1;
            if l.refund {
                add(&mut refunded, l.refund_minor)?;
            } else {
                add(&mut settled, l.order.total_minor)?;
                add(&mut fees, l.order.fee_minor)?;
            }
            write_row(out, &trade_cells(&l, &rate))?;
        }
        let c = currency.unwrap_or_else(cny);
        write_text(out, "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n")?;
        // Settled and ordered totals are the same here (no coupons): both are the payments' sum.
        let totals = [
            count.to_string(),
            amount(settled, c),
            amount(refunded, c),
            amount(0, c),
            amount(fees, c),
            amount(settled, c),
            amount(refunded, c),
        ];
        write_row(out, &totals)?;
        buffered.flush().map_err(written)
    }

    /// WeChat Pay's fund-flow bill for a merchant's day (its receivable, with the running balance),
    /// written to `out`: the day's payments and refunds (paged) merged in time order with its
    /// settlement's fees and payout (a few rows).
    pub async fn write_fund_flow_bill(&self, merchant: MerchantId, day: &str, out: BillOut<'_>) -> Result<()> {
        let mut buffered = std::io::BufWriter::with_capacity(BILL_BUFFER_BYTES, out);
        let out: BillOut<'_> = &mut buffered;
        let (start, end) = cst_day_bounds(day)?;
        let d = day.to_string();
        let mut settled: Vec<Flow> = Vec::new();
        for store::Flows { id, currency, fees, payout, created_at_ms: at } in
            self.core.read(move |c| store::of_merchant_day(c, merchant, &d)).await?
        {
            if fees > 0 {
                settled.push(Flow { at_ms: at, kind: FlowKind::Fee, reference: id.to_string(), value: -fees, currency });
            }
            if payout > 0 {
                settled.push(Flow { at_ms: at, kind: FlowKind::Payout, reference: id.to_string(), value: -payout, currency });
            }
        }
        settled.sort_by_key(|f| (f.at_ms, f.kind));
        let mut settled = std::collections::VecDeque::from(settled);
        let mut lines = self.payments.bill_lines(merchant, start, end, BillLines::All);
        write_text(out, FUND_HEADER)?;
        let mut totals = FundTotals::default();
        while let Some(line) = lines.next().await? {
            let flow = Flow::of(line);
            while settled.front().is_some_and(|s| (s.at_ms, s.kind) < (flow.at_ms, flow.kind)) {
                let s = settled.pop_front().expect("a front");
                totals.write(out, day, &s)?;
            }
            totals.write(out, day, &flow)?;
        }
        for s in settled {
            totals.write(out, day, &s)?;
        }
        let c = totals.currency.unwrap_or_else(cny);
        write_text(out, "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n")?;
        write_row(
            out,
            &[
                totals.lines().to_string(),
                totals.income_n.to_string(),
                amount(totals.income, c),
                totals.expense_n.to_string(),
                amount(totals.expense, c),
            ],
        )?;
        buffered.flush().map_err(written)
    }

    /// A short-lived link token for a bill (WeChat's download URLs live 30 s): the request itself, with
    /// its deadline, under an HMAC of the server secret. Nothing is stored.
    pub fn bill_token(&self, bill: &BillRequest) -> String {
        let payload = format!(
            "{}.{}.{}.{}.{}.{}.{}",
            bill.merchant_id,
            bill.requester_id,
            bill.kind,
            bill.day,
            bill.bill_type,
            u8::from(bill.gzip),
            bill.expires_at_ms
        );
        let mac = self.core.mac_raw(format!("bill\n{payload}").as_bytes());
        format!("{payload}.{}", crypto::hex(&mac[..16]))
    }

    /// The bill a token stands for, if the token is genuine, unexpired and the caller's.
    pub fn open_bill_token(&self, token: &str, requester: MerchantId) -> Result<BillRequest> {
        let bad = || PlatformError::invalid("token", "not a valid or current bill download token (they live 30 s)");
        let (payload, mac) = token.rsplit_once('.').ok_or_else(bad)?;
        let expected = self.core.mac_raw(format!("bill\n{payload}").as_bytes());
        if !crypto::constant_time_eq(crypto::hex(&expected[..16]).as_bytes(), mac.as_bytes()) {
            return Err(bad());
        }
        let parts: Vec<&str> = payload.split('.').collect();
        let [owner, by, kind, day, bill_type, gzip, expires] = parts[..] else { return Err(bad()) };
        let id = |text: &str| text.parse::<i64>().ok().filter(|v| *v > 0).map(MerchantId::new).ok_or_else(bad);
        let bill = BillRequest {
            merchant_id: id(owner)?,
            requester_id: id(by)?,
            kind: BillKind::parse(kind).ok_or_else(bad)?,
            day: day.to_string(),
            bill_type: TradeBillType::parse(bill_type).ok_or_else(bad)?,
            gzip: gzip == "1",
            expires_at_ms: expires.parse().map_err(|_| bad())?,
        };
        if bill.requester_id != requester || bill.expires_at_ms < self.core.now_ms() {
            return Err(bad());
        }
        Ok(bill)
    }

    /// The bill, written to `out` (uncompressed).
    pub async fn write_bill(&self, bill: &BillRequest, out: BillOut<'_>) -> Result<()> {
        match bill.kind {
            BillKind::Trade => self.write_trade_bill(bill.merchant_id, &bill.day, bill.bill_type, out).await,
            BillKind::FundFlow => self.write_fund_flow_bill(bill.merchant_id, &bill.day, out).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bill_cells_start_with_a_backtick_and_never_split_columns() {
        let mut out = Vec::new();
        write_row(&mut out, &["a,b\nc".to_string(), String::new(), "d\r".to_string()]).unwrap();
        assert_eq!(out, "`a b c,`,`d \n".as_bytes());
        assert_eq!(bill_time(1_528_425_296_000), "2018-06-08 10:34:56");
    }
}
