//! Every timed job resolves exactly once: what nobody accepted or claimed goes back, what nobody paid
//! closes, a card charge the issuer confirms later lands.

use crate::support::*;
use platform::p2p::{P2pState, SendTransfer};
use platform::payments::TradeState;
use platform::red_packets::{SendRedPacket, Split};
use platform::wallet::TopUp;

both_backends!(
    an_unaccepted_transfer_goes_back_to_the_sender_after_a_day,
    the_unclaimed_rest_of_a_red_packet_goes_back_after_a_day,
    an_unpaid_order_closes_at_its_deadline_and_cannot_be_paid,
    a_top_up_the_issuer_confirms_later_is_credited_once,
);

async fn an_unaccepted_transfer_goes_back_to_the_sender_after_a_day(h: &Harness) {
    let payer = h.funded("100.00").await;
    let (friend, _) = h.person("CN").await;
    h.befriend(payer, friend).await;
    let request = SendTransfer { to: friend, amount: "30.00", currency: "CNY", note: "", pin: Some(PIN), card: None };
    let t = h.platform.p2p.send(payer, request, None).await.unwrap();
    h.advance_s(86_399).await;
    assert_eq!(h.platform.p2p.transfer(payer, t.id).await.unwrap().state, P2pState::Pending, "a second before the day is over");
    h.advance_s(2).await;
    assert_eq!(h.platform.p2p.transfer(payer, t.id).await.unwrap().state, P2pState::Refunded);
    assert_eq!(h.available(payer).await, "100.00");
    assert!(h.platform.p2p.accept(friend, t.id).await.is_err(), "too late to accept");
    h.advance_s(86_400).await;
    assert_eq!(h.available(payer).await, "100.00", "returned once");
    h.verify();
}

async fn the_unclaimed_rest_of_a_red_packet_goes_back_after_a_day(h: &Harness) {
    let sender = h.funded("100.00").await;
    let (a, _) = h.person("CN").await;
    let (b, _) = h.person("CN").await;
    h.befriend(sender, a).await;
    h.befriend(sender, b).await;
    let group = h.platform.social.create_group(sender, "Family", &[a, b]).await.unwrap();
    let request = SendRedPacket {
        split: Split::Equal,
        to_person: None,
        to_group: Some(group.id),
        currency: "CNY",
        amount: "10.00",
        shares: 2,
        title: None,
        cover: None,
        pin: Some(PIN),
    };
    let packet = h.platform.red_packets.send(sender, request, None).await.unwrap();
    h.platform.red_packets.claim(a, packet.id).await.unwrap();
    assert_eq!(h.available(sender).await, "80.00");
    h.advance_s(86_400).await;
    assert_eq!(h.available(sender).await, "90.00", "the unclaimed share came back");
    assert!(h.platform.red_packets.claim(b, packet.id).await.is_err(), "too late to claim");
    h.advance_s(86_400).await;
    assert_eq!(h.available(sender).await, "90.00", "returned once");
    assert_eq!(h.available(a).await, "10.00");
    h.verify();
}

async fn an_unpaid_order_closes_at_its_deadline_and_cannot_be_paid(h: &Harness) {
    let payer = h.funded("100.00").await;
    let merchant = h.merchant().await;
    let order = h.order(&merchant, "D000001", 1_000).await;
    h.advance_s(2 * 3_600).await;
    let closed = h.platform.payments.order(order.id).await.unwrap();
    assert_eq!(closed.trade_state, TradeState::Closed, "WeChat's default deadline is two hours");
    assert!(h.pay(payer, &order).await.is_err());
    assert_eq!(h.available(payer).await, "100.00");
    h.verify();
}

async fn a_top_up_the_issuer_confirms_later_is_credited_once(h: &Harness) {
    let (p, _) = h.person("CN").await;
    // The sandbox's card that the issuer confirms a little later (a 3-D Secure style flow).
    let later = h.platform.wallet.add_card(p, "4000000000000259", 12, 2099).await.unwrap();
    let request = TopUp { card: later.id, amount: "50.00", currency: "CNY", pin: Some(PIN) };
    let op = h.platform.wallet.top_up(p, request, None).await.unwrap();
    assert_eq!(op.state.as_str(), "pending");
    assert_eq!(h.available(p).await, "0.00");
    h.advance_s(5).await;
    assert_eq!(h.platform.wallet.top_up_status(p, op.id).await.unwrap().state.as_str(), "succeeded");
    assert_eq!(h.available(p).await, "50.00");
    h.advance_s(60).await;
    assert_eq!(h.available(p).await, "50.00", "credited once");
    h.verify();
}
