//! A person pays an order: found from what the wallet scanned or was handed (checked as the wallet must:
//! a JSAPI or App order only with the merchant's valid signature), then one committer request moves the
//! order to paid, moves the money (behind the payer's limits, from the balance or a card) and queues the
//! notification.

use super::exchange::{exchanged_payment, quote_guard};
use super::{Exchange, Funding, Order, PaymentPlan, Payments, TradeState, TradeType, fee_of, store};
use crate::core::{Commit, Committed};
use crate::outbox::Event;
use crate::people::Direction;
use crate::wallet::{CardCharge, ChargeFor};
use crate::{Conflict, OrderId, PersonId, PlatformError, Result, chart};
use ledger::{NewTransfer, TransferFlags};

/// What the wallet scanned or was handed: a Native `code_url`, or a `prepay_id` (JSAPI and App orders
/// come with the client-side signature the merchant made, which the wallet checks; H5 orders without).
#[derive(Debug, Clone, Copy)]
pub enum OrderReference<'a> {
    CodeUrl(&'a str),
    /// A merchant's static QR code and the amount the person entered (major units of `currency`).
    StaticCode {
        code_url: &'a str,
        amount: &'a str,
        /// The merchant's own currency when absent.
        currency: Option<&'a str>,
    },
    /// A payment-code order waiting for the person's PIN (from `orders_awaiting_pin`).
    AwaitingPin(OrderId),
    Prepay {
        prepay_id: &'a str,
        signature: Option<ClientSignature<'a>>,
    },
}

/// `wx.requestPayment` / the App SDK's parameters: the merchant signs `appId\ntimeStamp\nnonceStr\n
/// package\n` (JSAPI: package `prepay_id=...`) or `appId\ntimeStamp\nnonceStr\nprepayid\n` (App).
#[derive(Debug, Clone, Copy)]
pub struct ClientSignature<'a> {
    pub app_id: &'a str,
    pub time_stamp: &'a str,
    pub nonce_str: &'a str,
    pub package: &'a str,
    pub pay_sign: &'a str,
}

/// How a person pays an order.
#[derive(Debug, Clone, Copy)]
pub struct PayOrder<'a> {
    pub pin: Option<&'a str>,
    /// Pay straight from this linked card instead of the balance.
    pub card: Option<i64>,
    /// Pay from this balance (or charge the card in this currency); by default the region's home
    /// currency, converting when the order is priced in another.
    pub balance_currency: Option<&'a str>,
    /// The quote (from a preview or `POST /fx/quotes`) whose price to pay at.
    pub quote: Option<i64>,
}

impl Payments {
    /// The order a wallet was shown, checked as the wallet must, for `person` (a payment-code order only
    /// for the person whose code it was).
    pub async fn resolve_order(&self, person: PersonId, reference: OrderReference<'_>) -> Result<Order> {
        let (id, signature) = match reference {
            OrderReference::CodeUrl(url) => (self.order_of_code_url(url)?, None),
            OrderReference::StaticCode { code_url, amount, currency } => {
                (self.static_code_order(code_url, amount, currency).await?.id, None)
            }
            OrderReference::AwaitingPin(id) => {
                if self.core.read(move |c| store::code_owner(c, id)).await? != Some(person) {
                    return Err(PlatformError::NotFound("order"));
                }
                (id, None)
            }
            OrderReference::Prepay { prepay_id, signature } => (self.order_of_prepay_id(prepay_id)?, signature.map(|s| (prepay_id, s))),
        };
        let order = self.order(id).await.map_err(|_| PlatformError::invalid("prepay_id", "no such order"))?;
        match (order.trade_type, signature) {
            (TradeType::Native, _) if matches!(reference, OrderReference::CodeUrl(_) | OrderReference::StaticCode { .. }) => Ok(order),
            (TradeType::H5, None) => Ok(order),
            (TradeType::Micropay, None) if matches!(reference, OrderReference::AwaitingPin(_)) => Ok(order),
            (TradeType::Jsapi | TradeType::App, Some((prepay_id, s))) => {
                self.check_client_signature(&order, prepay_id, &s).await?;
                Ok(order)
            }
            (TradeType::Jsapi | TradeType::App, None) => {
                Err(PlatformError::invalid("pay_sign", "this order is paid with the merchant's signed parameters"))
            }
            _ => Err(PlatformError::invalid("prepay_id", "this kind of order is not paid this way")),
        }
    }

    async fn check_client_signature(&self, order: &Order, prepay_id: &str, s: &ClientSignature<'_>) -> Result<()> {
        let message = match order.trade_type {
            TradeType::Jsapi => {
                if s.package != format!("prepay_id={prepay_id}") {
                    return Err(PlatformError::invalid("package", "prepay_id=<the prepay_id>"));
                }
                format!("{}\n{}\n{}\n{}\n", s.app_id, s.time_stamp, s.nonce_str, s.package)
            }
            _ => format!("{}\n{}\n{}\n{}\n", s.app_id, s.time_stamp, s.nonce_str, prepay_id),
        };
        if s.app_id != order.appid {
            return Err(PlatformError::invalid("app_id", "not the order's app id"));
        }
        let signature = wxpay::base64::decode(s.pay_sign).ok_or_else(|| PlatformError::invalid("pay_sign", "not base64"))?;
        let merchant = self.merchants.merchant(&order.mchid).await?;
        if !merchant.keys.iter().any(|(_, key)| key.verify(message.as_bytes(), &signature).is_ok()) {
            return Err(PlatformError::invalid("pay_sign", "the merchant's signature does not verify"));
        }
        Ok(())
    }

    /// A person pays an order from their balance (or a linked card), with the PIN rules of every payment,
    /// in the order's currency or another (at a quote's price, or the rate now). `order` as just read
    /// (by `resolve_order`); a stale state is caught by the payment's guard. The same key is the same
    /// payment attempt, however late it is retried.
    ///
    /// Validate → plan (currency, price) → build the chain (limits, then the card charge) → the order's
    /// guard, the quote's, the notification and the exchange's record → one commit → answer.
    pub async fn pay_order(&self, person: PersonId, order: Order, how: PayOrder<'_>, key: Option<&str>) -> Result<Order> {
        if let Some(done) = self.check_payable(person, &order)? {
            return Ok(done);
        }
        let frozen = crate::risk::FreezeKind::Merchant;
        crate::risk::freezes::refuse_if_frozen(&self.core, frozen, order.mchid.clone(), crate::risk::Flow::Out).await?;
        let payer = self.payer(person, &order).await?;
        let plan = self.plan(person, &order, &how).await?;
        // A failed attempt must not burn the order: each attempt has ledger ids of its own.
        let attempt = self.core.request_id("order-pay", person, key);
        let judged = crate::risk::Attempt {
            merchant: Some(order.merchant_id.get()),
            card: how.card,
            cross_border: plan.cross_border,
            ..crate::risk::Attempt::of(crate::risk::engine::Kind::Payment, person, plan.pay.currency().numeric(), plan.pay.minor())
        };
        self.people.assess(&judged, how.pin).await?;
        if how.card.is_none() {
            self.people.authorize_payment(person, plan.pay.minor(), how.pin).await?;
        }
        // The limits are checked before a card is charged (its charge checks the PIN).
        let chain = self.payment_chain(person, &order, &plan, attempt).await?;
        let charge = match how.card {
            None => None,
            Some(card) => Some(self.wallet.charge_for_payment(charge_for(&plan, person, card, how.pin, attempt)).await?),
        };
        let now = self.core.now_ms();
        let fee_minor = fee_of(order.total_minor, self.merchants.merchant(&order.mchid).await?.merchant.fee_bps);
        let paid = paid(&order, &payer, charge.as_ref(), fee_minor, now, plan.exchange());
        let mut guards = vec![store::mark_paid(&store::Paid {
            order: order.id,
            payer: Some(person),
            openid: &payer.openid,
            sub_openid: payer.sub_openid.as_deref(),
            funding: paid.funding.unwrap_or(Funding::Balance),
            card: charge.as_ref().map(|c| (c.op, c.reference.as_str())),
            bank_type: paid.bank_type.as_deref().unwrap_or("OTHERS"),
            fee_minor,
            now_ms: now,
            exchange: paid.exchange.as_ref(),
        })];
        guards.extend(quote_guard(&plan, person, &order, now));
        let cap = self.merchants.cap_guard(order.merchant_id, order.currency, order.total_minor).await?;
        let cap_guard = cap.map(|g| {
            guards.push(g);
            guards.len() - 1
        });
        let chain = match &charge {
            Some(c) => {
                guards.push(c.guard(now));
                chain.funded_by(c.funding)
            }
            None => chain,
        };
        let mut effects = self.success_notification(&paid, now);
        if plan.price.is_some() || plan.cross_border {
            effects.push(crate::fx::insert_execution(&self.execution(attempt, person, &order, &plan, now).await?));
        }
        let outcome = match self.core.commit(Commit { guards, transfers: chain.chain.clone(), effects }).await {
            Ok(Committed::Applied(results)) => chain.outcome(&results).map(|_| ()),
            Ok(Committed::GuardFailed(0)) => Err(self.why_not_payable(order.id, person).await),
            Ok(Committed::GuardFailed(i)) if Some(i) == cap_guard => {
                Err(PlatformError::conflict(Conflict::MerchantCapReached, "this merchant has taken all it may today: try again tomorrow"))
            }
            Ok(Committed::GuardFailed(1)) if plan.quote.is_some() => Err(self.why_not_usable(person, &plan, &how).await),
            Ok(Committed::GuardFailed(_)) => {
                Err(PlatformError::Declined("the card charge was given back: pay again with a new request".into()))
            }
            Err(e) => Err(e),
        };
        if let (Err(_), Some(c)) = (&outcome, &charge) {
            self.wallet.give_back(c.op, &c.reference).await?;
        }
        if outcome.is_ok() {
            self.people.risk.record(&judged, false);
        }
        self.answer_payment(person, paid, outcome).await
    }

    /// The chain that moves the money: behind the payer's limits (and the cross-border caps when the
    /// payment crosses a border), in the order's currency or through the FX positions.
    async fn payment_chain(
        &self,
        person: PersonId,
        order: &Order,
        plan: &PaymentPlan,
        attempt: i64,
    ) -> Result<crate::people::LimitedPayment> {
        let directions: &[Direction] = if plan.cross_border { &[Direction::Out, Direction::CrossBorder] } else { &[Direction::Out] };
        let (currency, amount) = (plan.pay.currency(), plan.pay.minor());
        match plan.price {
            None => self.people.limited_by(person, directions, currency, amount, None, payment(order, person, attempt)?).await,
            Some(_) => {
                let (into_position, to_merchant) = exchanged_payment(order, person, attempt, plan.pay)?;
                Ok(self.people.limited_by(person, directions, currency, amount, None, into_position).await?.then(to_merchant))
            }
        }
    }

    /// Why a payment's quote could not be used (it expired or was used meanwhile).
    async fn why_not_usable(&self, person: PersonId, plan: &PaymentPlan, how: &PayOrder<'_>) -> PlatformError {
        let (id, _) = plan.quote.expect("a quote guard has its quote");
        let channel = if how.card.is_some() { crate::fx::Channel::CardPayment } else { crate::fx::Channel::Payment };
        match self.fx.usable_quote(person, id, channel).await {
            Err(e) => e,
            Ok(_) => PlatformError::conflict(Conflict::QuoteExpired, "the quote expired while it was being used: ask for a new one"),
        }
    }

    /// `Some(order)` when a retry finds the order already paid by this person; an error when it cannot be
    /// paid (paid by another, closed, expired).
    fn check_payable(&self, person: PersonId, order: &Order) -> Result<Option<Order>> {
        match order.trade_state {
            state if state.open() => {}
            _ if order.paid() && order.payer_id == Some(person) => return Ok(Some(order.clone())),
            _ if order.paid() => return Err(PlatformError::conflict(Conflict::OrderPaid, "this order is already paid")),
            _ => return Err(PlatformError::conflict(Conflict::OrderClosed, "this order is closed")),
        }
        if self.core.now_ms() >= order.expires_at_ms {
            return Err(PlatformError::conflict(Conflict::OrderClosed, "this order has expired"));
        }
        Ok(None)
    }

    /// Who pays, as the merchant knows them (their openids), checked against the order's required payer.
    /// (Which of their balances pays is the plan's to say.)
    async fn payer(&self, person: PersonId, order: &Order) -> Result<Payer> {
        let openid = self.merchants.openid(&order.appid, person);
        let sub_openid = order.sub_appid.as_deref().map(|a| self.merchants.openid(a, person));
        if let Some(required) = &order.payer_openid
            && *required != openid
            && Some(required) != sub_openid.as_ref()
        {
            return Err(PlatformError::Forbidden("this order is for another payer".into()));
        }
        Ok(Payer { person, openid, sub_openid })
    }

    /// The merchant's TRANSACTION.SUCCESS notification, if the order has a notify URL.
    pub(super) fn success_notification(&self, paid: &Order, now_ms: i64) -> Vec<::store::Effect> {
        if paid.notify_url.is_empty() {
            return Vec::new();
        }
        let event = Event::new("TRANSACTION.SUCCESS", "支付成功", "transaction", paid.id.get(), paid.transaction_json().to_string());
        vec![self.outbox.queue(&event, paid.notified_merchant(), &paid.notify_url, now_ms)]
    }

    async fn answer_payment(&self, person: PersonId, paid: Order, outcome: Result<()>) -> Result<Order> {
        match outcome {
            Ok(()) => {
                debug_assert!(paid.paid() && paid.payer_id == Some(person));
                self.core.outbox_wake.notify_one();
                Ok(paid)
            }
            // This very attempt committed before (a retry): the order is this person's.
            Err(PlatformError::Conflict { code: Conflict::OrderPaid, .. }) if self.order(paid.id).await?.payer_id == Some(person) => {
                self.order(paid.id).await
            }
            Err(e) => Err(e),
        }
    }

    async fn why_not_payable(&self, id: OrderId, person: PersonId) -> PlatformError {
        match self.order(id).await {
            Ok(now) if now.paid() && now.payer_id == Some(person) => {
                PlatformError::conflict(Conflict::OrderPaid, "this order is already paid")
            }
            Ok(now) if now.paid() => PlatformError::conflict(Conflict::OrderPaid, "this order is already paid"),
            Ok(_) => PlatformError::conflict(Conflict::OrderClosed, "this order is closed"),
            Err(e) => e,
        }
    }
}

/// The payer of an order, as the merchant knows them.
struct Payer {
    person: PersonId,
    openid: String,
    sub_openid: Option<String>,
}

/// The payment itself: the payer's wallet to the merchant's receivable, ids of this attempt.
fn payment(order: &Order, person: PersonId, attempt: i64) -> Result<NewTransfer> {
    assert!(order.total_minor > 0, "an order's total is positive (checked when it was created)");
    Ok(NewTransfer {
        id: chart::derived(attempt, chart::transfer::ORDER_PAY, 0),
        debit_account_id: chart::wallet(person, order.currency),
        credit_account_id: chart::merchant_receivable(order.merchant_id, order.currency),
        amount: chart::ledger_amount(order.total_minor, order.currency)?,
        pending_id: 0,
        currency: Some(order.currency),
        code: chart::transfer::ORDER_PAY,
        flags: TransferFlags::empty(),
        timeout_s: 0,
        user_data: order.id.get() as u128,
    })
}

fn charge_for<'a>(plan: &PaymentPlan, person: PersonId, card: i64, pin: Option<&'a str>, attempt: i64) -> ChargeFor<'a> {
    ChargeFor {
        person,
        card,
        currency: plan.pay.currency(),
        amount_minor: plan.pay.minor(),
        pin,
        op: attempt,
        funding_kind: chart::transfer::ORDER_CARD_FUND,
        mandated: false,
    }
}

/// The order as it is once this payment commits.
fn paid(order: &Order, payer: &Payer, charge: Option<&CardCharge>, fee_minor: i64, now_ms: i64, exchange: Option<Exchange>) -> Order {
    assert!((0..=order.total_minor).contains(&fee_minor), "a fee is within the order's total");
    Order {
        trade_state: TradeState::Success,
        payer_id: Some(payer.person),
        payer_openid_paid: Some(payer.openid.clone()),
        payer_sub_openid_paid: payer.sub_openid.clone(),
        bank_type: Some(if charge.is_some() { "CARD" } else { "OTHERS" }.into()),
        fee_minor,
        success_at_ms: Some(now_ms),
        funding: Some(if charge.is_some() { Funding::Card } else { Funding::Balance }),
        card_reference: charge.map(|c| c.reference.clone()),
        exchange,
        ..order.clone()
    }
}
