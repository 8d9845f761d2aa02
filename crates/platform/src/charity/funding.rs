//! How a gift is paid, as payments plan a merchant's order: from the balance in the campaign's currency,
//! or from another of the donor's balances through the FX positions (at the rate now or a quote's),
//! or straight from a linked card (charged first, its charge the chain's first link); always behind the
//! donor's limits, and the cross-border caps when the charity is abroad.

use super::{Charities, Donation};
use crate::payments::{PayOrder, PaymentPlan};
use crate::people::{Direction, LimitedPayment};
use crate::wallet::{CardCharge, ChargeFor};
use crate::{PlatformError, Result, chart};
use ledger::{NewTransfer, TransferFlags};
use money::{Currency, Money};

/// The merchant category of charities (ISO 18245 8398, charitable and social service organisations),
/// as the regulator's record of a cross-border gift names it.
pub(super) const CHARITY_MCC: &str = "8398";

/// Who allows a gift: the donor with their PIN now, or their standing mandate (a monthly donation's
/// scheduled charge, allowed with the PIN when they set it up).
#[derive(Debug, Clone, Copy)]
pub(super) enum Authority<'a> {
    Pin(Option<&'a str>),
    Mandate,
}

impl<'a> Authority<'a> {
    pub fn pin(self) -> Option<&'a str> {
        match self {
            Authority::Pin(pin) => pin,
            Authority::Mandate => None,
        }
    }
}

impl Charities {
    /// Which balance pays a gift and how much: `how.balance_currency` (else the donor's home currency),
    /// converted when it is not the campaign's.
    pub(super) async fn plan_gift(&self, d: &Donation, country: &str, how: &PayOrder<'_>) -> Result<PaymentPlan> {
        let total = Money::from_minor(d.amount_minor, d.currency).map_err(|e| PlatformError::Internal(e.to_string()))?;
        self.payments.plan_in(d.donor, country, total, how).await
    }

    /// The gift's legs behind the donor's limits: their wallet to the charity, or through the FX
    /// positions when the plan pays in another currency.
    pub(super) async fn gift_chain(&self, d: &Donation, plan: &PaymentPlan) -> Result<LimitedPayment> {
        let directions: &[Direction] = if plan.cross_border { &[Direction::Out, Direction::CrossBorder] } else { &[Direction::Out] };
        let (currency, amount) = (plan.pay.currency(), plan.pay.minor());
        let receivable = chart::merchant_receivable(d.charity, d.currency);
        let donor = chart::wallet(d.donor, currency);
        match plan.price {
            None => {
                let gift = leg(d, chart::transfer::DONATION, donor, receivable, d.currency, d.amount_minor)?;
                self.people.limited_by(d.donor, directions, currency, amount, None, gift).await
            }
            Some(_) => {
                let into = leg(d, chart::transfer::DONATION_FX_IN, donor, position(currency), currency, amount)?;
                let out = leg(d, chart::transfer::DONATION_FX_OUT, position(d.currency), receivable, d.currency, d.amount_minor)?;
                Ok(self.people.limited_by(d.donor, directions, currency, amount, None, into).await?.then(out))
            }
        }
    }

    /// Charge the donor's card for a gift (its operation's id is the donation's, so a retried gift finds
    /// its charge); the PIN rules apply unless the donor's mandate allows it.
    pub(super) async fn charge_card(&self, d: &Donation, plan: &PaymentPlan, card: i64, by: Authority<'_>) -> Result<CardCharge> {
        let charge = ChargeFor {
            person: d.donor,
            card,
            currency: plan.pay.currency(),
            amount_minor: plan.pay.minor(),
            pin: by.pin(),
            op: d.id,
            funding_kind: chart::transfer::DONATION_CARD_FUND,
            mandated: matches!(by, Authority::Mandate),
        };
        self.wallet.charge_for_payment(charge).await
    }
}

/// The FX position of one currency.
pub(super) fn position(currency: Currency) -> u128 {
    chart::system_account(chart::account::FX_POSITION, currency)
}

/// A donation's leg `kind` from `debit` to `credit` in `currency` (its id derived from the donation).
pub(super) fn leg(d: &Donation, kind: u16, debit: u128, credit: u128, currency: Currency, minor: i64) -> Result<NewTransfer> {
    assert!(minor > 0, "a donation's legs move money");
    Ok(NewTransfer {
        id: chart::derived(d.id, kind, 0),
        debit_account_id: debit,
        credit_account_id: credit,
        amount: chart::ledger_amount(minor, currency)?,
        pending_id: 0,
        currency: Some(currency),
        code: kind,
        flags: TransferFlags::empty(),
        timeout_s: 0,
        user_data: d.campaign_id as u128,
    })
}
