//! What the merchant console reads: a merchant's orders newest first, found by out_trade_no or
//! transaction id, by state and by time; an order's refunds and notifications, for its timeline; and
//! its sales summed per time bucket and channel, for the charts.

use super::{Order, Payments, RefundChannel, RefundStatus, TradeState, store};
use crate::outbox::Notification;
use crate::{MerchantId, OrderId, Result};
use serde::Serialize;

/// Orders on one console page at most.
pub const CONSOLE_ORDERS_MAX: i64 = 50;
/// Notifications looked through for an order's timeline at most (the merchant's most recent).
const TIMELINE_NOTIFICATIONS_MAX: i64 = 500;

/// How the console looks for orders. Every part is optional; together they narrow the search.
#[derive(Debug, Clone, Default)]
pub struct OrderSearch {
    /// An out_trade_no or a transaction id, exactly.
    pub reference: Option<String>,
    pub state: Option<TradeState>,
    /// Placed at or after (ms since 1970).
    pub from_ms: Option<i64>,
    /// Placed before.
    pub to_ms: Option<i64>,
}

/// A refund as the console lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RefundLine {
    pub refund_id: String,
    pub out_refund_no: String,
    pub amount_minor: i64,
    pub status: RefundStatus,
    pub channel: RefundChannel,
    pub created_at_ms: i64,
    pub success_at_ms: Option<i64>,
}

/// Buckets one sales query may return at most (a day in hours, a fortnight in days; by channel).
pub const SALES_BUCKETS_MAX: i64 = 24 * 8;

/// Payments or refunds summed over one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SalesBucket {
    /// The bucket's index from the window's start (`(time - start) / bucket`).
    pub bucket: i64,
    pub currency: money::Currency,
    /// The channel (trade type) for payments; empty for refunds.
    pub channel: String,
    pub count: i64,
    pub amount_minor: i64,
}

/// All merchants' payments in a window, per currency (the operator's dashboard).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PaymentTotal {
    pub currency: money::Currency,
    pub count: i64,
    pub amount_minor: i64,
}

impl Payments {
    /// Every merchant's payments in `[start_ms, end_ms)` (by when they were paid), per currency.
    pub async fn totals(&self, start_ms: i64, end_ms: i64) -> Result<Vec<PaymentTotal>> {
        assert!(end_ms > start_ms, "a window");
        self.core.read(move |c| store::totals(c, start_ms, end_ms)).await
    }

    /// A merchant's payments in `[start_ms, end_ms)`, summed per bucket of `bucket_ms`, currency and
    /// channel (by when they were paid).
    pub async fn sales(&self, merchant: MerchantId, start_ms: i64, end_ms: i64, bucket_ms: i64) -> Result<Vec<SalesBucket>> {
        assert!(bucket_ms > 0 && end_ms > start_ms, "a sales window and a bucket size");
        self.core.read(move |c| store::sales(c, merchant, start_ms, end_ms, bucket_ms, SALES_BUCKETS_MAX)).await
    }

    /// A merchant's refunds in `[start_ms, end_ms)`, summed per bucket and currency (by when they were made).
    pub async fn refund_sales(&self, merchant: MerchantId, start_ms: i64, end_ms: i64, bucket_ms: i64) -> Result<Vec<SalesBucket>> {
        assert!(bucket_ms > 0 && end_ms > start_ms, "a sales window and a bucket size");
        self.core.read(move |c| store::refund_sales(c, merchant, start_ms, end_ms, bucket_ms, SALES_BUCKETS_MAX)).await
    }

    /// A merchant's orders matching the search, newest first, [`CONSOLE_ORDERS_MAX`] at most.
    pub async fn merchant_orders(&self, merchant: MerchantId, search: OrderSearch) -> Result<Vec<Order>> {
        self.core.read(move |c| store::orders_of(c, merchant, &search, CONSOLE_ORDERS_MAX)).await
    }

    /// An order's refunds, oldest first.
    pub async fn order_refunds(&self, order: OrderId) -> Result<Vec<RefundLine>> {
        self.core.read(move |c| store::refunds_of(c, order)).await
    }

    /// The notifications sent about an order (its payment and its refunds), oldest first.
    pub async fn order_notifications(&self, order: &Order) -> Result<Vec<Notification>> {
        let all = self.outbox.list(Some(&order.mchid), TIMELINE_NOTIFICATIONS_MAX).await?;
        let mut about: Vec<Notification> = all.into_iter().filter(|n| n.resource.contains(&order.transaction_id)).collect();
        about.reverse();
        Ok(about)
    }
}
