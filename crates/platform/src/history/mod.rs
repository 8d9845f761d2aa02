//! A person's history: every way their money moved, newest first, composed from the domains that moved it
//! (each answers for its own items in a window; the pages merge), and the monthly statement.

use crate::networks::Networks;
use crate::p2p::P2p;
use crate::payments::Payments;
use crate::red_packets::RedPackets;
use crate::wallet::{self, Wallet};
use crate::{PersonId, PlatformError, Result};
use money::Currency;
use serde::Serialize;
use std::sync::Arc;

text_enum! {
    pub enum HistoryKind {
        TransferOut => "transfer_out",
        TransferIn => "transfer_in",
        RedPacketSent => "red_packet_sent",
        RedPacketReceived => "red_packet_received",
        TopUp => "top_up",
        Withdrawal => "withdrawal",
        /// A payment paid straight from a card: the money came in from the card and went straight out.
        CardFunding => "card_funding",
        MerchantPayment => "merchant_payment",
        MerchantRefund => "merchant_refund",
        /// A payment to a partner network's merchant (scanned abroad).
        NetworkPayment => "network_payment",
    }
}

/// One line of a person's history.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    pub kind: HistoryKind,
    pub id: i64,
    pub currency: Currency,
    /// What this did to the wallet (money reserved on the way out counts as out).
    pub amount_minor: i64,
    pub counterparty_id: Option<PersonId>,
    pub state: &'static str,
    pub created_at_ms: i64,
}

impl Serialize for HistoryItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            kind: HistoryKind,
            id: String,
            currency: Currency,
            /// Signed decimal.
            amount: String,
            counterparty_id: Option<String>,
            state: &'a str,
            created_at_ms: i64,
        }
        Wire {
            kind: self.kind,
            id: self.id.to_string(),
            currency: self.currency,
            amount: wallet::decimal(self.amount_minor, self.currency),
            counterparty_id: self.counterparty_id.map(|p| p.to_string()),
            state: self.state,
            created_at_ms: self.created_at_ms,
        }
        .serialize(s)
    }
}

/// What a page of history asks each domain, per kind: items created at or after `from_ms`, in `currency`
/// if given, strictly before `before` in the newest-first order `(created_at_ms, id)`, at most `limit`.
/// The newest `limit` of every kind's newest `limit` are the page.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from_ms: i64,
    /// Strictly before this `(created_at_ms, id)`: the page's keyset bound and the window's end in one.
    pub before: (i64, i64),
    pub limit: i64,
    /// A currency's numeric code, or -1 for every currency.
    pub currency: i64,
}

#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub kind: Option<HistoryKind>,
    pub currency: Option<Currency>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Items after this one in the newest-first order: the previous page's last `(created_at_ms, id)`.
    pub before: Option<(i64, i64)>,
    pub limit: usize,
}

pub const HISTORY_PAGE_MAX: usize = 100;

/// A statement's month as people write it, `YYYY-MM`: (year, month), checked by [`History::statement_csv`].
pub fn parse_month(text: &str) -> Result<(i64, i64)> {
    text.split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i64>().ok()?, m.parse::<i64>().ok()?)))
        .ok_or_else(|| PlatformError::invalid("month", "YYYY-MM, e.g. 2026-11"))
}

/// One domain's share of a page, read concurrently with the others.
type Read<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<HistoryItem>>> + Send + 'a>>;

pub struct History {
    wallet: Arc<Wallet>,
    p2p: Arc<P2p>,
    red_packets: Arc<RedPackets>,
    payments: Arc<Payments>,
    networks: Arc<Networks>,
}

impl History {
    pub(crate) fn new(
        wallet: Arc<Wallet>,
        p2p: Arc<P2p>,
        red_packets: Arc<RedPackets>,
        payments: Arc<Payments>,
        networks: Arc<Networks>,
    ) -> History {
        History { wallet, p2p, red_packets, payments, networks }
    }

    /// A page of a person's history, newest first.
    pub async fn page(&self, person: PersonId, query: HistoryQuery) -> Result<Vec<HistoryItem>> {
        let limit = query.limit.clamp(1, HISTORY_PAGE_MAX);
        // "At or before `to_ms`" is "before (to_ms, the largest id)": one bound, the keyset's, which each
        // read takes as its index range's end (with two, SQLite ranged on the looser one).
        let to = (query.to_ms.unwrap_or(i64::MAX), i64::MAX);
        let window = Window {
            from_ms: query.from_ms.unwrap_or(0),
            before: query.before.unwrap_or((i64::MAX, i64::MAX)).min(to),
            limit: limit as i64,
            currency: query.currency.map_or(-1, |c| i64::from(c.numeric())),
        };
        let wanted = |k: &HistoryKind| query.kind.is_none_or(|q| q == *k);
        // Transfers both ways in one call: their states are ledger reads, made for the page's share only.
        let transfers: Vec<HistoryKind> = [HistoryKind::TransferOut, HistoryKind::TransferIn].into_iter().filter(wanted).collect();
        // Every domain's share is read at once, not one after another: on PostgreSQL each is a round trip,
        // and the page waits for the slowest instead of for their sum.
        let mut reads: Vec<Read<'_>> = Vec::new();
        if !transfers.is_empty() {
            reads.push(Box::pin(self.p2p.history(person, &transfers, window)));
        }
        for kind in HistoryKind::ALL.iter().copied().filter(wanted) {
            match kind {
                HistoryKind::TopUp | HistoryKind::Withdrawal | HistoryKind::CardFunding => {
                    reads.push(Box::pin(self.wallet.history(person, kind, window)))
                }
                HistoryKind::TransferOut | HistoryKind::TransferIn => {}
                HistoryKind::RedPacketSent | HistoryKind::RedPacketReceived => {
                    reads.push(Box::pin(self.red_packets.history(person, kind, window)))
                }
                HistoryKind::MerchantPayment | HistoryKind::MerchantRefund => {
                    reads.push(Box::pin(self.payments.history(person, kind, window)))
                }
                HistoryKind::NetworkPayment => reads.push(Box::pin(self.networks.history(person, window))),
            }
        }
        let mut items = Vec::new();
        for read in crate::core::join_all(reads).await {
            items.extend(read?);
        }
        items.sort_by_key(|i| std::cmp::Reverse((i.created_at_ms, i.id)));
        items.truncate(limit);
        Ok(items)
    }

    /// A month's statement as CSV (UTC), oldest first: one line per history item in `currency`.
    pub async fn statement_csv(&self, person: PersonId, year: i64, month: i64, currency: Currency) -> Result<String> {
        if !(2000..=2200).contains(&year) || !(1..=12).contains(&month) {
            return Err(PlatformError::invalid("month", "YYYY-MM, e.g. 2026-11"));
        }
        let from = wallet::ms_of_date(year, month, 1);
        let to = if month == 12 { wallet::ms_of_date(year + 1, 1, 1) } else { wallet::ms_of_date(year, month + 1, 1) } - 1;
        let mut items = Vec::new();
        let mut before = None;
        loop {
            let query = HistoryQuery {
                currency: Some(currency),
                from_ms: Some(from),
                to_ms: Some(to),
                before,
                limit: HISTORY_PAGE_MAX,
                ..Default::default()
            };
            let page = self.page(person, query).await?;
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
            let amount = wallet::decimal(i.amount_minor, i.currency);
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                wallet::iso_utc(i.created_at_ms),
                i.kind,
                i.id,
                counterparty,
                i.currency,
                amount,
                i.state
            ));
        }
        Ok(csv)
    }
}
