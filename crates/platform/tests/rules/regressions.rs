//! Defects found by attacking the platform (issue 8), each held to its fix.

use crate::support::*;
use platform::merchants::MerchantAuth;
use platform::p2p::SendTransfer;
use platform::payments::{NewOrder, OrderReference, PayOrder, TradeType};
use platform::red_packets::{SendRedPacket, Split};
use platform::{Conflict, PersonId, PlatformError};
use store::Db;

both_backends!(
    a_key_reused_after_its_record_is_purged_names_the_same_transfer,
    the_sender_cannot_claim_her_own_one_to_one_red_packet,
    one_identity_document_verifies_one_wallet,
    identity_documents_are_stored_sealed,
    adding_a_member_twice_changes_nothing,
    only_the_codes_owner_can_see_or_pay_a_payment_code_order,
    concurrent_wrong_pins_get_no_more_than_the_allowed_tries,
);

async fn a_key_reused_after_its_record_is_purged_names_the_same_transfer(h: &Harness) {
    let payer = h.funded("100.00").await;
    let (friend, _) = h.person("CN").await;
    h.befriend(payer, friend).await;
    let request = SendTransfer { to: friend, amount: "2.00", currency: "CNY", note: "", pin: Some(PIN), card: None };
    let first = h.platform.p2p.send(payer, request, Some("K")).await.unwrap();
    h.platform.p2p.accept(friend, first.id).await.unwrap();
    h.advance_s(25 * 3_600).await; // past every idempotency record's life
    let again = h.platform.p2p.send(payer, request, Some("K")).await.unwrap();
    assert_eq!(again.id, first.id, "the key still names its transfer");
    assert_eq!(h.available(friend).await, "2.00", "paid once");
    assert_eq!(h.available(payer).await, "98.00");
    h.verify();
}

async fn the_sender_cannot_claim_her_own_one_to_one_red_packet(h: &Harness) {
    let sender = h.funded("100.00").await;
    let (friend, _) = h.person("CN").await;
    h.befriend(sender, friend).await;
    let request = SendRedPacket {
        split: Split::Single,
        to_person: Some(friend),
        to_group: None,
        currency: "CNY",
        amount: "8.88",
        shares: 1,
        title: None,
        cover: None,
        pin: Some(PIN),
    };
    let packet = h.platform.red_packets.send(sender, request, None).await.unwrap();
    let own = h.platform.red_packets.claim(sender, packet.id).await;
    assert!(matches!(own, Err(PlatformError::Forbidden(_))), "{own:?}");
    h.platform.red_packets.claim(friend, packet.id).await.expect("the receiver still gets it");
    assert_eq!(h.available(friend).await, "8.88");
    h.verify();
}

const RESIDENT_ID: &str = "11010519491231002X";

async fn one_identity_document_verifies_one_wallet(h: &Harness) {
    let (a, _) = h.person("CN").await;
    let (b, _) = h.person("CN").await;
    assert_eq!(h.platform.people.submit_kyc(a, "Li Lei", "cn_resident_id", RESIDENT_ID).await.unwrap(), 1);
    let again = h.platform.people.submit_kyc(b, "Li Lei", "cn_resident_id", &RESIDENT_ID.to_lowercase()).await;
    assert!(matches!(again, Err(PlatformError::Conflict { code: Conflict::DocumentInUse, .. })), "{again:?}");
    assert_eq!(h.platform.people.person(b).await.unwrap().kyc_tier, 0);
}

async fn identity_documents_are_stored_sealed(h: &Harness) {
    let (a, _) = h.person("CN").await;
    h.platform.people.submit_kyc(a, "Li Lei", "cn_resident_id", RESIDENT_ID).await.unwrap();
    let rows = tokio::task::block_in_place(|| {
        let db = Db::open(h.store.url(), 1).unwrap();
        db.with(|c| c.query("SELECT id_document, id_document_sealed FROM people", &[])).unwrap()
    });
    for row in rows {
        assert_eq!(row.opt_text("id_document").unwrap(), None, "no document in clear");
        if let Some(sealed) = row.opt_bytes("id_document_sealed").unwrap() {
            assert!(!sealed.windows(8).any(|w| RESIDENT_ID.as_bytes().windows(8).any(|d| d == w)), "sealed, not encoded");
        }
    }
}

async fn adding_a_member_twice_changes_nothing(h: &Harness) {
    let (owner, _) = h.person("CN").await;
    let (friend, _) = h.person("CN").await;
    h.befriend(owner, friend).await;
    let group = h.platform.social.create_group(owner, "Team", &[]).await.unwrap();
    h.platform.social.add_group_members(owner, group.id, &[friend]).await.unwrap();
    let twice = h.platform.social.add_group_members(owner, group.id, &[friend]).await.expect("not an error");
    assert_eq!(twice.members.len(), 2, "a member is a member once");
}

/// A payment-code order of `total_minor` waiting for `payer`'s PIN.
async fn awaiting_pin(h: &Harness, merchant: &MerchantAuth, payer: PersonId, total_minor: i64) -> platform::payments::Order {
    let code = h.platform.payments.issue_payment_code(payer).await.unwrap();
    let new = NewOrder {
        trade_type: TradeType::Micropay,
        appid: merchant.appids[0].clone(),
        description: "Counter".into(),
        out_trade_no: "M000001".into(),
        time_expire_s: None,
        attach: None,
        notify_url: "http://127.0.0.1:9/notify".into(),
        goods_tag: None,
        total_minor,
        currency: "CNY".into(),
        payer_openid: None,
        scene_info: None,
        sub_appid: None,
    };
    h.platform.payments.charge_payment_code(merchant, None, new, &code.code).await.unwrap()
}

async fn only_the_codes_owner_can_see_or_pay_a_payment_code_order(h: &Harness) {
    let owner = h.funded("100.00").await;
    let other = h.funded("100.00").await;
    let merchant = h.merchant().await;
    let order = awaiting_pin(h, &merchant, owner, 2_500).await;
    assert!(h.platform.payments.orders_awaiting_pin(other).await.unwrap().is_empty());
    let seen = h.platform.payments.resolve_order(other, OrderReference::AwaitingPin(order.id)).await;
    assert!(matches!(seen, Err(PlatformError::NotFound(_))), "to anyone else the order does not exist: {seen:?}");
    let found = h.platform.payments.resolve_order(owner, OrderReference::AwaitingPin(order.id)).await.unwrap();
    h.platform
        .payments
        .pay_order(owner, found, PayOrder { pin: Some(PIN), card: None, balance_currency: None, quote: None }, None)
        .await
        .unwrap();
    assert_eq!((h.available(owner).await, h.available(other).await), ("75.00".into(), "100.00".into()));
    h.verify();
}

async fn concurrent_wrong_pins_get_no_more_than_the_allowed_tries(h: &Harness) {
    let p = h.funded("100.00").await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let platform = h.platform.clone();
            tokio::spawn(async move { platform.people.authorize_payment(p, 100, Some("999999")).await })
        })
        .collect();
    let mut wrong = 0;
    for t in tasks {
        match t.await.unwrap() {
            Err(PlatformError::PinWrong { .. }) => wrong += 1,
            Err(PlatformError::PinLocked { .. }) => {}
            other => panic!("a wrong PIN is wrong or locked: {other:?}"),
        }
    }
    assert!(wrong <= 5, "{wrong} wrong PINs were checked; 5 are allowed before the lock");
    let right = h.platform.people.authorize_payment(p, 100, Some(PIN)).await;
    assert!(matches!(right, Err(PlatformError::PinLocked { .. })), "locked even for the right PIN: {right:?}");
}
