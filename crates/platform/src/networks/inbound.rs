//! A partner network's wallet pays a Qianbao merchant (Alipay+ style): the network asks what a code
//! is (`identify`: supported? which merchant, amount, currency), then pays it (`pay`), idempotent on
//! the network's payment id: the same call again answers the same payment; the same payment id with
//! another code or amount is refused.

use super::{Direction, NetworkPayment, NetworkState, Networks, digest, store};
use crate::payments::{Order, Payments};
use crate::{Conflict, PlatformError, Result};
use money::Money;

/// The longest code a network may ask about (Alipay+'s `codeValue` bound).
pub const CODE_CHARS_MAX: usize = 8192;

/// What a Qianbao code is, as a partner network is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    pub mchid: String,
    pub merchant_name: String,
    pub country: String,
    pub mcc: String,
    /// Fixed by an order's code; `None`: the payer enters it (a static code).
    pub amount: Option<Money>,
    pub currency: money::Currency,
    pub description: String,
}

/// A network's pay call.
pub struct InboundPay<'a> {
    pub request_id: &'a str,
    pub code: &'a str,
    pub amount: Money,
    /// The network's id of its customer (for the payer's pseudonym at the merchant).
    pub customer: &'a str,
}

fn check_code(code: &str) -> Result<()> {
    if code.is_empty() || code.chars().count() > CODE_CHARS_MAX {
        return Err(PlatformError::invalid("codeValue", format!("1 to {CODE_CHARS_MAX} characters")));
    }
    Ok(())
}

impl Networks {
    /// What a code is, for `network`'s wallet; `None` when it is no Qianbao merchant's code.
    pub async fn identify_for(&self, network: &str, code: &str) -> Result<Option<Identification>> {
        self.connector(network)?;
        check_code(code)?;
        let Some(code_url) = self.payments.qianbao_code(code) else { return Ok(None) };
        let name = |m: &crate::merchants::MerchantAuth| m.merchant.name.clone();
        // A code that is not (or no longer) a Qianbao code is unsupported; anything else is an error.
        let unsupported = |e: &PlatformError| matches!(e, PlatformError::Invalid { .. } | PlatformError::NotFound(_));
        if Payments::is_static_code(&code_url) {
            let (merchant, description) = match self.payments.static_code(&code_url).await {
                Ok(found) => found,
                Err(e) if unsupported(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            let m = &merchant.merchant;
            return Ok(Some(Identification {
                mchid: m.mchid.clone(),
                merchant_name: name(&merchant),
                country: m.country.clone(),
                mcc: m.mcc.clone(),
                amount: None,
                currency: m.settlement_currency,
                description,
            }));
        }
        let order = match self.order_of(&code_url).await {
            Ok(order) => order,
            Err(e) if unsupported(&e) => return Ok(None),
            Err(e) => return Err(e), // a closed order says so; a database failure too
        };
        let merchant = self.payments.merchants().by_id(order.merchant_id).await?;
        Ok(Some(Identification {
            mchid: order.mchid.clone(),
            merchant_name: name(&merchant),
            country: merchant.merchant.country.clone(),
            mcc: merchant.merchant.mcc.clone(),
            amount: Some(Money::from_minor(order.total_minor, order.currency)?),
            currency: order.currency,
            description: order.description.clone(),
        }))
    }

    async fn order_of(&self, code_url: &str) -> Result<Order> {
        let order = self.payments.order(self.payments.order_of_code_url(code_url)?).await?;
        if !order.trade_state.open() {
            return Err(PlatformError::conflict(Conflict::OrderClosed, "this order is no longer open"));
        }
        Ok(order)
    }

    /// `network`'s wallet pays a Qianbao code.
    pub async fn pay_in(&self, network: &str, pay: InboundPay<'_>) -> Result<NetworkPayment> {
        let connector = self.connector(network)?;
        check_code(pay.code)?;
        if pay.request_id.is_empty() || pay.request_id.len() > 64 || !pay.request_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PlatformError::invalid("paymentRequestId", "1 to 64 printable ASCII characters"));
        }
        if !pay.amount.is_positive() {
            return Err(PlatformError::invalid("paymentAmount", "a positive amount"));
        }
        let (n, r) = (network.to_string(), pay.request_id.to_string());
        if let Some(existing) = self.core.read(move |c| store::by_request(c, &n, Direction::In, &r)).await? {
            return same_payment(existing, &pay);
        }
        let code_url =
            self.payments.qianbao_code(pay.code).ok_or_else(|| PlatformError::invalid("codeValue", "not a Qianbao merchant's code"))?;
        let order = if Payments::is_static_code(&code_url) {
            let (merchant, _) = self.payments.static_code(&code_url).await?;
            if pay.amount.currency() != merchant.merchant.settlement_currency {
                return Err(PlatformError::invalid(
                    "paymentAmount",
                    format!("this code is paid in {}", merchant.merchant.settlement_currency),
                ));
            }
            let amount = pay.amount.to_decimal_string();
            self.payments.static_code_order(&code_url, &amount, Some(pay.amount.currency().code())).await?
        } else {
            self.order_of(&code_url).await?
        };
        if Money::from_minor(order.total_minor, order.currency)? != pay.amount {
            return Err(PlatformError::invalid("paymentAmount", "not the order's amount and currency"));
        }
        let now = self.core.now_ms();
        let id = crate::ids::object_id(now);
        let merchant_name = self.payments.merchants().name(order.merchant_id).await?;
        let row = NetworkPayment {
            id,
            network: network.to_string(),
            direction: Direction::In,
            request_id: pay.request_id.to_string(),
            code_digest: digest(pay.code),
            state: NetworkState::Succeeded,
            person: None,
            order: Some(order.id.get()),
            merchant_name,
            amount: pay.amount,
            payer_amount: pay.amount,
            cross_border: false,
            network_reference: Some(order.transaction_id.clone()),
            failure: None,
            created_at_ms: now,
            expires_at_ms: now,
            finished_at_ms: Some(now),
        };
        let config = connector.config().clone();
        match self.payments.pay_by_network(order, &config, pay.customer, id, store::insert(&row)).await {
            Ok(Some(_)) => return Ok(row),
            // The same call raced in (its row, or its payment of this very order, came first): below.
            Ok(None) | Err(PlatformError::Conflict { code: Conflict::OrderPaid, .. }) => {}
            Err(e) => return Err(e),
        }
        let (n, r) = (network.to_string(), pay.request_id.to_string());
        match self.core.read(move |c| store::by_request(c, &n, Direction::In, &r)).await? {
            Some(existing) => same_payment(existing, &pay),
            None => Err(PlatformError::conflict(Conflict::OrderPaid, "this order is already paid")),
        }
    }

    /// A network's inquiry about one of its pay calls.
    pub async fn inbound_payment(&self, network: &str, request_id: &str) -> Result<NetworkPayment> {
        let (n, r) = (network.to_string(), request_id.to_string());
        self.core.read(move |c| store::by_request(c, &n, Direction::In, &r)).await?.ok_or(PlatformError::NotFound("payment"))
    }
}

/// A repeated pay call: the same code and amount answer the first payment.
fn same_payment(existing: NetworkPayment, pay: &InboundPay<'_>) -> Result<NetworkPayment> {
    if existing.code_digest != digest(pay.code) || existing.amount != pay.amount {
        return Err(PlatformError::conflict(Conflict::NetworkRequestReused, "this paymentRequestId paid another code or amount"));
    }
    Ok(existing)
}
