//! An order paid by a partner network's wallet: the network's settlement account pays the merchant's
//! receivable, in one commit with the order's move to paid, the network payment's row and the
//! merchant's notification (its `bank_type` names the network; the payer's openid is the network
//! customer's pseudonym, as stable per network customer as an openid is per person).

use super::{Funding, Order, Payments, TradeState, fee_of, store};
use crate::core::{Commit, Committed, chain_outcome};
use crate::networks::NetworkConfig;
use crate::{Conflict, PlatformError, Result, chart, crypto};
use ledger::{NewTransfer, TransferFlags};

impl Payments {
    /// Pay `order` from `network`'s account; `row` is the network payment's row (a guard, second).
    /// `Ok(None)` when that row exists already (the same pay call raced in).
    pub(crate) async fn pay_by_network(
        &self,
        order: Order,
        network: &NetworkConfig,
        customer: &str,
        payment_id: i64,
        row: ::store::Effect,
    ) -> Result<Option<Order>> {
        if !order.trade_state.open() {
            let conflict = if order.paid() { Conflict::OrderPaid } else { Conflict::OrderClosed };
            return Err(PlatformError::conflict(conflict, "this order cannot be paid any more"));
        }
        let now = self.core.now_ms();
        if now >= order.expires_at_ms {
            return Err(PlatformError::conflict(Conflict::OrderClosed, "this order has expired"));
        }
        let fee_minor = fee_of(order.total_minor, self.merchants.merchant(&order.mchid).await?.merchant.fee_bps);
        let pseudonym = crypto::hex(&self.core.mac_raw(format!("network-payer\n{}\n{customer}", network.id).as_bytes())[..14]);
        let openid = format!("nw{pseudonym}");
        let bank_type = network.bank_type();
        let paid = Order {
            trade_state: TradeState::Success,
            payer_id: None,
            payer_openid_paid: Some(openid.clone()),
            bank_type: Some(bank_type.clone()),
            fee_minor,
            success_at_ms: Some(now),
            funding: Some(Funding::Network),
            ..order.clone()
        };
        let mark = store::mark_paid(&store::Paid {
            order: order.id,
            payer: None,
            openid: &openid,
            sub_openid: None,
            funding: Funding::Network,
            card: None,
            bank_type: &bank_type,
            fee_minor,
            now_ms: now,
            exchange: None,
        });
        let transfer = NewTransfer {
            id: chart::derived(payment_id, chart::transfer::NETWORK_ORDER_PAY, 0),
            debit_account_id: crate::networks::settlement_account(network.number, order.currency),
            credit_account_id: chart::merchant_receivable(order.merchant_id, order.currency),
            amount: chart::ledger_amount(order.total_minor, order.currency)?,
            pending_id: 0,
            currency: Some(order.currency),
            code: chart::transfer::NETWORK_ORDER_PAY,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: order.id.get() as u128,
        };
        let effects = self.success_notification(&paid, now);
        match self.core.commit(Commit { guards: vec![mark, row], transfers: vec![transfer], effects }).await? {
            Committed::Applied(results) => {
                chain_outcome(&results).map_err(|e| PlatformError::Internal(format!("a network's payment: {}", e.code())))?;
                self.core.outbox_wake.notify_one();
                Ok(Some(paid))
            }
            Committed::GuardFailed(0) => Err(PlatformError::conflict(Conflict::OrderPaid, "this order cannot be paid any more")),
            Committed::GuardFailed(_) => Ok(None),
        }
    }
}
