//! Merchant payments, as the WeChat Pay v3-compatible merchant API and the wallet see them: orders
//! (`orders`), the tokens in their codes and links (`tokens`), merchants' printed codes
//! (`static_codes`), paying them (`pay`), payment codes a merchant scans (`codes`) and refunds
//! (`refunds`); `wire` writes them as WeChat's JSON.
//!
//! An order is a row until someone pays it. Paying is one committer request: a *guard* moves the row
//! from NOTPAY to SUCCESS, the ledger chain (limits, payer wallet → merchant receivable) moves the money,
//! and an *effect* queues the TRANSACTION.SUCCESS notification, all in one database transaction. So a
//! close racing a payment, two people paying one code, or a crash at any point can never leave money
//! moved for a closed order or an order marked paid without the money. Refunds work the same way: the
//! guard adds to the order's refunded total only while it stays within what was paid.

mod codes;
mod console;
pub mod emv;
mod exchange;
mod network_pay;
mod orders;
mod pay;
pub mod refunds;
mod static_codes;
mod store;
mod tokens;
mod wire;

pub use codes::{PAYMENT_CODE_TTL_MS, PaymentCode, USERPAYING_TTL_MS, valid_payment_code};
pub use console::{CONSOLE_ORDERS_MAX, OrderSearch, PaymentTotal, RefundLine, SALES_BUCKETS_MAX, SalesBucket};
pub use exchange::PaymentPlan;
pub(crate) use exchange::{Payee, payment_execution};
pub use orders::{ORDER_TOTAL_MAX, REFUNDS_PER_ORDER_MAX};
pub use pay::{ClientSignature, OrderReference, PayOrder};
pub use refunds::NewRefund;
pub use static_codes::StaticCode;

use crate::core::Core;
use crate::fx::Fx;
use crate::history::{HistoryItem, HistoryKind, Window};
use crate::merchants::Merchants;
use crate::outbox::Outbox;
use crate::people::People;
use crate::wallet::Wallet;
use crate::{MerchantId, OrderId, PersonId, PlatformError, Result};
use money::Currency;
use std::collections::VecDeque;
use std::sync::Arc;

text_enum! {
    pub enum TradeType {
        Jsapi => "JSAPI",
        Native => "NATIVE",
        App => "APP",
        H5 => "MWEB",
        /// The merchant scanned the person's payment code.
        Micropay => "MICROPAY",
    }
}

text_enum! {
    pub enum TradeState {
        NotPay => "NOTPAY",
        /// A payment-code order waiting for the person's PIN.
        UserPaying => "USERPAYING",
        Success => "SUCCESS",
        /// Paid, and (partly) refunded.
        Refund => "REFUND",
        Closed => "CLOSED",
        /// A payment-code order reversed.
        Revoked => "REVOKED",
    }
}

impl TradeState {
    pub fn paid(self) -> bool {
        matches!(self, TradeState::Success | TradeState::Refund)
    }

    /// Still waiting for its payment.
    pub fn open(self) -> bool {
        matches!(self, TradeState::NotPay | TradeState::UserPaying)
    }

    /// WeChat's `trade_state_desc`.
    pub fn description(self) -> &'static str {
        match self {
            TradeState::Success => "支付成功",
            TradeState::Refund => "转入退款",
            TradeState::NotPay => "订单未支付",
            TradeState::Closed => "订单已关闭",
            TradeState::UserPaying => "用户支付中，需要输入密码",
            TradeState::Revoked => "已撤销",
        }
    }
}

text_enum! {
    /// Where a paid order's money came from.
    pub enum Funding {
        Balance => "balance",
        Card => "card",
        /// A partner network's wallet, from the network's settlement account.
        Network => "network",
    }
}

text_enum! {
    pub enum RefundStatus {
        Success => "SUCCESS",
        Processing => "PROCESSING",
        Abnormal => "ABNORMAL",
        Closed => "CLOSED",
    }
}

text_enum! {
    /// Where a refund's money went.
    pub enum RefundChannel {
        /// Back to the card that paid.
        Original => "ORIGINAL",
        /// The payer's wallet balance.
        Balance => "BALANCE",
    }
}

text_enum! {
    /// A card-funded payment's refund, at the card issuer.
    pub(crate) enum CardRefund {
        /// The issuer not yet told.
        Pending => "pending",
        Refunded => "refunded",
        /// The issuer refused: the money went to the wallet instead.
        ToBalance => "to_balance",
    }
}

/// An order as the merchant placed it, parsed by the merchant API.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub trade_type: TradeType,
    pub appid: String,
    pub description: String,
    pub out_trade_no: String,
    /// Unix seconds.
    pub time_expire_s: Option<i64>,
    pub attach: Option<String>,
    pub notify_url: String,
    pub goods_tag: Option<String>,
    pub total_minor: i64,
    pub currency: String,
    pub payer_openid: Option<String>,
    /// The `scene_info` object as JSON text (echoed in queries).
    pub scene_info: Option<String>,
    /// Partner orders: the sub-merchant's own app id (the provider's is `appid`).
    pub sub_appid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: OrderId,
    pub transaction_id: String,
    pub merchant_id: MerchantId,
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    pub trade_type: TradeType,
    pub description: String,
    pub attach: Option<String>,
    pub notify_url: String,
    pub goods_tag: Option<String>,
    pub currency: Currency,
    pub total_minor: i64,
    pub payer_openid: Option<String>,
    pub scene_info: Option<String>,
    pub trade_state: TradeState,
    pub payer_id: Option<PersonId>,
    pub payer_openid_paid: Option<String>,
    pub bank_type: Option<String>,
    pub fee_minor: i64,
    pub refunded_minor: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub success_at_ms: Option<i64>,
    pub(crate) request_hash: Vec<u8>,
    /// Placed by a service provider for its sub-merchant (`merchant_id`): the provider.
    pub sp_merchant_id: Option<MerchantId>,
    pub sp_mchid: Option<String>,
    pub sub_appid: Option<String>,
    pub payer_sub_openid_paid: Option<String>,
    /// Once paid.
    pub funding: Option<Funding>,
    pub(crate) card_reference: Option<String>,
    /// Paid in another currency than the order's: what the payer paid, at which rate.
    pub exchange: Option<Exchange>,
}

/// What a payer paid in their own currency for an order in another one, at the rate locked when they
/// paid; refunds give back their share of it, at that rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub currency: Currency,
    pub total_minor: i64,
    pub refunded_minor: i64,
    /// One unit of the order's currency cost this much of the payer's.
    pub rate: money::Rate,
}

impl Order {
    /// Who hears about the order (notifications, keys): the service provider if there is one.
    pub fn notified_merchant(&self) -> MerchantId {
        self.sp_merchant_id.unwrap_or(self.merchant_id)
    }

    pub fn paid(&self) -> bool {
        self.trade_state.paid()
    }
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: i64,
    pub refund_id: String,
    pub out_refund_no: String,
    pub order: Order,
    pub amount_minor: i64,
    pub status: RefundStatus,
    pub channel: RefundChannel,
    pub created_at_ms: i64,
    pub success_at_ms: Option<i64>,
    pub(crate) request_hash: Vec<u8>,
    /// An order paid in another currency: the payer's share of this refund, in the payer's currency.
    pub payer_amount_minor: Option<i64>,
}

/// `[0-9A-Za-z_-|*]` (and `@` for refunds), `min` to `max` characters.
pub fn valid_out_no(text: &str, min: usize, max: usize, at_allowed: bool) -> bool {
    (min..=max).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*') || (at_allowed && b == b'@'))
}

/// http(s)://host[:port]/path, at most 256 characters, no query (WeChat's rule for notify_url).
pub fn valid_notify_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split('/').next().unwrap_or("");
            url.len() <= 256
                && !host.is_empty()
                && !url.contains(['?', '#', ' '])
                && url.chars().all(|c| c.is_ascii_graphic())
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        }
        None => false,
    }
}

/// The merchant's fee on a payment: basis points, rounded half up to the minor unit.
pub fn fee_of(total_minor: i64, fee_bps: i64) -> i64 {
    assert!(total_minor >= 0 && (0..=10_000).contains(&fee_bps));
    let fee = (i128::from(total_minor) * i128::from(fee_bps) + 5_000) / 10_000;
    i64::try_from(fee).expect("a fee is at most the total")
}

/// yyyymmdd (China Standard Time) of a time, for ids that carry their date as WeChat's do.
fn cst_date(ms: i64) -> String {
    let t = wxpay::time::civil(ms / 1000 + wxpay::time::CST_OFFSET_S);
    format!("{:04}{:02}{:02}", t.year, t.month, t.day)
}

pub struct Payments {
    core: Arc<Core>,
    people: Arc<People>,
    wallet: Arc<Wallet>,
    merchants: Arc<Merchants>,
    outbox: Arc<Outbox>,
    fx: Arc<Fx>,
}

impl Payments {
    pub(crate) fn new(
        core: Arc<Core>,
        people: Arc<People>,
        wallet: Arc<Wallet>,
        merchants: Arc<Merchants>,
        outbox: Arc<Outbox>,
        fx: Arc<Fx>,
    ) -> Payments {
        Payments { core, people, wallet, merchants, outbox, fx }
    }

    pub async fn order_by_out_trade_no(&self, merchant: MerchantId, out_trade_no: &str) -> Result<Order> {
        let key = out_trade_no.to_string();
        self.core.read(move |c| store::order_by_out_trade_no(c, merchant, &key)).await?.ok_or(PlatformError::NotFound("order"))
    }

    /// By Qianbao's transaction id: only paid orders have one to the merchant (as at WeChat).
    pub async fn order_by_transaction_id(&self, merchant: MerchantId, transaction_id: &str) -> Result<Order> {
        let key = transaction_id.to_string();
        let order = self.core.read(move |c| store::order_by_transaction_id(c, merchant, &key)).await?;
        order.filter(Order::paid).ok_or(PlatformError::NotFound("order"))
    }

    pub(crate) fn merchants(&self) -> &Arc<Merchants> {
        &self.merchants
    }

    pub async fn order(&self, id: OrderId) -> Result<Order> {
        self.core.read(move |c| store::order(c, id)).await?.ok_or(PlatformError::NotFound("order"))
    }

    /// A person's merchant payments or refunds of one history kind, newest first.
    pub(crate) async fn history(&self, person: PersonId, kind: HistoryKind, window: Window) -> Result<Vec<HistoryItem>> {
        if kind == HistoryKind::MerchantPayment {
            let orders = self.core.read(move |c| store::paid_by(c, person, window)).await?;
            return Ok(orders
                .into_iter()
                .map(|o| HistoryItem {
                    kind,
                    id: o.id.get(),
                    currency: o.currency,
                    amount_minor: -o.total_minor,
                    counterparty_id: None,
                    state: match o.trade_state {
                        TradeState::Refund => "refund",
                        TradeState::Revoked => "revoked",
                        _ => "success",
                    },
                    created_at_ms: o.success_at_ms.unwrap_or(o.created_at_ms),
                })
                .collect());
        }
        let refunds = self.core.read(move |c| store::refunds_to(c, person, window)).await?;
        Ok(refunds
            .into_iter()
            .map(|(id, currency, amount, at)| HistoryItem {
                kind,
                id,
                currency,
                amount_minor: amount,
                counterparty_id: None,
                state: "refunded",
                created_at_ms: at,
            })
            .collect())
    }
}

pub(crate) use store::{BillLine, DayTotal};

/// A day of paid orders for `bench bills` to read (`import_paid_day`).
#[derive(Debug, Clone)]
pub struct ImportedDay<'a> {
    pub mchid: &'a str,
    pub appid: &'a str,
    /// The first order's row id; the day's orders take the next `orders` ids.
    pub first_id: i64,
    pub orders: i64,
    pub start_ms: i64,
    pub span_ms: i64,
    pub total_minor: i64,
    pub fee_minor: i64,
    /// Every n-th order is refunded `refund_minor`.
    pub refund_every: i64,
    pub refund_minor: i64,
}

/// `bench bills`' fixture, on a connection of a bench database (see `store::import_paid_day`): rows only,
/// no ledger transfers, so never on a database that holds real money.
pub fn import_paid_day(c: &mut dyn ::store::Conn, day: &ImportedDay<'_>) -> ::store::Result<()> {
    assert!(day.orders > 0 && day.refund_every > 0 && day.span_ms > 0 && day.first_id > 0, "a day to import: {day:?}");
    assert!(
        (0..=day.total_minor).contains(&day.fee_minor) && (1..=day.total_minor).contains(&day.refund_minor),
        "a fee and a refund within the order's total: {day:?}"
    );
    store::import_paid_day(c, day)
}

/// Bill lines read from the store at a time: a bill of any size is written in bounded memory (a page
/// of orders is about 1 KB a line).
const BILL_PAGE_LINES: i64 = 2_000;

/// Which of a merchant's lines a bill shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BillLines {
    All,
    Payments,
    Refunds,
}

/// One side of a bill's merge (payments or refunds): the page read and where the next one starts.
struct Side {
    lines: VecDeque<BillLine>,
    after: store::BillCursor,
    done: bool,
}

/// A merchant's bill lines in time order (payments before refunds at a tie), merged from two
/// keyset-paged reads. A past day's lines never change, so pages read at different moments agree.
pub(crate) struct BillReader<'a> {
    payments: &'a Payments,
    merchant: MerchantId,
    end_ms: i64,
    paid: Side,
    refunds: Side,
}

impl BillReader<'_> {
    /// The next line, or `None` when the day is done.
    pub(crate) async fn next(&mut self) -> Result<Option<BillLine>> {
        self.fill(false).await?;
        self.fill(true).await?;
        let key = |side: &Side| side.lines.front().map(|l| (l.at_ms, l.refund));
        let side = match (key(&self.paid), key(&self.refunds)) {
            (None, None) => return Ok(None),
            (Some(p), Some(r)) if r < p => &mut self.refunds,
            (Some(_), _) => &mut self.paid,
            (None, Some(_)) => &mut self.refunds,
        };
        Ok(side.lines.pop_front())
    }

    /// Read one side's next page when its last is used up.
    async fn fill(&mut self, refunds: bool) -> Result<()> {
        let side = if refunds { &mut self.refunds } else { &mut self.paid };
        if side.done || !side.lines.is_empty() {
            return Ok(());
        }
        let (merchant, after, end) = (self.merchant, side.after, self.end_ms);
        let page = match refunds {
            false => self.payments.core.read(move |c| store::bill_payments(c, merchant, after, end, BILL_PAGE_LINES)).await?,
            true => self.payments.core.read(move |c| store::bill_refunds(c, merchant, after, end, BILL_PAGE_LINES)).await?,
        };
        side.done = (page.len() as i64) < BILL_PAGE_LINES;
        if let Some(last) = page.last() {
            debug_assert!((last.at_ms, last.row_id) > side.after, "a page moves forward");
            side.after = (last.at_ms, last.row_id);
        }
        side.lines = page.into();
        Ok(())
    }
}

impl Payments {
    /// One day's takings per merchant and currency.
    pub(crate) async fn day_totals(&self, start_ms: i64, end_ms: i64, time_zone: &str) -> Result<Vec<DayTotal>> {
        let tz = time_zone.to_string();
        self.core.read(move |c| store::day_totals(c, start_ms, end_ms, &tz)).await
    }

    /// The wallet regions of the people who paid a merchant in a currency in `[start_ms, end_ms)`.
    pub async fn payer_regions(&self, merchant: MerchantId, currency: Currency, start_ms: i64, end_ms: i64) -> Result<Vec<String>> {
        self.core.read(move |c| store::payer_regions(c, merchant, currency, start_ms, end_ms)).await
    }

    /// A merchant's payments and refunds of `[start_ms, end_ms)`, in time order, read a page at a time.
    pub(crate) fn bill_lines(&self, merchant: MerchantId, start_ms: i64, end_ms: i64, which: BillLines) -> BillReader<'_> {
        let side = |wanted: bool| Side { lines: VecDeque::new(), after: (start_ms, 0), done: !wanted };
        BillReader {
            payments: self,
            merchant,
            end_ms,
            paid: side(which != BillLines::Refunds),
            refunds: side(which != BillLines::Payments),
        }
    }

    /// Forget payment codes long expired (the deadline task).
    pub(crate) async fn purge(&self, limit: i64) -> Result<u64> {
        self.purge_codes(limit).await
    }
}
