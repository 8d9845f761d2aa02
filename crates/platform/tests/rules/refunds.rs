//! Refunds: never more than was paid, idempotent on the merchant's out_refund_no, safe under races.

use crate::support::*;
use platform::merchants::MerchantAuth;
use platform::payments::{NewRefund, Order};
use platform::{Conflict, PlatformError};

both_backends!(
    refunds_never_add_up_to_more_than_was_paid,
    a_repeated_out_refund_no_is_the_same_refund,
    concurrent_refunds_never_refund_more_than_was_paid,
);

fn refund(order: &Order, out_refund_no: &str, refund_minor: i64) -> NewRefund {
    NewRefund {
        sp_merchant_id: None,
        transaction_id: Some(order.transaction_id.clone()),
        out_trade_no: None,
        out_refund_no: out_refund_no.into(),
        reason: None,
        notify_url: None,
        refund_minor,
        total_minor: order.total_minor,
        currency: "CNY".into(),
    }
}

/// A merchant and an order of 100.00 CNY paid by a person who had 500.00.
async fn paid_order(h: &Harness) -> (MerchantAuth, Order, platform::PersonId) {
    let payer = h.funded("500.00").await;
    let merchant = h.merchant().await;
    let order = h.order(&merchant, "R000001", 10_000).await;
    let paid = h.pay(payer, &order).await.unwrap();
    (merchant, paid, payer)
}

async fn refunds_never_add_up_to_more_than_was_paid(h: &Harness) {
    let (merchant, order, payer) = paid_order(h).await;
    let id = merchant.merchant.id;
    h.platform.payments.refund_order(id, refund(&order, "F1", 6_000)).await.unwrap();
    let over = h.platform.payments.refund_order(id, refund(&order, "F2", 4_001)).await;
    assert!(matches!(over, Err(PlatformError::Conflict { code: Conflict::NotEnough, .. })), "{over:?}");
    h.platform.payments.refund_order(id, refund(&order, "F3", 4_000)).await.expect("exactly what is left");
    assert_eq!(h.available(payer).await, "500.00", "everything paid came back, nothing more");
    h.verify();
}

async fn a_repeated_out_refund_no_is_the_same_refund(h: &Harness) {
    let (merchant, order, payer) = paid_order(h).await;
    let id = merchant.merchant.id;
    let first = h.platform.payments.refund_order(id, refund(&order, "F1", 2_500)).await.unwrap();
    let again = h.platform.payments.refund_order(id, refund(&order, "F1", 2_500)).await.unwrap();
    assert_eq!(first.refund_id, again.refund_id);
    assert_eq!(h.available(payer).await, "425.00", "refunded once");
    let different = h.platform.payments.refund_order(id, refund(&order, "F1", 1_000)).await;
    assert!(different.is_err(), "the same out_refund_no for another amount is refused: {different:?}");
    h.verify();
}

async fn concurrent_refunds_never_refund_more_than_was_paid(h: &Harness) {
    let (merchant, order, payer) = paid_order(h).await;
    let id = merchant.merchant.id;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (platform, order) = (h.platform.clone(), order.clone());
            tokio::spawn(async move { platform.payments.refund_order(id, refund(&order, &format!("C{i}"), 3_000)).await.is_ok() })
        })
        .collect();
    let mut succeeded = 0;
    for t in tasks {
        succeeded += usize::from(t.await.unwrap());
    }
    assert_eq!(succeeded, 3, "3 × 30.00 fit in 100.00, a fourth would not");
    assert_eq!(h.available(payer).await, "490.00");
    h.verify();
}
