//! Wallet balances, linked cards, top-ups, and the history of everything a person's money did.

use crate::rail::RailOutcome;
use crate::{Platform, PlatformError, Result, ids};
use ledger::{NewTransfer, Outcome, TransferError, TransferFlags};
use money::{Currency, Money};
use serde::Serialize;
use store::params;

#[derive(Debug, Clone, Serialize)]
pub struct Balance {
    pub currency: Currency,
    /// What may be spent now (posted credits − posted debits − reserved), as a decimal string.
    pub available: String,
    /// Money sent and not yet accepted (held on the way out).
    pub outgoing_pending: String,
    /// Money sent to this person that they have not accepted yet.
    pub incoming_pending: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub brand: &'static str,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

#[derive(Debug, Clone, Serialize)]
/// A top-up or a withdrawal: money in from, or out to, a rail.
pub struct RailOperation {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub currency: Currency,
    pub amount: String,
    /// pending, succeeded or failed
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RailKind {
    TopUp,
    Withdrawal,
    /// A payment funded straight from a card (no balance needed).
    CardPayment,
}

/// A rail operation just recorded as pending.
pub(crate) struct RailStart {
    pub id: i64,
    pub token: String,
    pub currency: Currency,
    pub minor: i64,
}

/// One line of a person's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryItem {
    /// transfer_out, transfer_in, red_packet_sent, red_packet_received, top_up, withdrawal, card_funding
    /// (a payment paid straight from a card: the money came in from the card and went straight out),
    /// merchant_payment, merchant_refund
    pub kind: String,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub currency: Currency,
    /// Signed decimal: what this did to the wallet (money reserved on the way out counts as out).
    pub amount: String,
    #[serde(serialize_with = "crate::ids::opt_as_string")]
    pub counterparty_id: Option<i64>,
    pub state: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub kind: Option<String>,
    pub currency: Option<Currency>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Items after this one in the newest-first order: the previous page's last `(created_at_ms, id)`.
    pub before: Option<(i64, i64)>,
    pub limit: usize,
}

pub const HISTORY_KINDS: &[&str] = &[
    "transfer_out",
    "transfer_in",
    "red_packet_sent",
    "red_packet_received",
    "top_up",
    "withdrawal",
    "card_funding",
    "merchant_payment",
    "merchant_refund",
];
pub const HISTORY_PAGE_MAX: usize = 100;

/// Luhn check over ASCII digits.
pub fn luhn_valid(number: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in number.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// The card brand from the number's prefix (IIN ranges).
pub fn card_brand(number: &str) -> Option<&'static str> {
    let prefix = |n: usize| number.get(..n).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    let len = number.len();
    match () {
        _ if number.starts_with('4') && matches!(len, 13 | 16 | 19) => Some("visa"),
        _ if ((51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4))) && len == 16 => Some("mastercard"),
        _ if matches!(prefix(2), 34 | 37) && len == 15 => Some("amex"),
        _ if (3528..=3589).contains(&prefix(4)) && (16..=19).contains(&len) => Some("jcb"),
        _ if number.starts_with("62") && (16..=19).contains(&len) => Some("unionpay"),
        _ => None,
    }
}

/// Parse a positive amount of a currency from a decimal string, as a person types it.
pub fn parse_amount(field: &'static str, text: &str, currency: Currency) -> Result<Money> {
    Money::parse_positive(text, currency).map_err(|e| PlatformError::invalid(field, e.to_string()))
}

pub fn parse_currency(text: &str) -> Result<Currency> {
    let c = Currency::from_code(text).map_err(|e| PlatformError::invalid("currency", e.to_string()))?;
    c.minor_units().ok_or_else(|| PlatformError::invalid("currency", format!("{c} cannot hold money")))?;
    Ok(c)
}

fn decimal(minor: i128, currency: Currency) -> String {
    let minor = i64::try_from(minor).unwrap_or(i64::MAX);
    Money::from_minor(minor, currency).map(|m| m.to_decimal_string()).unwrap_or_default()
}

fn rail_operation_from(row: &store::Row) -> Result<RailOperation> {
    let currency = Currency::from_numeric(row.int(1)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?;
    Ok(RailOperation {
        id: row.int(0)?,
        currency,
        amount: decimal(i128::from(row.int(2)?), currency),
        state: row.text(3)?,
        failure: row.opt_text(4)?,
    })
}

impl Platform {
    /// The currencies a person's wallet holds (their region's).
    pub async fn wallet_currencies(&self, person: i64) -> Result<Vec<Currency>> {
        let p = self.person(person).await?;
        Ok(self.config.region(&p.region).map(|r| r.currencies.clone()).unwrap_or_default())
    }

    pub(crate) async fn require_currency(&self, person: i64, currency: Currency) -> Result<()> {
        if !self.wallet_currencies(person).await?.contains(&currency) {
            return Err(PlatformError::invalid("currency", format!("{currency} is not enabled for this wallet's region")));
        }
        Ok(())
    }

    pub async fn balances(&self, person: i64) -> Result<Vec<Balance>> {
        let currencies = self.wallet_currencies(person).await?;
        let store = self.store.clone();
        self.blocking(move |_| {
            let mut out = Vec::new();
            for c in currencies {
                let account = store.account(ids::wallet(person, c.numeric()))?;
                let (dp, dpo, cp, cpo) =
                    account.map(|a| (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)).unwrap_or_default();
                let available = i128::from(cpo) - i128::from(dpo) - i128::from(dp);
                out.push(Balance {
                    currency: c,
                    available: decimal(available, c),
                    outgoing_pending: decimal(i128::from(dp), c),
                    incoming_pending: decimal(i128::from(cp), c),
                });
            }
            Ok(out)
        })
        .await
    }

    /// Link a card: Luhn-checked, brand from the number, not expired; only a rail token, the brand and
    /// the last four digits are kept.
    pub async fn add_card(&self, person: i64, number: &str, exp_month: i64, exp_year: i64) -> Result<Card> {
        let number: String = number.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PlatformError::invalid("number", "12 to 19 digits"));
        }
        if !luhn_valid(&number) {
            return Err(PlatformError::invalid("number", "not a valid card number (Luhn check failed)"));
        }
        let brand = card_brand(&number)
            .ok_or_else(|| PlatformError::invalid("number", "card brand not accepted (Visa, Mastercard, UnionPay, AmEx, JCB)"))?;
        if !(1..=12).contains(&exp_month) {
            return Err(PlatformError::invalid("exp_month", "1 to 12"));
        }
        let (year, month) = civil_year_month(self.now_ms());
        if !(2000..=2100).contains(&exp_year) || (exp_year, exp_month) < (year, month) {
            return Err(PlatformError::invalid("exp_year", "the card has expired"));
        }
        let token = self.rail.tokenize(&number);
        let last4 = number[number.len() - 4..].to_string();
        let now = self.now_ms();
        let id = ids::object_id(now);
        let l4 = last4.clone();
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "INSERT INTO cards (id, person_id, token, brand, last4, exp_month, exp_year, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    params![id, person, token.as_str(), brand, l4.as_str(), exp_month, exp_year, now],
                )
            })?)
        })
        .await?;
        Ok(Card { id, brand, last4, exp_month, exp_year })
    }

    pub async fn cards(&self, person: i64) -> Result<Vec<Card>> {
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query("SELECT id, brand, last4, exp_month, exp_year FROM cards WHERE person_id = $1 ORDER BY id", params![person])
                })?)
            })
            .await?;
        rows.iter()
            .map(|r| {
                let brand = match r.text(1)?.as_str() {
                    "visa" => "visa",
                    "mastercard" => "mastercard",
                    "amex" => "amex",
                    "jcb" => "jcb",
                    _ => "unionpay",
                };
                Ok(Card { id: r.int(0)?, brand, last4: r.text(2)?, exp_month: r.int(3)?, exp_year: r.int(4)? })
            })
            .collect()
    }

    /// Top up the wallet from a linked card. Approved at once, declined, or pending until the rail
    /// answers ([`Platform::run_deadlines`] asks again).
    pub async fn top_up(&self, person: i64, card_id: i64, amount: &str, currency: &str, pin: Option<&str>) -> Result<RailOperation> {
        let RailStart { id, token, currency, minor } =
            self.start_rail_operation(person, RailKind::TopUp, card_id, amount, currency, pin).await?;
        let outcome = self.rail.charge(&token, currency, minor, &id.to_string());
        self.settle_top_up(id, person, currency, minor, outcome).await?;
        self.top_up_status(person, id).await
    }

    /// The common start of a top-up or a withdrawal: parse the amount, check the currency and the
    /// instrument (the person's own card or bank account), authorize with the PIN, record the operation
    /// as pending. Returns its id and the instrument's rail token.
    pub(crate) async fn start_rail_operation(
        &self,
        person: i64,
        kind: RailKind,
        instrument: i64,
        amount: &str,
        currency: &str,
        pin: Option<&str>,
    ) -> Result<RailStart> {
        let currency = parse_currency(currency)?;
        let amount = parse_amount("amount", amount, currency)?;
        self.require_currency(person, currency).await?;
        let (table, column, name, what) = match kind {
            RailKind::TopUp => ("cards", "card_id", "top_up", "card"),
            RailKind::Withdrawal => ("bank_accounts", "bank_account_id", "withdrawal", "bank account"),
            RailKind::CardPayment => ("cards", "card_id", "card_payment", "card"),
        };
        let lookup = format!("SELECT token FROM {table} WHERE id = $1 AND person_id = $2");
        let row = self
            .blocking(move |db| Ok(db.with(|c| c.query_one(&lookup, params![instrument, person]))?))
            .await?
            .ok_or(PlatformError::NotFound(what))?;
        let token = row.text(0)?;
        self.authorize_payment(person, amount.minor(), pin).await?;
        let now = self.now_ms();
        let id = ids::object_id(now);
        let (numeric, minor) = (currency.numeric(), amount.minor());
        let insert = format!(
            "INSERT INTO rail_operations (id, person_id, kind, {column}, currency, amount, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)"
        );
        self.blocking(move |db| Ok(db.with(|c| c.execute(&insert, params![id, person, name, instrument, numeric, minor, now]))?)).await?;
        Ok(RailStart { id, token, currency, minor })
    }

    /// A pending rail operation's reference, to ask the rail about it again later.
    pub(crate) async fn record_rail_reference(&self, id: i64, reference: String) -> Result<()> {
        let now = self.now_ms();
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "UPDATE rail_operations SET rail_reference = $1, updated_at = $2 WHERE id = $3",
                    params![reference.as_str(), now, id],
                )
            })?)
        })
        .await?;
        Ok(())
    }

    /// Apply what the rail said about a top-up (idempotent: the ledger transfer's id is the top-up's).
    pub(crate) async fn settle_top_up(&self, id: i64, person: i64, currency: Currency, minor: i64, outcome: RailOutcome) -> Result<()> {
        let (state, failure, reference) = match outcome {
            RailOutcome::Pending { reference } => return self.record_rail_reference(id, reference).await,
            RailOutcome::Approved { reference } => {
                self.ledger_one(card_in(id, ids::transfer::TOP_UP, person, currency, minor)).await?;
                ("succeeded", None, reference)
            }
            RailOutcome::Declined { reason } => ("failed", Some(reason), String::new()),
        };
        let now = self.now_ms();
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "UPDATE rail_operations SET state = $1, failure = $2, rail_reference = $3, updated_at = $4 WHERE id = $5 AND state = 'pending'",
                    params![state, failure, reference.as_str(), now, id],
                )
            })?)
        })
        .await?;
        Ok(())
    }

    pub async fn top_up_status(&self, person: i64, id: i64) -> Result<RailOperation> {
        self.rail_operation(person, id, "top_up").await
    }

    pub(crate) async fn rail_operation(&self, person: i64, id: i64, kind: &'static str) -> Result<RailOperation> {
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query_one(
                        "SELECT id, currency, amount, state, failure FROM rail_operations WHERE id = $1 AND person_id = $2 AND kind = $3",
                        params![id, person, kind],
                    )
                })?)
            })
            .await?
            .ok_or(PlatformError::NotFound(match kind {
                "top_up" => "top-up",
                "withdrawal" => "withdrawal",
                _ => "card payment",
            }))?;
        rail_operation_from(&row)
    }

    /// Ask the rail again about every pending top-up.
    pub(crate) async fn settle_pending_top_ups(&self) -> Result<usize> {
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query("SELECT id, person_id, currency, amount, rail_reference FROM rail_operations WHERE state = 'pending' AND kind = 'top_up' ORDER BY id LIMIT 1000", &[])
                })?)
            })
            .await?;
        let mut settled = 0;
        for r in rows {
            let (id, person, numeric, minor) = (r.int(0)?, r.int(1)?, r.int(2)?, r.int(3)?);
            let Some(reference) = r.opt_text(4)? else { continue };
            let currency = Currency::from_numeric(numeric as u16).map_err(|e| PlatformError::Internal(e.to_string()))?;
            let outcome = self.rail.status(&reference);
            if !matches!(outcome, RailOutcome::Pending { .. }) {
                self.settle_top_up(id, person, currency, minor, outcome).await?;
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Submit one transfer; `exists` (a retry) counts as success.
    pub(crate) async fn ledger_one(&self, transfer: NewTransfer) -> std::result::Result<(), LedgerRefusal> {
        let result = self.ledger.create_transfers(vec![transfer]).await.map_err(|e| LedgerRefusal::Store(e.into()))?;
        match result[0] {
            Ok(Outcome::Created | Outcome::Exists) => Ok(()),
            Err(e) => Err(LedgerRefusal::Refused(e)),
        }
    }

    /// A page of a person's history, newest first.
    pub async fn history(&self, person: i64, query: HistoryQuery) -> Result<Vec<HistoryItem>> {
        if let Some(kind) = &query.kind
            && !HISTORY_KINDS.contains(&kind.as_str())
        {
            return Err(PlatformError::invalid("type", format!("one of {HISTORY_KINDS:?}")));
        }
        let limit = query.limit.clamp(1, HISTORY_PAGE_MAX) as i64;
        let (from, to) = (query.from_ms.unwrap_or(0), query.to_ms.unwrap_or(i64::MAX));
        let (before_ms, before_id) = query.before.unwrap_or((i64::MAX, i64::MAX));
        let currency = query.currency.map(|c| i64::from(c.numeric())).unwrap_or(-1);
        let kind = query.kind.clone().unwrap_or_default();
        let rows = self
            .blocking(move |db| {
                // One UNION over the business tables; each branch filtered by person, time and currency.
                let sql = "SELECT * FROM (
                    SELECT 'transfer_out' AS kind, id, currency, -amount AS amount, receiver_id AS counterparty, created_at FROM p2p_transfers WHERE sender_id = $1
                    UNION ALL SELECT 'transfer_in', id, currency, amount, sender_id, created_at FROM p2p_transfers WHERE receiver_id = $1
                    UNION ALL SELECT 'red_packet_sent', id, currency, -total, receiver_id, created_at FROM red_packets WHERE sender_id = $1
                    UNION ALL SELECT 'red_packet_received', s.packet_id, p.currency, s.amount, p.sender_id, s.claimed_at FROM red_packet_shares s JOIN red_packets p ON p.id = s.packet_id WHERE s.claimed_by = $1
                    UNION ALL SELECT 'top_up', id, currency, amount, NULL, created_at FROM rail_operations WHERE person_id = $1 AND kind = 'top_up'
                    UNION ALL SELECT 'withdrawal', id, currency, -amount, NULL, created_at FROM rail_operations WHERE person_id = $1 AND kind = 'withdrawal'
                    UNION ALL SELECT 'card_funding', id, currency, amount, NULL, created_at FROM rail_operations WHERE person_id = $1 AND kind = 'card_payment'
                    UNION ALL SELECT 'merchant_payment', id, currency, -total, NULL, success_at FROM orders WHERE payer_id = $1
                    UNION ALL SELECT 'merchant_refund', r.id, r.currency, r.amount, NULL, r.created_at FROM refunds r JOIN orders o ON o.id = r.order_id WHERE o.payer_id = $1
                ) h WHERE created_at >= $2 AND created_at <= $3 AND (created_at < $4 OR (created_at = $4 AND id < $8))
                    AND ($5 < 0 OR currency = $5) AND ($6 = '' OR kind = $6)
                ORDER BY created_at DESC, id DESC LIMIT $7";
                Ok(db.with(|c| c.query(sql, params![person, from, to, before_ms, currency, kind.as_str(), limit, before_id]))?)
            })
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let kind = r.text(0)?;
            let id = r.int(1)?;
            let currency = Currency::from_numeric(r.int(2)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?;
            let state = match kind.as_str() {
                "transfer_out" | "transfer_in" => self.transfer_state(id).await?,
                "top_up" => self.top_up_status(person, id).await?.state,
                "withdrawal" => self.withdrawal_status(person, id).await?.state,
                "card_funding" => self.rail_operation(person, id, "card_payment").await?.state,
                "red_packet_sent" => self.red_packet_state(id).await?,
                "merchant_payment" => self.order(id).await?.trade_state.to_ascii_lowercase(),
                "merchant_refund" => "refunded".to_string(),
                _ => "received".to_string(),
            };
            items.push(HistoryItem {
                kind,
                id,
                currency,
                amount: decimal(i128::from(r.int(3)?), currency),
                counterparty_id: r.opt_int(4)?,
                state,
                created_at_ms: r.int(5)?,
            });
        }
        Ok(items)
    }
}

impl Platform {
    /// A month's statement as CSV (UTC), oldest first: one line per history item in `currency`.
    pub async fn statement_csv(&self, person: i64, year: i64, month: i64, currency: &str) -> Result<String> {
        if !(2000..=2200).contains(&year) || !(1..=12).contains(&month) {
            return Err(PlatformError::invalid("month", "YYYY-MM, e.g. 2026-11"));
        }
        let currency = parse_currency(currency)?;
        let from = ms_of_date(year, month, 1);
        let to = if month == 12 { ms_of_date(year + 1, 1, 1) } else { ms_of_date(year, month + 1, 1) } - 1;
        let mut items = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .history(
                    person,
                    HistoryQuery {
                        currency: Some(currency),
                        from_ms: Some(from),
                        to_ms: Some(to),
                        before,
                        limit: HISTORY_PAGE_MAX,
                        ..Default::default()
                    },
                )
                .await?;
            let done = page.len() < HISTORY_PAGE_MAX;
            before = page.last().map(|i| (i.created_at_ms, i.id));
            items.extend(page);
            if done {
                break;
            }
        }
        items.reverse();
        let mut csv = String::from("time_utc,type,id,counterparty_id,currency,amount,state\n");
        for i in items {
            let counterparty = i.counterparty_id.map(|c| c.to_string()).unwrap_or_default();
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                iso_utc(i.created_at_ms),
                i.kind,
                i.id,
                counterparty,
                i.currency,
                i.amount,
                i.state
            ));
        }
        Ok(csv)
    }
}

/// Money in from a card: card rail → the person's wallet, `kind` saying why (a top-up, a card payment's
/// funding), its id derived from the rail operation.
pub(crate) fn card_in(op: i64, kind: u16, person: i64, currency: Currency, minor: i64) -> NewTransfer {
    NewTransfer {
        id: ids::derived(op, kind, 0),
        debit_account_id: ids::system_account(ids::account::CARD_RAIL, currency.numeric()),
        credit_account_id: ids::wallet(person, currency.numeric()),
        amount: minor as u64,
        pending_id: 0,
        currency: Some(currency),
        code: kind,
        flags: TransferFlags::empty(),
        timeout_s: 0,
        user_data: op as u128,
    }
}

/// Why the ledger did not take a transfer.
pub enum LedgerRefusal {
    Refused(TransferError),
    Store(PlatformError),
}

impl From<LedgerRefusal> for PlatformError {
    fn from(r: LedgerRefusal) -> PlatformError {
        match r {
            LedgerRefusal::Refused(TransferError::ExceedsCredits) => PlatformError::InsufficientBalance,
            LedgerRefusal::Refused(e) => PlatformError::Internal(format!("ledger refused: {}", e.code())),
            LedgerRefusal::Store(e) => e,
        }
    }
}

/// Unix ms of the first instant of a civil date, UTC (Howard Hinnant's days-from-civil).
pub(crate) fn ms_of_date(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400_000
}

/// `2026-11-21T05:30:00.123Z`
pub(crate) fn iso_utc(ms: i64) -> String {
    let (year, month) = civil_year_month(ms);
    let day = (ms - ms_of_date(year, month, 1)).div_euclid(86_400_000) + 1;
    let in_day = ms.rem_euclid(86_400_000);
    let (h, m, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// (year, month) of a Unix time in ms, UTC (days-from-civil inverse, Howard Hinnant's algorithm).
pub(crate) fn civil_year_month(ms: i64) -> (i64, i64) {
    let days = ms.div_euclid(86_400_000) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_typos() {
        for (n, _) in crate::TestCard::NUMBERS {
            assert!(luhn_valid(n), "{n}");
        }
        assert!(!luhn_valid("4242424242424241"));
    }

    #[test]
    fn brands_come_from_the_prefix() {
        assert_eq!(card_brand("4242424242424242"), Some("visa"));
        assert_eq!(card_brand("5555555555554444"), Some("mastercard"));
        assert_eq!(card_brand("2223003122003222"), Some("mastercard"));
        assert_eq!(card_brand("378282246310005"), Some("amex"));
        assert_eq!(card_brand("3530111333300000"), Some("jcb"));
        assert_eq!(card_brand("6200000000000005"), Some("unionpay"));
        assert_eq!(card_brand("9999999999999995"), None);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(ms_of_date(1970, 1, 1), 0);
        assert_eq!(ms_of_date(2000, 3, 1), 951_868_800_000);
        assert_eq!(iso_utc(1_795_000_000_123), "2026-11-18T11:06:40.123Z"); // checked with Python datetime
        assert_eq!(iso_utc(ms_of_date(2024, 2, 29)), "2024-02-29T00:00:00.000Z");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_year_month(0), (1970, 1));
        assert_eq!(civil_year_month(1_795_000_000_000), (2026, 11)); // 2026-11-18
        assert_eq!(civil_year_month(951_782_400_000), (2000, 2)); // 2000-02-29
    }
}
