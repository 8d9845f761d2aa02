//! KYC-tier limits on money out (payments, transfers, withdrawals) and money in (top-ups).

use crate::support::*;
use platform::p2p::SendTransfer;
use platform::wallet::Withdrawal;
use platform::{Conflict, PersonId, PlatformError};

both_backends!(
    a_tier_zero_person_pays_at_most_the_daily_limit_in_a_day,
    a_kyc_downgrade_applies_the_lower_limits_the_same_day,
    a_top_up_above_the_tier_limit_is_refused_before_the_card_is_charged,
    top_ups_are_held_to_a_daily_limit,
    a_withdrawal_obeys_the_payment_limits,
    a_year_account_opened_before_an_earlier_versions_hold_was_returned_keeps_working_the_next_day,
);

async fn send(h: &Harness, from: PersonId, to: PersonId, amount: &str) -> platform::Result<platform::p2p::P2pTransfer> {
    let request = SendTransfer { to, amount, currency: "CNY", note: "", pin: Some(PIN), card: None };
    h.platform.p2p.send(from, request, None).await
}

fn conflict(r: platform::Result<impl std::fmt::Debug>) -> Conflict {
    match r {
        Err(PlatformError::Conflict { code, .. }) => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn a_tier_zero_person_pays_at_most_the_daily_limit_in_a_day(h: &Harness) {
    let payer = h.funded("2000.00").await;
    let (friend, _) = h.person("CN").await;
    h.befriend(payer, friend).await;
    send(h, payer, friend, "400.00").await.unwrap();
    send(h, payer, friend, "400.00").await.unwrap();
    assert_eq!(conflict(send(h, payer, friend, "200.01").await), Conflict::LimitDaily);
    send(h, payer, friend, "200.00").await.expect("exactly up to the limit");
    assert_eq!(h.available(payer).await, "1000.00");
    h.advance_s(86_400).await;
    send(h, payer, friend, "300.00").await.expect("a new day, a new daily limit");
    h.verify();
}

async fn a_kyc_downgrade_applies_the_lower_limits_the_same_day(h: &Harness) {
    let payer = h.funded("2000.00").await;
    let (friend, _) = h.person("CN").await;
    h.befriend(payer, friend).await;
    h.platform.people.set_kyc_tier(payer, 2).await.unwrap();
    send(h, payer, friend, "1.00").await.unwrap();
    h.platform.people.set_kyc_tier(payer, 0).await.unwrap();
    let mut passed = 0;
    for _ in 0..4 {
        if send(h, payer, friend, "400.00").await.is_ok() {
            passed += 1;
        }
    }
    // Tier 0's daily limit is 1,000.00 and 1.00 was spent today under tier 2: two of 400.00 fit.
    assert_eq!(passed, 2);
    assert_eq!(h.available(payer).await, "1199.00");
    h.verify();
}

async fn a_top_up_above_the_tier_limit_is_refused_before_the_card_is_charged(h: &Harness) {
    let (p, card) = h.person("CN").await;
    let refused = h.top_up(p, card, "2000.01").await;
    assert_eq!(conflict(refused), Conflict::LimitSingle);
    let absurd = h.top_up(p, card, "92233720368547758.07").await;
    assert!(absurd.is_err(), "an absurd amount is refused");
    assert_eq!(h.available(p).await, "0.00");
    let history = h.platform.history.page(p, Default::default()).await.unwrap();
    assert!(history.is_empty(), "no top-up was recorded, so no card was charged: {history:?}");
    h.verify();
}

async fn top_ups_are_held_to_a_daily_limit(h: &Harness) {
    let (p, card) = h.person("CN").await;
    for amount in ["2000.00", "2000.00", "1000.00"] {
        h.top_up(p, card, amount).await.unwrap();
    }
    assert_eq!(conflict(h.top_up(p, card, "0.01").await), Conflict::LimitDaily);
    assert_eq!(h.available(p).await, "5000.00");
    h.verify();
}

async fn a_withdrawal_obeys_the_payment_limits(h: &Harness) {
    let p = h.funded("2000.00").await;
    let bank = h.platform.wallet.add_bank_account(p, "ICBC", "Li Lei", "6222 0200 0000 0000 000").await.unwrap();
    let request = |amount| Withdrawal { bank_account: bank.id, amount, currency: "CNY", pin: Some(PIN) };
    assert_eq!(conflict(h.platform.wallet.withdraw(p, request("500.01"), None).await), Conflict::LimitSingle);
    h.platform.wallet.withdraw(p, request("500.00"), None).await.unwrap();
    h.platform.wallet.withdraw(p, request("500.00"), None).await.unwrap();
    assert_eq!(conflict(h.platform.wallet.withdraw(p, request("0.01"), None).await), Conflict::LimitDaily);
    assert_eq!(h.available(p).await, "1000.00");
    h.verify();
}

/// Found by fuzzing the wallet API (a 500 on a withdrawal): this year's account of a KYC version records
/// what earlier versions had spent when it was opened; when an earlier version's hold is returned later,
/// reopening the year on a new day must reuse that record, not recompute it and collide.
async fn a_year_account_opened_before_an_earlier_versions_hold_was_returned_keeps_working_the_next_day(h: &Harness) {
    let payer = h.funded("2000.00").await;
    let (friend, _) = h.person("CN").await;
    h.befriend(payer, friend).await;
    let held = send(h, payer, friend, "100.00").await.unwrap();
    h.platform.people.set_kyc_tier(payer, 1).await.unwrap();
    send(h, payer, friend, "1.00").await.expect("the new version opens today and this year");
    h.platform.p2p.decline(friend, held.id).await.unwrap();
    h.advance_s(86_400).await;
    send(h, payer, friend, "2.00").await.expect("a new day reopens the year as it was recorded");
    assert_eq!(h.available(payer).await, "1997.00");
    h.verify();
}
