//! Fees, daily settlement and bills.
//!
//! Days are China Standard Time days (as WeChat Pay's bills are). Settling a day, per merchant and
//! currency, moves that day's fees from the merchant's receivable to the platform's fee revenue and pays
//! out `payments − refunds − fees + carry` to the settlement clearing account. A day whose refunds exceed
//! its takings pays out nothing and carries the shortfall into the next day's settlement (the receivable
//! is the one account allowed below zero, and only refunds take it there). Each (merchant, day, currency)
//! settles exactly once: the settlement row is the guard of the committer request that moves the money.

use crate::{Platform, PlatformError, Result, ids};
use ledger::{NewTransfer, TransferFlags};
use money::{Currency, Money};
use serde::Serialize;
use std::fmt::Write as _;
use store::{Conditions, Effect, GuardFailed, params};

/// A day must have ended this long ago before it settles (late commits from other instances land first).
pub const SETTLEMENT_DELAY_MS: i64 = 10 * 60_000;

/// A bill asked for: `kind` trade or fundflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRequest {
    /// Whose bill (a sub-merchant's, when its service provider asks).
    pub merchant_id: i64,
    /// Who asked (and alone may download it).
    pub requester_id: i64,
    pub kind: String,
    pub day: String,
    pub bill_type: String,
    pub gzip: bool,
    pub expires_at_ms: i64,
}

/// How long a bill's download link works (WeChat's: 30 s).
pub const BILL_LINK_TTL_MS: i64 = 30_000;

#[derive(Debug, Clone, Serialize)]
pub struct Settlement {
    pub mchid: String,
    pub day: String,
    pub currency: Currency,
    pub payments: i64,
    /// Minor units.
    pub gross: i64,
    pub refunds: i64,
    pub fees: i64,
    /// A shortfall carried from an earlier day (≤ 0).
    pub carry_in: i64,
    pub payout: i64,
    /// The shortfall carried to the next day (≤ 0).
    pub carry_out: i64,
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

/// Add to a bill's running total; a bill whose totals do not fit i64 is refused, never wrapped.
fn add(total: &mut i64, value: i64) -> Result<()> {
    *total = total.checked_add(value).ok_or_else(|| PlatformError::Internal("a bill total overflows i64".into()))?;
    Ok(())
}

fn amount(minor: i64, currency: Currency) -> String {
    Money::from_minor(minor, currency).map(|m| m.to_decimal_string()).unwrap_or_else(|_| minor.to_string())
}

/// `2018-06-08 10:34:56` in China Standard Time, as WeChat's bills write times.
fn bill_time(ms: i64) -> String {
    let t = wxpay::time::civil(ms / 1000 + wxpay::time::CST_OFFSET_S);
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

/// A bill cell: WeChat prefixes every value with a backtick (so spreadsheets keep long numbers as text);
/// commas and line breaks in merchant text would break the columns, so they become spaces.
fn cell(text: &str) -> String {
    format!("`{}", text.replace([',', '\n', '\r'], " "))
}

impl Platform {
    /// Settle a day for every merchant and currency with payments, refunds or a carried shortfall.
    pub async fn settle_day(&self, day: &str) -> Result<Vec<Settlement>> {
        let (start, end) = cst_day_bounds(day)?;
        if end + SETTLEMENT_DELAY_MS > self.now_ms() {
            return Err(PlatformError::invalid("day", "a day settles once it is over (ten minutes after midnight China time)"));
        }
        let day_w = day.to_string();
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        "SELECT merchant_id, currency, CAST(SUM(payments) AS BIGINT), CAST(SUM(gross) AS BIGINT), CAST(SUM(fees) AS BIGINT), CAST(SUM(refunds) AS BIGINT) FROM (
                            SELECT merchant_id, currency, COUNT(*) AS payments, SUM(total) AS gross, SUM(fee) AS fees, 0 AS refunds FROM orders WHERE success_at >= $1 AND success_at < $2 GROUP BY merchant_id, currency
                            UNION ALL SELECT merchant_id, currency, 0, 0, 0, SUM(amount) FROM refunds WHERE created_at >= $1 AND created_at < $2 GROUP BY merchant_id, currency
                            UNION ALL SELECT s.merchant_id, s.currency, 0, 0, 0, 0 FROM settlements s WHERE s.carry_out < 0 AND s.day < $3
                                AND s.day = (SELECT MAX(p.day) FROM settlements p WHERE p.merchant_id = s.merchant_id AND p.currency = s.currency AND p.day < $3)
                         ) t GROUP BY merchant_id, currency ORDER BY merchant_id, currency",
                        params![start, end, day_w.as_str()],
                    )
                })?)
            })
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let (merchant_id, currency) = (r.int(0)?, r.int(1)?);
            let (payments, gross, fees, refunds) = (r.int(2)?, r.int(3)?, r.int(4)?, r.int(5)?);
            self.settle_one(merchant_id, currency, day, payments, gross, fees, refunds).await?;
        }
        for s in self.settlements(day).await? {
            out.push(s);
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn settle_one(
        &self,
        merchant_id: i64,
        numeric: i64,
        day: &str,
        payments: i64,
        gross: i64,
        fees: i64,
        refunds: i64,
    ) -> Result<()> {
        let currency = Currency::from_numeric(numeric as u16).map_err(|e| PlatformError::Internal(e.to_string()))?;
        let day_w = day.to_string();
        let carry_in = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query_one(
                        "SELECT carry_out FROM settlements WHERE merchant_id = $1 AND currency = $2 AND day < $3 ORDER BY day DESC LIMIT 1",
                        params![merchant_id, numeric, day_w.as_str()],
                    )
                })?)
            })
            .await?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
        let overflow = || PlatformError::Internal(format!("settlement of merchant {merchant_id} on {day} overflows i64"));
        let net =
            gross.checked_sub(refunds).and_then(|n| n.checked_sub(fees)).and_then(|n| n.checked_add(carry_in)).ok_or_else(overflow)?;
        let (payout, carry_out) = (net.max(0), net.min(0));
        let now = self.now_ms();
        let id = ids::object_id(now);
        let leg = |kind: u16, credit: u128, amount: i64| NewTransfer {
            id: ids::derived(id, kind, 0),
            debit_account_id: ids::merchant_receivable(merchant_id, currency.numeric()),
            credit_account_id: credit,
            amount: amount as u64,
            pending_id: 0,
            currency: Some(currency),
            code: kind,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: merchant_id as u128,
        };
        let mut transfers = Vec::new();
        if fees > 0 {
            transfers.push(leg(ids::transfer::SETTLEMENT_FEE, ids::system_account(ids::account::FEE_REVENUE, currency.numeric()), fees));
        }
        if payout > 0 {
            transfers.push(leg(
                ids::transfer::SETTLEMENT_PAYOUT,
                ids::system_account(ids::account::SETTLEMENT_CLEARING, currency.numeric()),
                payout,
            ));
        }
        let row = Effect {
            sql: "INSERT INTO settlements (id, merchant_id, day, currency, payments, gross, refunds, fees, carry_in, payout, carry_out, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (merchant_id, day, currency) DO NOTHING",
            params: params![id, merchant_id, day, numeric, payments, gross, refunds, fees, carry_in, payout, carry_out, now].to_vec(),
        };
        match self.ledger.create_transfers_guarded(transfers, Conditions { guards: vec![row], effects: Vec::new() }).await? {
            Ok(results) => match results.iter().find_map(|r| r.err()) {
                None => Ok(()),
                Some(e) => Err(PlatformError::Internal(format!("settlement refused by the ledger: {}", e.code()))),
            },
            Err(GuardFailed(_)) => Ok(()), // settled before (by this or another instance)
        }
    }

    /// The settlements of a day (the operator's report).
    pub async fn settlements(&self, day: &str) -> Result<Vec<Settlement>> {
        cst_day_bounds(day)?;
        let day = day.to_string();
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        "SELECT m.mchid, s.day, s.currency, s.payments, s.gross, s.refunds, s.fees, s.carry_in, s.payout, s.carry_out, s.created_at FROM settlements s JOIN merchants m ON m.id = s.merchant_id WHERE s.day = $1 ORDER BY m.mchid, s.currency",
                        params![day.as_str()],
                    )
                })?)
            })
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Settlement {
                    mchid: r.text(0)?,
                    day: r.text(1)?,
                    currency: Currency::from_numeric(r.int(2)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?,
                    payments: r.int(3)?,
                    gross: r.int(4)?,
                    refunds: r.int(5)?,
                    fees: r.int(6)?,
                    carry_in: r.int(7)?,
                    payout: r.int(8)?,
                    carry_out: r.int(9)?,
                    created_at_ms: r.int(10)?,
                })
            })
            .collect()
    }

    /// The settlement report as CSV.
    pub fn settlements_csv(settlements: &[Settlement]) -> String {
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
                amount(s.gross, c),
                amount(s.refunds, c),
                amount(s.fees, c),
                amount(s.carry_in, c),
                amount(s.payout, c),
                amount(s.carry_out, c)
            );
        }
        out
    }

    /// WeChat Pay's trade bill for a merchant's day: `ALL`, `SUCCESS` (payments) or `REFUND`.
    pub async fn trade_bill(&self, merchant_id: i64, day: &str, bill_type: &str) -> Result<String> {
        if !["ALL", "SUCCESS", "REFUND"].contains(&bill_type) {
            return Err(PlatformError::invalid("bill_type", "ALL, SUCCESS or REFUND"));
        }
        let (start, end) = cst_day_bounds(day)?;
        let auth_fee_bps = self
            .blocking(move |db| Ok(db.with(|c| c.query_one("SELECT fee_bps FROM merchants WHERE id = $1", params![merchant_id]))?))
            .await?
            .ok_or(PlatformError::NotFound("merchant"))?
            .int(0)?;
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        "SELECT 0 AS refund, o.success_at AS at, o.appid, m.mchid, o.transaction_id, o.out_trade_no, o.payer_openid_paid, o.trade_type, o.bank_type, o.currency, o.total, '' AS refund_id, '' AS out_refund_no, 0 AS refund_amount, o.description, o.attach, o.fee
                           FROM orders o JOIN merchants m ON m.id = o.merchant_id WHERE o.merchant_id = $1 AND o.success_at >= $2 AND o.success_at < $3
                         UNION ALL
                         SELECT 1, r.created_at, o.appid, m.mchid, o.transaction_id, o.out_trade_no, o.payer_openid_paid, o.trade_type, o.bank_type, o.currency, o.total, r.refund_id, r.out_refund_no, r.amount, o.description, o.attach, 0
                           FROM refunds r JOIN orders o ON o.id = r.order_id JOIN merchants m ON m.id = r.merchant_id WHERE r.merchant_id = $1 AND r.created_at >= $2 AND r.created_at < $3
                         ORDER BY at, refund",
                        params![merchant_id, start, end],
                    )
                })?)
            })
            .await?;
        let mut out = String::from(
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n",
        );
        let (mut count, mut settled, mut refunded, mut fees, mut ordered) = (0i64, 0i64, 0i64, 0i64, 0i64);
        let mut currency = None;
        let rate = format!("{}.{:02}%", auth_fee_bps / 100, auth_fee_bps % 100);
        for r in rows {
            let is_refund = r.int(0)? == 1;
            if (bill_type == "SUCCESS" && is_refund) || (bill_type == "REFUND" && !is_refund) {
                continue;
            }
            let c = Currency::from_numeric(r.int(9)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?;
            currency.get_or_insert(c);
            let (total, refund_amount, fee) = (r.int(10)?, r.int(13)?, r.int(16)?);
            count += 1;
            if is_refund {
                add(&mut refunded, refund_amount)?;
            } else {
                add(&mut settled, total)?;
                add(&mut ordered, total)?;
                add(&mut fees, fee)?;
            }
            let fields = [
                bill_time(r.int(1)?),
                r.text(2)?,
                r.text(3)?,
                "0".into(),
                String::new(),
                r.text(4)?,
                r.text(5)?,
                r.opt_text(6)?.unwrap_or_default(),
                r.text(7)?,
                if is_refund { "REFUND".into() } else { "SUCCESS".into() },
                r.opt_text(8)?.unwrap_or_else(|| "OTHERS".into()),
                c.code().to_string(),
                if is_refund { amount(0, c) } else { amount(total, c) },
                amount(0, c),
                if is_refund { r.text(11)? } else { "0".into() },
                if is_refund { r.text(12)? } else { "0".into() },
                amount(refund_amount, c),
                amount(0, c),
                if is_refund { "ORIGINAL".into() } else { String::new() },
                if is_refund { "SUCCESS".into() } else { String::new() },
                r.text(14)?,
                r.opt_text(15)?.unwrap_or_default(),
                amount(fee, c),
                rate.clone(),
                amount(total, c),
                amount(refund_amount, c),
                String::new(),
            ];
            out.push_str(&fields.iter().map(|f| cell(f)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        let c = currency.unwrap_or_else(|| Currency::from_code("CNY").expect("CNY"));
        out.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n");
        let summary = [
            count.to_string(),
            amount(settled, c),
            amount(refunded, c),
            amount(0, c),
            amount(fees, c),
            amount(ordered, c),
            amount(refunded, c),
        ];
        out.push_str(&summary.iter().map(|f| cell(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
        Ok(out)
    }

    /// WeChat Pay's fund-flow bill for a merchant's day (its receivable): payments in, refunds, fees and
    /// payouts out, with the running balance.
    pub async fn fund_flow_bill(&self, merchant_id: i64, day: &str) -> Result<String> {
        let (start, end) = cst_day_bounds(day)?;
        let day_w = day.to_string();
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        "SELECT at, kind, ref, amount, currency FROM (
                            SELECT success_at AS at, 'payment' AS kind, transaction_id AS ref, total AS amount, currency FROM orders WHERE merchant_id = $1 AND success_at >= $2 AND success_at < $3
                            UNION ALL SELECT created_at, 'refund', refund_id, -amount, currency FROM refunds WHERE merchant_id = $1 AND created_at >= $2 AND created_at < $3
                            UNION ALL SELECT created_at, 'fee', CAST(id AS TEXT), -fees, currency FROM settlements WHERE merchant_id = $1 AND day = $4 AND fees > 0
                            UNION ALL SELECT created_at, 'payout', CAST(id AS TEXT), -payout, currency FROM settlements WHERE merchant_id = $1 AND day = $4 AND payout > 0
                         ) f ORDER BY at, kind",
                        params![merchant_id, start, end, day_w.as_str()],
                    )
                })?)
            })
            .await?;
        let mut out = String::from(
            "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号\n",
        );
        let (mut balance, mut income_n, mut income, mut expense_n, mut expense) = (0i64, 0i64, 0i64, 0i64, 0i64);
        let mut currency = None;
        for (i, r) in rows.iter().enumerate() {
            let c = Currency::from_numeric(r.int(4)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?;
            currency.get_or_insert(c);
            let (kind, value) = (r.text(1)?, r.int(3)?);
            add(&mut balance, value)?;
            if value >= 0 {
                income_n += 1;
                add(&mut income, value)?;
            } else {
                expense_n += 1;
                add(&mut expense, -value)?;
            }
            let (name, business) = match kind.as_str() {
                "payment" => ("交易", "交易"),
                "refund" => ("退款", "退款"),
                "fee" => ("手续费", "扣除交易手续费"),
                _ => ("结算", "提现"),
            };
            let fields = [
                bill_time(r.int(0)?),
                r.text(2)?,
                format!("{day}{i:08}").replace('-', ""),
                name.to_string(),
                business.to_string(),
                if value >= 0 { "收入".into() } else { "支出".into() },
                amount(value.abs(), c),
                amount(balance, c),
                "system".into(),
                kind.clone(),
                r.text(2)?,
            ];
            out.push_str(&fields.iter().map(|f| cell(f)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        let c = currency.unwrap_or_else(|| Currency::from_code("CNY").expect("CNY"));
        out.push_str("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\n");
        let summary =
            [(income_n + expense_n).to_string(), income_n.to_string(), amount(income, c), expense_n.to_string(), amount(expense, c)];
        out.push_str(&summary.iter().map(|f| cell(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
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
        let mac = crate::crypto::hmac_sha256(&self.secret, format!("bill\n{payload}").as_bytes());
        format!("{payload}.{}", crate::crypto::hex(&mac[..16]))
    }

    /// The bill a token stands for, if the token is genuine, unexpired and the caller's.
    pub fn open_bill_token(&self, token: &str, requester_id: i64) -> Result<BillRequest> {
        let bad = || PlatformError::invalid("token", "not a valid or current bill download token (they live 30 s)");
        let (payload, mac) = token.rsplit_once('.').ok_or_else(bad)?;
        let expected = crate::crypto::hmac_sha256(&self.secret, format!("bill\n{payload}").as_bytes());
        if !crate::crypto::constant_time_eq(crate::crypto::hex(&expected[..16]).as_bytes(), mac.as_bytes()) {
            return Err(bad());
        }
        let parts: Vec<&str> = payload.split('.').collect();
        let [owner, requester, kind, day, bill_type, gzip, expires] = parts[..] else { return Err(bad()) };
        let bill = BillRequest {
            merchant_id: owner.parse().map_err(|_| bad())?,
            requester_id: requester.parse().map_err(|_| bad())?,
            kind: kind.to_string(),
            day: day.to_string(),
            bill_type: bill_type.to_string(),
            gzip: gzip == "1",
            expires_at_ms: expires.parse().map_err(|_| bad())?,
        };
        if bill.requester_id != requester_id || bill.expires_at_ms < self.now_ms() {
            return Err(bad());
        }
        Ok(bill)
    }

    /// The bill's text.
    pub async fn bill(&self, bill: &BillRequest) -> Result<String> {
        match bill.kind.as_str() {
            "trade" => self.trade_bill(bill.merchant_id, &bill.day, &bill.bill_type).await,
            _ => self.fund_flow_bill(bill.merchant_id, &bill.day).await,
        }
    }

    /// Settle yesterday (China time) once it is past the delay; cheap to call often (a day settles once).
    pub(crate) async fn settle_due_day(&self) -> Result<usize> {
        let now = self.now_ms();
        let yesterday_ms = now - SETTLEMENT_DELAY_MS - 86_400_000;
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

    #[test]
    fn bill_cells_start_with_a_backtick_and_never_split_columns() {
        assert_eq!(cell("a,b\nc"), "`a b c");
        assert_eq!(bill_time(1_528_425_296_000), "2018-06-08 10:34:56");
    }
}
