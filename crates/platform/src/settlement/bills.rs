//! WeChat Pay's bills for a merchant's day: the trade bill (payments and refunds) and the fund-flow bill
//! (the receivable: payments in, refunds, fees and payouts out, with the running balance), and the
//! short-lived download links that carry a request.

use super::{Settlements, amount, cst_day_bounds, store};
use crate::{MerchantId, PlatformError, Result, crypto};
use money::Currency;

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

/// A bill cell: WeChat prefixes every value with a backtick (so spreadsheets keep long numbers as text);
/// commas and line breaks in merchant text would break the columns, so they become spaces.
pub(super) fn cell(text: &str) -> String {
    format!("`{}", text.replace([',', '\n', '\r'], " "))
}

fn row(cells: &[String]) -> String {
    let mut line = cells.iter().map(|f| cell(f)).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

const TRADE_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n";
const FUND_HEADER: &str =
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号\n";

impl Settlements {
    /// WeChat Pay's trade bill for a merchant's day: `ALL`, `SUCCESS` (payments) or `REFUND`.
    pub async fn trade_bill(&self, merchant: MerchantId, day: &str, bill_type: TradeBillType) -> Result<String> {
        let (start, end) = cst_day_bounds(day)?;
        let fee_bps = self.merchants.by_id(merchant).await?.merchant.fee_bps;
        let lines = self.payments.bill_lines(merchant, start, end).await?;
        let mut out = String::from(TRADE_HEADER);
        let (mut count, mut settled, mut refunded, mut fees, mut ordered) = (0i64, 0i64, 0i64, 0i64, 0i64);
        let mut currency = None;
        let rate = format!("{}.{:02}%", fee_bps / 100, fee_bps % 100);
        for l in lines.iter().filter(|l| bill_type == TradeBillType::All || (bill_type == TradeBillType::Refund) == l.refund) {
            let (o, c) = (&l.order, l.order.currency);
            currency.get_or_insert(c);
            let fee = if l.refund { 0 } else { o.fee_minor };
            count += 1;
            if l.refund {
                add(&mut refunded, l.refund_minor)?;
            } else {
                add(&mut settled, o.total_minor)?;
                add(&mut ordered, o.total_minor)?;
                add(&mut fees, fee)?;
            }
            out.push_str(&row(&[
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
                rate.clone(),
                amount(o.total_minor, c),
                amount(l.refund_minor, c),
                String::new(),
            ]));
        }
        let c = currency.unwrap_or_else(|| Currency::from_code("CNY").expect("CNY"));
        out.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n");
        out.push_str(&row(&[
            count.to_string(),
            amount(settled, c),
            amount(refunded, c),
            amount(0, c),
            amount(fees, c),
            amount(ordered, c),
            amount(refunded, c),
        ]));
        Ok(out)
    }

    /// WeChat Pay's fund-flow bill for a merchant's day (its receivable), with the running balance.
    pub async fn fund_flow_bill(&self, merchant: MerchantId, day: &str) -> Result<String> {
        let (start, end) = cst_day_bounds(day)?;
        // (at, kind, reference, signed amount, currency), payments and refunds from the payments domain.
        let mut flows: Vec<(i64, &'static str, String, i64, Currency)> = self
            .payments
            .bill_lines(merchant, start, end)
            .await?
            .into_iter()
            .map(|l| match l.refund {
                false => (l.at_ms, "payment", l.order.transaction_id.clone(), l.order.total_minor, l.order.currency),
                true => (l.at_ms, "refund", l.refund_id.clone(), -l.refund_minor, l.order.currency),
            })
            .collect();
        let d = day.to_string();
        for store::Flows { id, currency, fees, payout, created_at_ms: at } in
            self.core.read(move |c| store::of_merchant_day(c, merchant, &d)).await?
        {
            if fees > 0 {
                flows.push((at, "fee", id.to_string(), -fees, currency));
            }
            if payout > 0 {
                flows.push((at, "payout", id.to_string(), -payout, currency));
            }
        }
        flows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut out = String::from(FUND_HEADER);
        let (mut balance, mut income_n, mut income, mut expense_n, mut expense) = (0i64, 0i64, 0i64, 0i64, 0i64);
        let mut currency = None;
        for (i, (at, kind, reference, value, c)) in flows.iter().enumerate() {
            currency.get_or_insert(*c);
            add(&mut balance, *value)?;
            if *value >= 0 {
                income_n += 1;
                add(&mut income, *value)?;
            } else {
                expense_n += 1;
                add(&mut expense, -value)?;
            }
            let (name, business) = match *kind {
                "payment" => ("交易", "交易"),
                "refund" => ("退款", "退款"),
                "fee" => ("手续费", "扣除交易手续费"),
                _ => ("结算", "提现"),
            };
            out.push_str(&row(&[
                bill_time(*at),
                reference.clone(),
                format!("{day}{i:08}").replace('-', ""),
                name.to_string(),
                business.to_string(),
                if *value >= 0 { "收入".into() } else { "支出".into() },
                amount(value.abs(), *c),
                amount(balance, *c),
                "system".into(),
                kind.to_string(),
                reference.clone(),
            ]));
        }
        let c = currency.unwrap_or_else(|| Currency::from_code("CNY").expect("CNY"));
        out.push_str("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n");
        out.push_str(&row(&[
            (income_n + expense_n).to_string(),
            income_n.to_string(),
            amount(income, c),
            expense_n.to_string(),
            amount(expense, c),
        ]));
        Ok(out)
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

    /// The bill's text.
    pub async fn bill(&self, bill: &BillRequest) -> Result<String> {
        match bill.kind {
            BillKind::Trade => self.trade_bill(bill.merchant_id, &bill.day, bill.bill_type).await,
            BillKind::FundFlow => self.fund_flow_bill(bill.merchant_id, &bill.day).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bill_cells_start_with_a_backtick_and_never_split_columns() {
        assert_eq!(cell("a,b\nc"), "`a b c");
        assert_eq!(bill_time(1_528_425_296_000), "2018-06-08 10:34:56");
    }
}
