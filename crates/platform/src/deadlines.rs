//! Every timed job, in one place: resolved exactly once, whichever instance runs it and however often.
//! Transfers to friends expire in the ledger itself; the rest is here.

use crate::{Platform, Result};
use serde::Serialize;

/// Rows purged per table per sweep at most (the sweep runs every second; a backlog drains in steps).
const PURGE_ROWS_MAX: i64 = 10_000;
/// Ended campaigns' matches returned per sweep at most.
const PLEDGES_RETURNED_MAX: i64 = 100;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeadlineReport {
    pub top_ups_settled: usize,
    /// Expired sessions, idempotency answers, payment codes and nonces deleted.
    pub records_purged: u64,
    pub withdrawals_settled: usize,
    pub card_payments_settled: usize,
    pub claims_completed: usize,
    pub red_packets_refunded: usize,
    pub orders_closed: usize,
    pub settlements: usize,
    pub card_refunds_finished: usize,
    /// Movements held for review past their deadline, their money returned.
    pub reviews_expired: usize,
    /// Matches of ended campaigns whose unmatched rest went back to the sponsor.
    pub matches_returned: usize,
    /// Monthly donations charged (or their failure recorded) on their day.
    pub recurring_donations_charged: usize,
    /// Card gifts' refunds the issuer was not told of (interrupted), told now.
    pub donation_card_refunds_finished: usize,
}

/// Top-ups and withdrawals the rail has answered (or that were interrupted), card payments interrupted
/// before their payment, expired red packets (the rest goes back), unpaid orders past their deadline,
/// yesterday's settlement, card refunds the issuer was not told of, and expired records.
pub(crate) async fn run(p: &Platform) -> Result<DeadlineReport> {
    // What follows reads ledger states: let the ledger's own expiries catch up with the clock first.
    p.core.expire_due().await?;
    let (top_ups_settled, withdrawals_settled, card_payments_settled) = p.wallet.sweep().await?;
    let packets = p.red_packets.sweep().await?;
    let records_purged = p.people.purge_sessions(PURGE_ROWS_MAX).await?
        + p.idempotency.purge(PURGE_ROWS_MAX).await?
        + p.payments.purge(PURGE_ROWS_MAX).await?
        + p.merchants.purge_nonces(PURGE_ROWS_MAX).await?
        + p.merchants.purge_console_sessions(PURGE_ROWS_MAX).await?
        + p.operators.purge_sessions(PURGE_ROWS_MAX).await?
        + p.people.erase_closed(PURGE_ROWS_MAX).await?;
    Ok(DeadlineReport {
        top_ups_settled,
        withdrawals_settled,
        card_payments_settled,
        records_purged,
        claims_completed: packets.claims_completed,
        red_packets_refunded: packets.refunded,
        orders_closed: p.payments.close_due_orders().await?,
        settlements: p.settlement.settle_due_day().await?,
        card_refunds_finished: p.payments.finish_interrupted_card_refunds().await?,
        reviews_expired: p.reviews.sweep().await?,
        matches_returned: p.charity.return_unmatched(PLEDGES_RETURNED_MAX).await?,
        recurring_donations_charged: p.charity.charge_due_recurring().await?,
        donation_card_refunds_finished: p.charity.finish_interrupted_card_refunds().await?,
    })
}
