//! What people and merchants are told agrees with the ledger: a person's history adds up to their
//! wallet's balance, and a day's settlement to what the merchant's payers paid and the ledger moved.

use crate::support::*;
use money::Currency;
use platform::history::{HistoryItem, HistoryKind, HistoryQuery};
use platform::p2p::SendTransfer;
use platform::payments::NewRefund;
use platform::red_packets::{SendRedPacket, Split};
use platform::{PersonId, chart};

both_backends!(history_and_settlement_agree_with_the_ledger, a_history_window_holds_its_ends_and_nothing_past_them);

/// Whether an item's amount is on the wallet: not a declined or returned transfer, a failed or
/// given-back card charge, nor money sent to this person not accepted yet (money held on its way out
/// is). A merchant's refund is "refunded" and is on the wallet.
fn on_the_wallet(i: &HistoryItem) -> bool {
    match (i.kind, i.state) {
        (HistoryKind::MerchantRefund, _) => true,
        (HistoryKind::TransferIn, "pending") => false,
        (_, state) => !["declined", "refunded", "failed"].contains(&state),
    }
}

async fn history_sum(h: &Harness, p: PersonId) -> i64 {
    let items = h.platform.history.page(p, HistoryQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert!(items.len() < 100, "one page holds this test's history");
    items.iter().filter(|i| on_the_wallet(i)).map(|i| i.amount_minor).sum()
}

/// The wallet as the ledger has it: posted credits − posted debits − money held on the way out.
async fn ledger_balance(h: &Harness, p: PersonId) -> i64 {
    let cny = Currency::from_code("CNY").unwrap();
    let a = h.platform.ledger.account(chart::wallet(p, cny)).await.unwrap();
    let signed = |v: u64| i64::try_from(v).unwrap();
    signed(a.credits_posted) - signed(a.debits_posted) - signed(a.debits_pending)
}

async fn send(h: &Harness, from: PersonId, to: PersonId, amount: &str) -> i64 {
    let request = SendTransfer { to, amount, currency: "CNY", note: "", pin: Some(PIN), card: None };
    h.platform.p2p.send(from, request, None).await.unwrap().id
}

async fn history_and_settlement_agree_with_the_ledger(h: &Harness) {
    let (alice, bob, carol) = (h.funded("900.00").await, h.funded("300.00").await, h.funded("100.00").await);
    h.befriend(alice, bob).await;
    h.befriend(alice, carol).await;
    let accepted = send(h, alice, bob, "12.34").await;
    h.platform.p2p.accept(bob, accepted).await.unwrap();
    let declined = send(h, alice, carol, "5.00").await;
    h.platform.p2p.decline(carol, declined).await.unwrap();
    send(h, alice, bob, "7.00").await; // still pending: held on the way out
    let group = h.platform.social.create_group(alice, "Friends", &[bob, carol]).await.unwrap();
    let packet = SendRedPacket {
        split: Split::Lucky,
        to_person: None,
        to_group: Some(group.id),
        currency: "CNY",
        amount: "20.00",
        shares: 2,
        title: None,
        cover: None,
        pin: Some(PIN),
    };
    let packet = h.platform.red_packets.send(alice, packet, None).await.unwrap();
    h.platform.red_packets.claim(bob, packet.id).await.unwrap();
    h.platform.red_packets.claim(carol, packet.id).await.unwrap();

    let merchant = h.merchant().await;
    let mut orders = Vec::new();
    for (i, (payer, total)) in [(alice, 8_800), (bob, 1_999), (carol, 50)].into_iter().enumerate() {
        let order = h.order(&merchant, &format!("A00000{i}"), total).await;
        orders.push(h.pay(payer, &order).await.unwrap());
    }
    let refund = NewRefund {
        sp_merchant_id: None,
        transaction_id: Some(orders[0].transaction_id.clone()),
        out_trade_no: None,
        out_refund_no: "AR1".into(),
        reason: None,
        notify_url: None,
        refund_minor: 800,
        total_minor: 8_800,
        currency: "CNY".into(),
    };
    h.platform.payments.refund_order(merchant.merchant.id, refund).await.unwrap();

    for p in [alice, bob, carol] {
        assert_eq!(history_sum(h, p).await, ledger_balance(h, p).await, "history of {p} against the ledger");
    }

    // The day is over (ten minutes past midnight China time): settle it.
    let day = platform::wallet::iso_utc(h.platform.now_ms() + 8 * 3_600_000)[..10].to_string();
    h.advance_s(15 * 3_600).await;
    let settled = h.platform.settlement.settle_day(&day).await.unwrap();
    let ours: Vec<_> = settled.iter().filter(|s| s.mchid == merchant.merchant.mchid).collect();
    assert_eq!(ours.len(), 1, "{settled:?}");
    let s = ours[0];
    let paid: i64 = orders.iter().map(|o| o.total_minor).sum();
    let fees: i64 = orders.iter().map(|o| o.fee_minor).sum();
    assert_eq!((s.payments, s.gross_minor, s.refunds_minor, s.fees_minor), (3, paid, 800, fees));
    assert_eq!(s.payout_minor, paid - 800 - fees);
    let cny = Currency::from_code("CNY").unwrap();
    let receivable = h.platform.ledger.account(chart::merchant_receivable(merchant.merchant.id, cny)).await.unwrap();
    assert_eq!(receivable.credits_posted, receivable.debits_posted, "the settlement emptied the merchant's receivable");
    assert_eq!(h.platform.settlement.settle_day(&day).await.unwrap().len(), settled.len(), "settling again settles nothing new");
    let again = h.platform.ledger.account(chart::merchant_receivable(merchant.merchant.id, cny)).await.unwrap();
    assert_eq!(again.debits_posted, receivable.debits_posted, "paid out once");
    h.verify();
}

/// A window holds what happened from its start to its end, both included, and nothing past either;
/// its pages, each before the last one's cursor, give the window's items newest first, each once.
async fn a_history_window_holds_its_ends_and_nothing_past_them(h: &Harness) {
    let (alice, bob) = (h.funded("100.00").await, h.funded("100.00").await);
    h.befriend(alice, bob).await;
    let mut sent = Vec::new();
    for _ in 0..5 {
        h.advance_s(1).await;
        sent.push(send(h, alice, bob, "1.00").await);
    }
    let all = h.platform.history.page(alice, HistoryQuery { limit: 100, ..Default::default() }).await.unwrap();
    let at = |id: i64| all.iter().find(|i| i.id == id).unwrap().created_at_ms;
    let window = |before| HistoryQuery { from_ms: Some(at(sent[1])), to_ms: Some(at(sent[3])), before, limit: 2, ..Default::default() };
    let first = h.platform.history.page(alice, window(None)).await.unwrap();
    assert_eq!(first.iter().map(|i| i.id).collect::<Vec<_>>(), vec![sent[3], sent[2]], "the window's end is in it, what came after is not");
    let cursor = first.last().map(|i| (i.created_at_ms, i.id));
    let second = h.platform.history.page(alice, window(cursor)).await.unwrap();
    assert_eq!(second.iter().map(|i| i.id).collect::<Vec<_>>(), vec![sent[1]], "the window's start is in it, the top-up before it is not");
}
