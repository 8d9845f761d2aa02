//! Refunds: full or partial, cumulative up to what was paid (the order's guard), idempotent on the
//! merchant's `out_refund_no`, back to the funding source: a card-funded payment's refund leaves the
//! wallet for the card in the same chain, and the issuer is told after; if it refuses, the money comes
//! back to the wallet. An issuer left untold by a crash is told by the sweep.

use super::{
    CardRefund, Funding, Order, Payments, REFUNDS_PER_ORDER_MAX, Refund, RefundChannel, RefundStatus, cst_date, store, valid_notify_url,
    valid_out_no,
};
use crate::core::{Commit, Committed};
use crate::outbox::Event;
use crate::wallet::{RailOutcome, parse_currency};
use crate::{Conflict, MerchantId, PersonId, PlatformError, Result, chart, crypto, ids};
use ledger::{NewTransfer, TransferFlags};
use money::Currency;
use serde_json::json;

/// What a merchant asks to refund.
#[derive(Debug, Clone)]
pub struct NewRefund {
    /// The service provider asking (partner refunds); it must be the one that placed the order.
    pub sp_merchant_id: Option<MerchantId>,
    pub transaction_id: Option<String>,
    pub out_trade_no: Option<String>,
    pub out_refund_no: String,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
    pub refund_minor: i64,
    pub total_minor: i64,
    pub currency: String,
}

/// An operator's refund of this many major units of the order's currency or more needs a second
/// operator's approval (four eyes); a smaller one runs at once, audited.
pub const LARGE_REFUND_MAJOR: i64 = 1_000;

/// Whether an operator's refund of `amount_minor` is large (see [`LARGE_REFUND_MAJOR`]).
pub fn large_refund(amount_minor: i64, currency: Currency) -> bool {
    let unit = 10i64.pow(u32::from(currency.minor_units().unwrap_or(0)));
    amount_minor >= LARGE_REFUND_MAJOR.saturating_mul(unit)
}

/// Card refunds the sweep tells the issuer of per round.
const SWEEP_REFUNDS_MAX: i64 = 100;

fn check(new: &NewRefund) -> Result<()> {
    if !valid_out_no(&new.out_refund_no, 1, 64, true) {
        return Err(PlatformError::invalid("out_refund_no", "1 to 64 characters of [0-9A-Za-z_-|*@]"));
    }
    if new.reason.as_ref().is_some_and(|r| r.chars().count() > 80) {
        return Err(PlatformError::invalid("reason", "at most 80 characters"));
    }
    if new.notify_url.as_ref().is_some_and(|u| !valid_notify_url(u)) {
        return Err(PlatformError::invalid("notify_url", "an http:// or https:// URL of at most 256 characters, without a query"));
    }
    Ok(())
}

impl Payments {
    /// Refund (part of) a paid order back to its payer; idempotent on `out_refund_no`. An order paid in
    /// another currency gives the payer their share at the original rate, computed on the cumulative
    /// refunded amount (so the last refund closes exactly); a concurrent refund makes the share be
    /// computed again.
    pub async fn refund_order(&self, merchant: MerchantId, new: NewRefund) -> Result<Refund> {
        self.refund_order_with(merchant, new, ::store::Conditions::default()).await
    }

    /// An operator's refund of a merchant's paid order, in the merchant's name, committed with
    /// `conditions` (an approval's guard, the audit row): idempotent on `out_refund_no` as any refund.
    pub async fn refund_by_operator(
        &self,
        merchant: MerchantId,
        transaction_id: &str,
        amount_minor: i64,
        out_refund_no: &str,
        reason: &str,
        conditions: ::store::Conditions,
    ) -> Result<Refund> {
        let order = self.order_by_transaction_id(merchant, transaction_id).await?;
        let new = NewRefund {
            sp_merchant_id: order.sp_merchant_id,
            transaction_id: Some(transaction_id.to_string()),
            out_trade_no: None,
            out_refund_no: out_refund_no.to_string(),
            reason: Some(reason.chars().take(80).collect()),
            notify_url: None,
            refund_minor: amount_minor,
            total_minor: order.total_minor,
            currency: order.currency.code().to_string(),
        };
        self.refund_order_with(merchant, new, conditions).await
    }

    /// [`Payments::refund_order`] committed with `conditions` (an audit row, an approval's guard).
    pub async fn refund_order_audited(&self, merchant: MerchantId, new: NewRefund, conditions: ::store::Conditions) -> Result<Refund> {
        self.refund_order_with(merchant, new, conditions).await
    }

    async fn refund_order_with(&self, merchant: MerchantId, new: NewRefund, conditions: ::store::Conditions) -> Result<Refund> {
        check(&new)?;
        let mut order = self.refundable(merchant, &new).await?;
        let request_hash = crypto::sha256(json!([order.id.get(), new.refund_minor, new.reason, new.notify_url]).to_string().as_bytes());
        for _ in 0..REFUND_RACES_MAX {
            if let Ok(existing) = self.refund_by_out_refund_no(merchant, &new.out_refund_no).await {
                return same_refund(existing, &request_hash);
            }
            if !order.paid() {
                return Err(PlatformError::conflict(Conflict::InvalidRequest, "this order is not paid"));
            }
            match self.try_refund(merchant, &order, &new, &request_hash, &conditions).await? {
                Some(refund) => return Ok(refund),
                None => order = self.order(order.id).await?, // another refund came first: recompute the share
            }
        }
        Err(PlatformError::conflict(Conflict::RequestInProgress, "other refunds of this order are being made: try again"))
    }

    /// One attempt at a refund against `order` as read; `None` when a concurrent refund of an order paid
    /// in another currency changed what was refunded (the payer's share must be computed again).
    async fn try_refund(
        &self,
        merchant: MerchantId,
        order: &Order,
        new: &NewRefund,
        request_hash: &[u8],
        extra: &::store::Conditions,
    ) -> Result<Option<Refund>> {
        if order.funding == Some(Funding::Network) {
            // The payer is the network's customer: its refund goes back through the network, which
            // the connector cannot ask for yet. Refused before anything is recorded.
            return Err(PlatformError::conflict(
                Conflict::NetworkRefundUnsupported,
                "this order was paid by a partner network's wallet: refund it through that network",
            ));
        }
        let payer = order.payer_id.ok_or_else(|| PlatformError::Internal("a paid order without its payer".into()))?;
        let to_card = order.funding == Some(Funding::Card);
        let now = self.core.now_ms();
        let refund = new_refund(order, new, to_card, request_hash.to_vec(), now)?;
        let transfers = match &order.exchange {
            None => refund_transfers(&refund, payer, to_card)?,
            Some(exchange) => refund_transfers_exchanged(&refund, payer, exchange, to_card)?,
        };
        let added = match (&order.exchange, refund.payer_amount_minor) {
            (Some(_), Some(share)) => {
                store::add_refunded_exchanged(order.id, new.refund_minor, share, order.refunded_minor, REFUNDS_PER_ORDER_MAX)
            }
            _ => store::add_refunded(order.id, new.refund_minor, REFUNDS_PER_ORDER_MAX),
        };
        let card = to_card.then_some(CardRefund::Pending);
        let mut guards = vec![added, store::insert_refund(&refund, merchant, new.reason.as_deref(), new.notify_url.as_deref(), card)];
        guards.extend(extra.guards.iter().cloned());
        let mut effects = self.refund_notification(order, new, &refund, now);
        effects.extend(extra.effects.iter().cloned());
        match self.core.commit(Commit { guards, transfers, effects }).await? {
            Committed::Applied(results) => {
                if let Some(e) = results.iter().find_map(|r| r.err()) {
                    return Err(PlatformError::Internal(format!("ledger refused a refund: {}", e.code())));
                }
                self.core.outbox_wake.notify_one();
                if to_card {
                    self.finish_card_refund(refund.id, order, refund_to_card(&refund)).await?;
                    return self.refund_by_out_refund_no(merchant, &new.out_refund_no).await.map(Some);
                }
                Ok(Some(refund))
            }
            Committed::GuardFailed(0) => {
                let now = self.order(order.id).await?;
                let raced = order.exchange.is_some() && now.refunded_minor != order.refunded_minor;
                if raced && now.refunded_minor + new.refund_minor <= now.total_minor {
                    return Ok(None);
                }
                Err(PlatformError::conflict(
                    Conflict::NotEnough,
                    "the refund is more than what is left to refund on this order (or 50 refunds were made)",
                ))
            }
            // An operator's approval was decided meanwhile.
            Committed::GuardFailed(i) if i >= 2 => {
                Err(PlatformError::conflict(Conflict::AlreadyResolved, "this refund's approval was decided already"))
            }
            // The same out_refund_no raced in: answer as its first request did.
            Committed::GuardFailed(_) => {
                same_refund(self.refund_by_out_refund_no(merchant, &new.out_refund_no).await?, request_hash).map(Some)
            }
        }
    }

    fn refund_notification(&self, order: &Order, new: &NewRefund, refund: &Refund, now_ms: i64) -> Vec<::store::Effect> {
        let notify_url = new.notify_url.clone().unwrap_or_else(|| order.notify_url.clone());
        if notify_url.is_empty() {
            return Vec::new();
        }
        let event = Event::new("REFUND.SUCCESS", "退款成功", "refund", refund.id, refund.notification_json().to_string());
        vec![self.outbox.queue(&event, order.notified_merchant(), &notify_url, now_ms)]
    }

    /// The order a refund request names, checked against it.
    async fn refundable(&self, merchant: MerchantId, new: &NewRefund) -> Result<Order> {
        let order = match (&new.transaction_id, &new.out_trade_no) {
            (Some(t), _) => self.order_by_transaction_id(merchant, t).await,
            (None, Some(o)) => self.order_by_out_trade_no(merchant, o).await,
            (None, None) => return Err(PlatformError::invalid("transaction_id", "give transaction_id or out_trade_no")),
        }
        .map_err(|_| PlatformError::NotFound("order"))?;
        if order.sp_merchant_id != new.sp_merchant_id {
            return Err(PlatformError::NotFound("order"));
        }
        let currency = parse_currency(&new.currency).map_err(|_| PlatformError::invalid("amount.currency", "an ISO 4217 code"))?;
        if currency != order.currency {
            return Err(PlatformError::invalid("amount.currency", "differs from the order's currency"));
        }
        if new.total_minor != order.total_minor {
            return Err(PlatformError::invalid("amount.total", "differs from the order's total"));
        }
        if new.refund_minor <= 0 || new.refund_minor > order.total_minor {
            return Err(PlatformError::invalid("amount.refund", "1 to the order's total"));
        }
        Ok(order)
    }

    pub async fn refund_by_out_refund_no(&self, merchant: MerchantId, out_refund_no: &str) -> Result<Refund> {
        let key = out_refund_no.to_string();
        let stored =
            self.core.read(move |c| store::refund_by_out_refund_no(c, merchant, &key)).await?.ok_or(PlatformError::NotFound("refund"))?;
        Ok(Refund {
            id: stored.id,
            refund_id: stored.refund_id,
            out_refund_no: stored.out_refund_no,
            order: self.order(stored.order).await?,
            amount_minor: stored.amount_minor,
            status: stored.status,
            channel: stored.channel,
            created_at_ms: stored.created_at_ms,
            success_at_ms: stored.success_at_ms,
            request_hash: stored.request_hash,
            payer_amount_minor: stored.payer_amount_minor,
        })
    }

    /// Tell the card issuer about a refund that left the wallet for the card. If the issuer refuses,
    /// the money goes back to the payer's wallet instead (and the refund says so).
    async fn finish_card_refund(&self, refund: i64, order: &Order, (currency, amount_minor): (Currency, i64)) -> Result<()> {
        let reference = order.card_reference.clone().ok_or_else(|| PlatformError::Internal("a card payment without its charge".into()))?;
        let key = format!("order-refund-{refund}");
        let outcome = self.wallet.rail_refund_amount(reference, amount_minor, key).await?;
        let payer = order.payer_id.ok_or_else(|| PlatformError::Internal("a paid order without its payer".into()))?;
        let (state, channel) = match outcome {
            RailOutcome::Approved { .. } | RailOutcome::Pending { .. } => (CardRefund::Refunded, RefundChannel::Original),
            RailOutcome::Declined { reason } => {
                tracing::warn!(refund, %reason, "the card issuer refused a refund; it goes to the wallet");
                let back = NewTransfer {
                    id: chart::derived(refund, chart::transfer::ORDER_REFUND_TO_BALANCE, 0),
                    debit_account_id: chart::system_account(chart::account::CARD_RAIL, currency),
                    credit_account_id: chart::wallet(payer, currency),
                    amount: chart::ledger_amount(amount_minor, currency)?,
                    pending_id: 0,
                    currency: Some(currency),
                    code: chart::transfer::ORDER_REFUND_TO_BALANCE,
                    flags: TransferFlags::empty(),
                    timeout_s: 0,
                    user_data: order.id.get() as u128,
                };
                let result = self.core.transfers(vec![back]).await?;
                if let Some(e) = result[0].err() {
                    return Err(PlatformError::Internal(format!("returning a refused card refund: {}", e.code())));
                }
                (CardRefund::ToBalance, RefundChannel::Balance)
            }
        };
        self.core.write(move |c| store::finish_card_refund(c, refund, state, channel)).await
    }

    /// Card refunds interrupted between the ledger and the issuer (a crash): tell the issuer now (the
    /// rail refund is idempotent on the refund's id).
    pub(crate) async fn finish_interrupted_card_refunds(&self) -> Result<usize> {
        let before = self.core.now_ms() - crate::wallet::INTERRUPTED_AFTER_MS;
        let pending = self.core.read(move |c| store::pending_card_refunds(c, before, SWEEP_REFUNDS_MAX)).await?;
        for p in &pending {
            let order = self.order(p.order).await?;
            let to_card = match (&order.exchange, p.payer_amount_minor) {
                (Some(e), Some(share)) => (e.currency, share),
                _ => (order.currency, p.amount_minor),
            };
            self.finish_card_refund(p.refund, &order, to_card).await?;
        }
        Ok(pending.len())
    }
}

fn same_refund(existing: Refund, request_hash: &[u8]) -> Result<Refund> {
    if existing.request_hash != request_hash {
        return Err(PlatformError::conflict(Conflict::InvalidRequest, "this out_refund_no was used for a different refund"));
    }
    Ok(existing)
}

/// Refunds of one order raced at most before giving up (each race recomputes the payer's share).
const REFUND_RACES_MAX: usize = 16;

/// Where a card refund goes: the payer's currency and share, or the order's.
fn refund_to_card(refund: &Refund) -> (Currency, i64) {
    match (&refund.order.exchange, refund.payer_amount_minor) {
        (Some(e), Some(share)) => (e.currency, share),
        _ => (refund.order.currency, refund.amount_minor),
    }
}

/// The refund as it is once it commits (with the payer's share of an order paid in another currency).
fn new_refund(order: &Order, new: &NewRefund, to_card: bool, request_hash: Vec<u8>, now_ms: i64) -> Result<Refund> {
    assert!(0 < new.refund_minor && new.refund_minor <= order.total_minor, "a refund is checked against its order first");
    if order.refunded_minor + new.refund_minor > order.total_minor {
        return Err(PlatformError::conflict(Conflict::NotEnough, "the refund is more than what is left to refund on this order"));
    }
    let payer_amount_minor = match &order.exchange {
        None => None,
        Some(e) => Some(
            crate::fx::pricing::payer_refund_minor(
                e.total_minor,
                order.total_minor,
                order.refunded_minor + new.refund_minor,
                e.refunded_minor,
            )
            .map_err(|err| PlatformError::Internal(format!("a refund's share: {err}")))?,
        ),
    };
    let id = ids::object_id(now_ms);
    Ok(Refund {
        id,
        refund_id: format!("50{}{:019}", cst_date(now_ms), id),
        out_refund_no: new.out_refund_no.clone(),
        order: order.clone(),
        amount_minor: new.refund_minor,
        status: RefundStatus::Success,
        // A card-funded payment is refunded to the card (through the wallet, in one linked chain).
        channel: if to_card { RefundChannel::Original } else { RefundChannel::Balance },
        created_at_ms: now_ms,
        success_at_ms: Some(now_ms),
        request_hash,
        payer_amount_minor,
    })
}

/// The merchant's receivable back to the payer's wallet, and on to the card rail for a card payment,
/// as one chain.
fn refund_transfers(refund: &Refund, payer: PersonId, to_card: bool) -> Result<Vec<NewTransfer>> {
    let order = &refund.order;
    let back = NewTransfer {
        id: chart::derived(refund.id, chart::transfer::ORDER_REFUND, 0),
        debit_account_id: chart::merchant_receivable(order.merchant_id, order.currency),
        credit_account_id: chart::wallet(payer, order.currency),
        amount: chart::ledger_amount(refund.amount_minor, order.currency)?,
        pending_id: 0,
        currency: Some(order.currency),
        code: chart::transfer::ORDER_REFUND,
        flags: if to_card { TransferFlags::LINKED } else { TransferFlags::empty() },
        timeout_s: 0,
        user_data: order.id.get() as u128,
    };
    let mut transfers = vec![back];
    if to_card {
        transfers.push(NewTransfer {
            id: chart::derived(refund.id, chart::transfer::ORDER_REFUND_TO_CARD, 0),
            debit_account_id: chart::wallet(payer, order.currency),
            credit_account_id: chart::system_account(chart::account::CARD_RAIL, order.currency),
            code: chart::transfer::ORDER_REFUND_TO_CARD,
            flags: TransferFlags::empty(),
            ..back
        });
    }
    Ok(transfers)
}

/// The refund of an order paid in another currency: the merchant's receivable into the FX position of
/// the order's currency, the FX position of the payer's currency to the payer (and on to the card for a
/// card payment), as one chain.
fn refund_transfers_exchanged(refund: &Refund, payer: PersonId, exchange: &super::Exchange, to_card: bool) -> Result<Vec<NewTransfer>> {
    let order = &refund.order;
    let share = refund.payer_amount_minor.expect("a refund of an exchanged order has the payer's share");
    let position = |c| chart::system_account(chart::account::FX_POSITION, c);
    let leg = |code, debit, credit, currency, amount, flags| -> Result<NewTransfer> {
        Ok(NewTransfer {
            id: chart::derived(refund.id, code, 0),
            debit_account_id: debit,
            credit_account_id: credit,
            amount: chart::ledger_amount(amount, currency)?,
            pending_id: 0,
            currency: Some(currency),
            code,
            flags,
            timeout_s: 0,
            user_data: order.id.get() as u128,
        })
    };
    let out_flags = if to_card { TransferFlags::LINKED } else { TransferFlags::empty() };
    let mut transfers = vec![
        leg(
            chart::transfer::ORDER_REFUND_FX_IN,
            chart::merchant_receivable(order.merchant_id, order.currency),
            position(order.currency),
            order.currency,
            refund.amount_minor,
            TransferFlags::LINKED,
        )?,
        leg(
            chart::transfer::ORDER_REFUND_FX_OUT,
            position(exchange.currency),
            chart::wallet(payer, exchange.currency),
            exchange.currency,
            share,
            out_flags,
        )?,
    ];
    if to_card {
        let rail = chart::system_account(chart::account::CARD_RAIL, exchange.currency);
        transfers.push(leg(
            chart::transfer::ORDER_REFUND_TO_CARD,
            chart::wallet(payer, exchange.currency),
            rail,
            exchange.currency,
            share,
            TransferFlags::empty(),
        )?);
    }
    Ok(transfers)
}
