//! Property: for random sequences of cross-currency payments (HK wallets paying mainland merchants,
//! mainland wallets paying Hong Kong and Paris merchants), partial refunds, rate moves and settled
//! days, every currency's books balance after each step, no refund ever gives back more than the payer
//! paid, the payer is charged the exact price at the locked rate rounded up, so never a whole minor
//! unit more, and an order refunded in full gives the payer back exactly what was paid.

use crate::support::*;
use money::Currency;
use platform::PersonId;
use platform::merchants::MerchantAuth;
use platform::payments::{NewRefund, Order};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
enum Step {
    /// Payer kind (0: HK wallet → CNY merchant, 1: CN wallet → HKD merchant, 2: CN wallet → EUR
    /// merchant) and the order's amount in minor units.
    Pay(u8, i64),
    /// Refund a share (percent, of what is left) of the n-th paid order.
    Refund(usize, i64),
    /// Publish new rates (basis points around the start: 9000..11000 of each).
    MoveRates(u16, u16, u16),
    /// The day ends and settles.
    EndDay,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..3, 1i64..=15_000).prop_map(|(k, a)| Step::Pay(k, a)),
        3 => (0usize..16, 1i64..=100).prop_map(|(i, p)| Step::Refund(i, p)),
        1 => (9_000u16..11_000, 9_000u16..11_000, 9_000u16..11_000).prop_map(|(a, b, c)| Step::MoveRates(a, b, c)),
        1 => Just(Step::EndDay),
    ]
}

/// `base` scaled by `bps` / 10^4, as a 4-decimal rate.
fn rate(base_e4: u64, bps: u16) -> String {
    let v = base_e4 * u64::from(bps) / 10_000;
    format!("{}.{:04}", v / 10_000, v % 10_000)
}

async fn publish(h: &Harness, a: u16, b: u16, c: u16) {
    h.platform.fx.set_rate("CNY", "HKD", &rate(10_870, a), None, "operator:prop").await.unwrap();
    h.platform.fx.set_rate("HKD", "CNY", &rate(9_200, b), None, "operator:prop").await.unwrap();
    h.platform.fx.set_rate("EUR", "CNY", &rate(78_000, c), None, "operator:prop").await.unwrap();
}

struct World {
    payers: [PersonId; 3],
    merchants: [MerchantAuth; 3],
    paid: Vec<Order>,
    n: u64,
}

/// The payer's exact price of an order at its locked rate, in payer minor units × 10^scale × 10^exp(order).
fn exact_price_scaled(order: &Order) -> (i128, i128) {
    let e = order.exchange.as_ref().expect("an exchanged order");
    let order_exp = i128::from(order.currency.minor_units().unwrap_or(0));
    let payer_exp = i128::from(e.currency.minor_units().unwrap_or(0));
    let numerator = i128::from(order.total_minor) * i128::from(e.rate.mantissa()) * 10i128.pow(payer_exp as u32);
    let denominator = 10i128.pow(u32::from(e.rate.scale())) * 10i128.pow(order_exp as u32);
    (numerator, denominator)
}

fn check_order(order: &Order) {
    let e = order.exchange.as_ref().expect("an exchanged order");
    let (numerator, denominator) = exact_price_scaled(order);
    // Rounded up (ceiling), stated: exact ≤ payer_total < exact + 1 minor unit.
    let charged = i128::from(e.total_minor) * denominator;
    assert!(
        numerator <= charged && charged < numerator + denominator,
        "charged {} for {} {} at {}: not the exact price rounded up to the payer's minor unit",
        e.total_minor,
        order.total_minor,
        order.currency,
        e.rate
    );
    assert!(e.refunded_minor <= e.total_minor, "refunded {} of {} paid", e.refunded_minor, e.total_minor);
    assert!(order.refunded_minor <= order.total_minor);
    if order.refunded_minor == order.total_minor {
        assert_eq!(e.refunded_minor, e.total_minor, "a full refund gives back exactly what was paid");
    }
}

async fn apply(h: &Harness, w: &mut World, step: &Step) {
    match *step {
        Step::Pay(kind, amount) => {
            let (payer, merchant) = (w.payers[kind as usize], &w.merchants[kind as usize]);
            let currency = merchant.merchant.settlement_currency.code().to_string();
            w.n += 1;
            let order = h.order_in(merchant, &format!("P{:08}", w.n), amount, &currency).await;
            // Refused (a balance or a cap): nothing moves, which `verify` checks with the rest.
            if let Ok(paid) = h.pay(payer, &order).await {
                check_order(&paid);
                w.paid.push(paid);
            }
        }
        Step::Refund(i, percent) if !w.paid.is_empty() => {
            let i = i % w.paid.len();
            let order = h.platform.payments.order(w.paid[i].id).await.unwrap();
            let left = order.total_minor - order.refunded_minor;
            if left == 0 {
                return;
            }
            let refund_minor = (left * percent / 100).max(1);
            w.n += 1;
            let new = NewRefund {
                sp_merchant_id: None,
                transaction_id: Some(order.transaction_id.clone()),
                out_trade_no: None,
                out_refund_no: format!("R{:08}", w.n),
                reason: None,
                notify_url: None,
                refund_minor,
                total_minor: order.total_minor,
                currency: order.currency.code().into(),
            };
            let merchant = w.merchants.iter().find(|m| m.merchant.id == order.merchant_id).unwrap();
            // A settled day may have paid the merchant out: NOT_ENOUGH then, and nothing moves.
            if let Ok(refund) = h.platform.payments.refund_order(merchant.merchant.id, new).await {
                let before = order.exchange.as_ref().unwrap();
                let given = refund.payer_amount_minor.expect("an exchanged refund says what the payer got");
                assert!(given <= before.total_minor - before.refunded_minor, "refund {given} exceeds what is left of the payer's payment");
            }
            let after = h.platform.payments.order(order.id).await.unwrap();
            check_order(&after);
            w.paid[i] = after;
        }
        Step::Refund(..) => {}
        Step::MoveRates(a, b, c) => publish(h, a, b, c).await,
        Step::EndDay => h.advance_s(86_400).await,
    }
    h.verify();
}

async fn world(h: &Harness) -> World {
    publish(h, 10_000, 10_000, 10_000).await;
    let hk = h.funded_hk("2000.00").await;
    let cn1 = h.funded("2000.00").await;
    let cn2 = h.funded("2000.00").await;
    for p in [hk, cn1, cn2] {
        h.platform.people.set_kyc_tier(p, 2).await.unwrap();
    }
    let merchants = [h.merchant().await, h.merchant_in("HK", "HKD").await, h.merchant_in("FR", "EUR").await];
    World { payers: [hk, cn1, cn2], merchants, paid: Vec::new(), n: 0 }
}

#[test]
fn cross_currency_payments_refunds_and_settlements_keep_every_book_balanced_and_the_payer_whole() {
    let runtime = runtime();
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    runner
        .run(&proptest::collection::vec(step(), 1..14), |steps| {
            runtime.block_on(async {
                let h = Harness::sqlite("fx_properties").await;
                let mut w = world(&h).await;
                for s in &steps {
                    apply(&h, &mut w, s).await;
                }
                let cny = Currency::from_code("CNY").unwrap();
                assert!(h.platform.wallet.balances(w.payers[1]).await.unwrap().iter().any(|b| b.currency == cny));
            });
            Ok(())
        })
        .unwrap();
}
