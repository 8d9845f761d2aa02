//! Paying an order in another currency than its own: which of the payer's balances pays, at which price
//! (a quote the wallet showed, or the rate now), and the chain through the FX positions: the payer's
//! money into the FX position of the payer's currency, the FX position of the order's currency to the
//! merchant. Also whether the payment crosses a border (the payer's region is not the merchant's
//! country), which brings the cross-border caps and the regulator's record.

use super::{Exchange, Order, PayOrder, Payments};
use crate::fx::{self, Channel, Execution, ExecutionKind, Price, pricing};
use crate::{PersonId, PlatformError, Result, chart};
use ledger::{NewTransfer, TransferFlags};
use money::{Currency, Money, Rate};

/// How a payment will be paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentPlan {
    /// What the payer pays, in the currency of the balance (or card) that pays.
    pub pay: Money,
    /// When that is another currency than the order's: the price.
    pub price: Option<Price>,
    /// The quote that locks the price (given by the payer, or made by a preview), and until when.
    pub quote: Option<(i64, i64)>,
    /// The payer's region is not the merchant's country.
    pub cross_border: bool,
    pub payer_region: String,
}

impl PaymentPlan {
    /// The payer's side as the order records it once paid.
    pub(super) fn exchange(&self) -> Option<Exchange> {
        self.price.as_ref().map(|p| Exchange {
            currency: self.pay.currency(),
            total_minor: self.pay.minor(),
            refunded_minor: 0,
            rate: p.rate,
        })
    }
}

/// A purpose code for the regulator's report, from the merchant's category (ISO 18245).
fn purpose_code(mcc: &str) -> &'static str {
    match mcc.parse::<u16>().unwrap_or(0) {
        3000..=3999 | 4111..=4131 | 4411 | 4511 | 4722 | 7011 | 7512 => "TRAVEL",
        5000..=5999 => "GOODS",
        _ => "SERVICES",
    }
}

/// What a payer pays in their currency may be at most what one payment may be.
fn check_payable(pay: Money) -> Result<()> {
    if pay.minor() > super::ORDER_TOTAL_MAX {
        return Err(PlatformError::invalid(
            "amount",
            format!("{} {} is more than one payment may be", pay.to_decimal_string(), pay.currency()),
        ));
    }
    Ok(())
}

impl Payments {
    /// Which currency pays: the balance the payer chose, else their region's home currency.
    async fn pay_currency(&self, person: PersonId, chosen: Option<&str>) -> Result<(Currency, String)> {
        let region = self.people.person(person).await?.region;
        let currency = match chosen {
            Some(code) => {
                crate::wallet::parse_currency(code).map_err(|_| PlatformError::invalid("balance_currency", "an ISO 4217 code"))?
            }
            None => self
                .core
                .config
                .region(&region)
                .map(|r| r.home_currency)
                .ok_or_else(|| PlatformError::Internal(format!("no region {region}")))?,
        };
        self.wallet.require_currency(person, currency).await?;
        Ok((currency, region))
    }

    /// How `person` would pay `order`: from which balance, how much, at which price.
    pub async fn plan(&self, person: PersonId, order: &Order, how: &PayOrder<'_>) -> Result<PaymentPlan> {
        self.plan_for(person, &order.mchid, Money::from_minor(order.total_minor, order.currency)?, how).await
    }

    /// How `person` would pay `total` to merchant `mchid`.
    async fn plan_for(&self, person: PersonId, mchid: &str, total: Money, how: &PayOrder<'_>) -> Result<PaymentPlan> {
        let country = self.merchants.merchant(mchid).await?.merchant.country.clone();
        self.plan_in(person, &country, total, how).await
    }

    /// How `person` would pay `total` to a merchant in `country` (a partner network's, too).
    pub(crate) async fn plan_in(&self, person: PersonId, country: &str, total: Money, how: &PayOrder<'_>) -> Result<PaymentPlan> {
        let (currency, payer_region) = self.pay_currency(person, how.balance_currency).await?;
        let cross_border = country != payer_region;
        if currency == total.currency() {
            return Ok(PaymentPlan { pay: total, price: None, quote: None, cross_border, payer_region });
        }
        let channel = if how.card.is_some() { Channel::CardPayment } else { Channel::Payment };
        if let Some(id) = how.quote {
            let q = self.fx.usable_quote(person, id, channel).await?;
            if q.buy != total || q.sell.currency() != currency {
                return Err(PlatformError::invalid(
                    "quote_id",
                    format!("this quote is for {} {}, not this order", q.buy.to_decimal_string(), q.buy.currency()),
                ));
            }
            check_payable(q.sell)?;
            let price = Price { rate: q.rate, mid: q.mid, mid_source: q.mid_source, markup_bps: q.markup_bps };
            return Ok(PaymentPlan { pay: q.sell, price: Some(price), quote: Some((q.id, q.expires_at_ms)), cross_border, payer_region });
        }
        let price = self.fx.price(total.currency(), currency, channel).await?;
        let pay = pricing::cost_of(&price.rate, total).map_err(|_| PlatformError::invalid("amount", "too large once converted"))?;
        check_payable(pay)?;
        Ok(PaymentPlan { pay, price: Some(price), quote: None, cross_border, payer_region })
    }

    /// What the wallet shows before the PIN: the plan, its price locked in a quote the payment may name.
    pub async fn preview_plan(&self, person: PersonId, order: &Order, how: &PayOrder<'_>) -> Result<PaymentPlan> {
        self.preview_plan_for(person, &order.mchid, Money::from_minor(order.total_minor, order.currency)?, how).await
    }

    async fn preview_plan_for(&self, person: PersonId, mchid: &str, total: Money, how: &PayOrder<'_>) -> Result<PaymentPlan> {
        let country = self.merchants.merchant(mchid).await?.merchant.country.clone();
        self.preview_plan_in(person, &country, total, how).await
    }

    /// The preview of paying `total` to a merchant in `country`, its price locked in a quote.
    pub async fn preview_plan_in(&self, person: PersonId, country: &str, total: Money, how: &PayOrder<'_>) -> Result<PaymentPlan> {
        let mut plan = self.plan_in(person, country, total, how).await?;
        if let (Some(price), None) = (&plan.price, plan.quote) {
            let channel = if how.card.is_some() { Channel::CardPayment } else { Channel::Payment };
            let q = self.fx.lock(person, channel, plan.pay, total, price, pricing::PAYMENT_ROUNDING).await?;
            plan.quote = Some((q.id, q.expires_at_ms));
        }
        Ok(plan)
    }

    /// The exchange's record, for the regulator's report (also kept for a cross-border payment in one
    /// currency, at rate 1).
    pub(super) async fn execution(&self, id: i64, person: PersonId, order: &Order, plan: &PaymentPlan, now_ms: i64) -> Result<Execution> {
        let merchant = self.merchants.merchant(&order.mchid).await?;
        let total = Money::from_minor(order.total_minor, order.currency)?;
        let payee = Payee { order: Some(order.id.get()), country: &merchant.merchant.country, mcc: &merchant.merchant.mcc };
        payment_execution(id, person, total, plan, payee, now_ms)
    }
}

/// Who a payment paid, as the regulator's record names them.
pub(crate) struct Payee<'a> {
    pub order: Option<i64>,
    pub country: &'a str,
    pub mcc: &'a str,
}

/// The record of a payment's exchange (`total` bought for `plan.pay`): at the plan's price, or at
/// rate 1 for a cross-border payment in one currency.
pub(crate) fn payment_execution(
    id: i64,
    person: PersonId,
    total: Money,
    plan: &PaymentPlan,
    payee: Payee<'_>,
    now_ms: i64,
) -> Result<Execution> {
    let internal = |e: money::MoneyError| PlatformError::Internal(e.to_string());
    let one = || Rate::new(total.currency(), total.currency(), 1, 0).map_err(internal);
    let (rate, mid, mid_source, markup_bps, spread_minor) = match &plan.price {
        Some(p) => (p.rate, p.mid, p.mid_source.clone(), p.markup_bps, pricing::spread_minor(&p.mid, total, plan.pay).map_err(internal)?),
        None => (one()?, one()?, "same currency".to_string(), 0, 0),
    };
    Ok(Execution {
        id,
        kind: ExecutionKind::Payment,
        person,
        order: payee.order,
        quote: plan.quote.map(|(q, _)| q),
        sell: plan.pay,
        buy: total,
        rate,
        mid,
        mid_source,
        markup_bps,
        rounding: pricing::PAYMENT_ROUNDING,
        spread_minor,
        cross_border: plan.cross_border,
        payer_region: plan.payer_region.clone(),
        merchant_country: Some(payee.country.to_string()),
        mcc: Some(payee.mcc.to_string()),
        purpose_code: Some(purpose_code(payee.mcc).to_string()),
        created_at_ms: now_ms,
    })
}

/// The two legs of a payment in another currency, ids of this attempt: the payer's wallet into the FX
/// position of the payer's currency (the chain's payment, behind its limits), and the FX position of
/// the order's currency to the merchant (after it).
pub(super) fn exchanged_payment(order: &Order, person: PersonId, attempt: i64, pay: Money) -> Result<(NewTransfer, NewTransfer)> {
    assert!(order.total_minor > 0 && pay.is_positive(), "both sides of a payment are positive");
    let position = |c| chart::system_account(chart::account::FX_POSITION, c);
    let leg = |code, debit, credit, amount: Money| -> Result<NewTransfer> {
        Ok(NewTransfer {
            id: chart::derived(attempt, code, 0),
            debit_account_id: debit,
            credit_account_id: credit,
            amount: chart::ledger_amount(amount.minor(), amount.currency())?,
            pending_id: 0,
            currency: Some(amount.currency()),
            code,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: order.id.get() as u128,
        })
    };
    let total = Money::from_minor(order.total_minor, order.currency)?;
    Ok((
        leg(chart::transfer::ORDER_PAY_FX_IN, chart::wallet(person, pay.currency()), position(pay.currency()), pay)?,
        leg(
            chart::transfer::ORDER_PAY_FX_OUT,
            position(order.currency),
            chart::merchant_receivable(order.merchant_id, order.currency),
            total,
        )?,
    ))
}

/// The guard that uses a payment's quote.
pub(super) fn quote_guard(plan: &PaymentPlan, person: PersonId, order: &Order, now_ms: i64) -> Option<::store::Effect> {
    plan.quote.map(|(q, _)| fx::use_quote(q, person, order.id.get(), now_ms))
}

impl Payments {
    /// The preview of paying `amount` at a static code (no order is made): the merchant, the code's
    /// description and the plan, its price locked in a quote the payment may name.
    pub async fn preview_static_code(
        &self,
        person: PersonId,
        code_url: &str,
        amount: &str,
        currency: &str,
        how: &PayOrder<'_>,
    ) -> Result<(std::sync::Arc<crate::merchants::MerchantAuth>, String, PaymentPlan)> {
        let (merchant, description) = self.static_code(code_url).await?;
        let currency = crate::wallet::parse_currency(currency)?;
        if currency != merchant.merchant.settlement_currency {
            return Err(PlatformError::invalid("currency", format!("this merchant is paid in {}", merchant.merchant.settlement_currency)));
        }
        let total = crate::wallet::parse_amount("amount", amount, currency)?;
        let plan = self.preview_plan_for(person, &merchant.merchant.mchid, total, how).await?;
        Ok((merchant, description, plan))
    }
}
