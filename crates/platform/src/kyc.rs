//! KYC tiers and payment limits.
//!
//! Tier 0: phone only. Tier 1: legal name and an identity document number whose checksum is valid
//! (mainland resident ID, Hong Kong ID). Tier 2: verified by an operator.
//!
//! Limits are enforced *in the ledger*, atomically with the payment. Each person has, per currency, a
//! limit account per day and per year, funded with the tier's limit from a limit source; every outgoing
//! payment is a linked chain [spend the daily limit, spend the yearly limit, the payment itself]. The
//! ledger orders concurrent payments, so two of them cannot both slip under a daily limit: the one that
//! would exceed it fails on its limit leg and nothing of its chain happens. A tier upgrade adds the
//! difference to the current periods. Limit units live in their own accounts (codes LIMIT, LIMIT_SOURCE,
//! LIMIT_SINK) and never mix with money.

use crate::{Platform, PlatformError, Result, ids};
use ledger::{AccountFlags, NewAccount, NewTransfer, TransferFlags};
use money::Currency;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Mutex;
use store::{Conditions, GuardFailed, params};

/// Limits of one tier, in major units of the currency they apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TierLimits {
    pub single_major: i64,
    pub daily_major: i64,
    pub yearly_major: i64,
}

/// Default limits per tier (0, 1, 2), the same figures in every currency unless the operator says otherwise.
pub fn default_limits() -> [TierLimits; 3] {
    [
        TierLimits { single_major: 500, daily_major: 1_000, yearly_major: 20_000 },
        TierLimits { single_major: 5_000, daily_major: 20_000, yearly_major: 200_000 },
        TierLimits { single_major: 50_000, daily_major: 200_000, yearly_major: 1_000_000 },
    ]
}

/// Which limit a payment ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitLeg {
    Daily,
    Yearly,
}

const DAY_MS: i64 = 86_400_000;

/// Account kinds for limits (see `ids::account` for money).
pub(crate) const LIMIT_DAILY: u16 = 0x10;
pub(crate) const LIMIT_YEARLY: u16 = 0x11;
pub(crate) const LIMIT_SOURCE: u16 = 0x12;
pub(crate) const LIMIT_SINK: u16 = 0x13;
/// Transfer kinds: funding a period to tier k is `FUND_* + k`; spending is `SPEND_*` under the payment.
const FUND_DAILY: u16 = 0x100;
const FUND_YEARLY: u16 = 0x200;
pub(crate) const SPEND_DAILY: u16 = 0x300;
pub(crate) const SPEND_YEARLY: u16 = 0x301;

/// Mainland resident identity card: 17 digits and an ISO 7064 MOD 11-2 check character (0-9 or X).
pub fn valid_cn_resident_id(number: &str) -> bool {
    let b = number.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    b[17].to_ascii_uppercase() == check
}

/// Hong Kong identity card: one or two letters, six digits, a check digit (0-9 or A), as `A123456(3)`
/// or `A1234563`.
pub fn valid_hk_id(number: &str) -> bool {
    let cleaned: String = number.chars().filter(|c| *c != '(' && *c != ')').collect::<String>().to_ascii_uppercase();
    let b = cleaned.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if !(1..=2).contains(&letters) || b.len() != letters + 7 || !b[letters..letters + 6].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let value = |c: u8| if c.is_ascii_digit() { u32::from(c - b'0') } else { u32::from(c - b'A') + 10 };
    let mut chars: Vec<u32> = if letters == 1 { vec![36] } else { vec![] };
    chars.extend(b[..letters + 6].iter().map(|c| value(*c)));
    let sum: u32 = chars.iter().zip((2..=9).rev()).map(|(v, w)| v * w).sum();
    let check = match b[letters + 6] {
        b'A' => 10,
        c if c.is_ascii_digit() => u32::from(c - b'0'),
        _ => return false,
    };
    (sum + check).is_multiple_of(11)
}

/// Remembers which limit periods this process has already opened and funded (saves ledger round trips).
#[derive(Default)]
pub(crate) struct OpenedPeriods(Mutex<HashSet<(i64, u16, u32, i64)>>);

impl Platform {
    pub(crate) fn tier_limits(&self, tier: i64) -> TierLimits {
        self.config.limits[tier.clamp(0, 2) as usize]
    }

    /// Tier 1: legal name and a checksum-valid identity document.
    pub async fn submit_kyc(&self, person: i64, legal_name: &str, document_type: &str, document_number: &str) -> Result<i64> {
        let legal_name = crate::people::parse_name("legal_name", legal_name, self.config.name_chars_max)?;
        let number = document_number.trim().to_ascii_uppercase();
        let valid = match document_type {
            "cn_resident_id" => valid_cn_resident_id(&number),
            "hk_id" => valid_hk_id(&number),
            "passport" => (6..=20).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_alphanumeric()),
            _ => return Err(PlatformError::invalid("document_type", "cn_resident_id, hk_id or passport")),
        };
        if !valid {
            return Err(PlatformError::invalid("document_number", "not a valid document number (check digit wrong)"));
        }
        let document = format!("{document_type}:{number}");
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "UPDATE people SET legal_name = $1, id_document = $2, kyc_tier = CASE WHEN kyc_tier < 1 THEN 1 ELSE kyc_tier END WHERE id = $3",
                    params![legal_name.as_str(), document.as_str(), person],
                )
            })?)
        })
        .await?;
        self.caches.people.forget(&person);
        Ok(self.person(person).await?.kyc_tier)
    }

    /// Tier 2: an operator has verified the person.
    pub async fn set_kyc_tier(&self, person: i64, tier: i64) -> Result<i64> {
        if !(0..=2).contains(&tier) {
            return Err(PlatformError::invalid("tier", "0, 1 or 2"));
        }
        self.person(person).await?;
        self.blocking(move |db| Ok(db.with(|c| c.execute("UPDATE people SET kyc_tier = $1 WHERE id = $2", params![tier, person]))?))
            .await?;
        self.caches.people.forget(&person);
        Ok(tier)
    }

    /// Day number (UTC) and year of a time.
    fn periods(&self, now_ms: i64) -> (u32, u32) {
        let day = (now_ms / DAY_MS) as u32;
        let (year, _) = crate::wallets::civil_year_month(now_ms);
        (day, year as u32)
    }

    fn limit_account(person: i64, kind: u16, period: u32, currency: Currency) -> u128 {
        ids::derived(person, kind, period * 1000 + u32::from(currency.numeric()))
    }

    /// Make sure today's and this year's limit accounts exist and are funded up to `tier`.
    async fn open_periods(&self, person: i64, tier: i64, currency: Currency, day: u32, year: u32) -> Result<()> {
        let key = (person, currency.numeric(), day, tier);
        if self.opened.0.lock().expect("periods lock").contains(&key) {
            return Ok(());
        }
        let source = ids::system_account(LIMIT_SOURCE, currency.numeric());
        let daily = Self::limit_account(person, LIMIT_DAILY, day, currency);
        let yearly = Self::limit_account(person, LIMIT_YEARLY, year, currency);
        let limit_account = |id| NewAccount {
            id,
            currency,
            code: LIMIT_DAILY,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            user_data: person as u128,
        };
        self.create_accounts(vec![limit_account(daily), NewAccount { code: LIMIT_YEARLY, ..limit_account(yearly) }]).await?;
        let scale = 10i64.pow(u32::from(currency.minor_units().unwrap_or(0)));
        let mut funding = Vec::new();
        for k in 0..=tier {
            let (now, before) = (
                self.tier_limits(k),
                if k == 0 { TierLimits { single_major: 0, daily_major: 0, yearly_major: 0 } } else { self.tier_limits(k - 1) },
            );
            for (account, kind, period, delta) in [
                (daily, FUND_DAILY, day, now.daily_major - before.daily_major),
                (yearly, FUND_YEARLY, year, now.yearly_major - before.yearly_major),
            ] {
                if delta > 0 {
                    funding.push(NewTransfer {
                        id: ids::derived(person, kind + k as u16, period * 1000 + u32::from(currency.numeric())),
                        debit_account_id: source,
                        credit_account_id: account,
                        amount: (delta * scale) as u64,
                        pending_id: 0,
                        currency: Some(currency),
                        code: kind,
                        flags: TransferFlags::empty(),
                        timeout_s: 0,
                        user_data: person as u128,
                    });
                }
            }
        }
        let results = self.ledger.create_transfers(funding).await?;
        if let Some(e) = results.iter().find_map(|r| r.err()) {
            return Err(PlatformError::Internal(format!("funding limits: {}", e.code())));
        }
        self.opened.0.lock().expect("periods lock").insert(key);
        Ok(())
    }

    /// The legs that spend `amount` of the payer's daily and yearly limits, to be linked in front of the
    /// payment `payment_id` (same currency). Checks the single-payment limit first.
    /// For a payment that is itself pending (a transfer to a friend), the legs are pending with the same
    /// timeout: accepting posts them, declining voids them, and expiry returns the limit with the money.
    pub(crate) async fn limit_legs(
        &self,
        payer: i64,
        currency: Currency,
        amount_minor: i64,
        payment_id: u128,
        pending_timeout_s: Option<u32>,
    ) -> Result<Vec<NewTransfer>> {
        let tier = self.person(payer).await?.kyc_tier;
        let limits = self.tier_limits(tier);
        let scale = 10i64.pow(u32::from(currency.minor_units().unwrap_or(0)));
        if amount_minor > limits.single_major * scale {
            return Err(PlatformError::conflict(
                "LIMIT_SINGLE",
                format!("above the single-payment limit of {} {currency} for KYC tier {tier}", limits.single_major),
            ));
        }
        let (day, year) = self.periods(self.now_ms());
        self.open_periods(payer, tier, currency, day, year).await?;
        let sink = ids::system_account(LIMIT_SINK, currency.numeric());
        let leg = |account, kind: u16| NewTransfer {
            // Derived from the payment, so a retried payment re-sends the same legs.
            id: leg_ids(payment_id)[usize::from(kind == SPEND_YEARLY)],
            debit_account_id: account,
            credit_account_id: sink,
            amount: amount_minor as u64,
            pending_id: 0,
            currency: Some(currency),
            code: kind,
            flags: TransferFlags::LINKED.union(if pending_timeout_s.is_some() { TransferFlags::PENDING } else { TransferFlags::empty() }),
            timeout_s: pending_timeout_s.unwrap_or(0),
            user_data: payer as u128,
        };
        Ok(vec![
            leg(Self::limit_account(payer, LIMIT_DAILY, day, currency), SPEND_DAILY),
            leg(Self::limit_account(payer, LIMIT_YEARLY, year, currency), SPEND_YEARLY),
        ])
    }

    /// Submit a payment behind its limit legs as one linked chain; a failed leg names the limit.
    pub(crate) async fn pay_within_limits(&self, payer: i64, currency: Currency, amount_minor: i64, payment: NewTransfer) -> Result<()> {
        self.pay_within_limits_funded(payer, currency, amount_minor, None, payment).await
    }

    /// The same, with a leg in front that brings the money in first (a card paying for the payment):
    /// funding, limits and payment succeed or fail as one.
    pub(crate) async fn pay_within_limits_funded(
        &self,
        payer: i64,
        currency: Currency,
        amount_minor: i64,
        funding: Option<NewTransfer>,
        payment: NewTransfer,
    ) -> Result<()> {
        let outcome = self.pay_within_limits_conditions(payer, currency, amount_minor, funding, payment, Conditions::default()).await?;
        outcome.expect("no guards, so no guard fails");
        Ok(())
    }

    /// The same, with guards and effects that commit with the chain (see `store::Conditions`).
    pub(crate) async fn pay_within_limits_conditions(
        &self,
        payer: i64,
        currency: Currency,
        amount_minor: i64,
        funding: Option<NewTransfer>,
        payment: NewTransfer,
        conditions: Conditions,
    ) -> Result<std::result::Result<(), GuardFailed>> {
        let pending = payment.flags.contains(TransferFlags::PENDING).then_some(payment.timeout_s);
        let mut chain: Vec<NewTransfer> =
            funding.into_iter().map(|f| NewTransfer { flags: f.flags.union(TransferFlags::LINKED), ..f }).collect();
        let first_leg = chain.len();
        chain.extend(self.limit_legs(payer, currency, amount_minor, payment.id, pending).await?);
        chain.push(payment);
        let results = match self.ledger.create_transfers_guarded(chain, conditions).await? {
            Ok(results) => results,
            Err(guard) => return Ok(Err(guard)),
        };
        let leg_failed = |i: usize| matches!(results[first_leg + i], Err(ledger::TransferError::ExceedsCredits));
        let tier = self.person(payer).await?.kyc_tier;
        if leg_failed(0) {
            return Err(limit_error(LimitLeg::Daily, tier));
        }
        if leg_failed(1) {
            return Err(limit_error(LimitLeg::Yearly, tier));
        }
        match results.iter().filter_map(|r| r.err()).find(|e| *e != ledger::TransferError::LinkedEventFailed) {
            None => Ok(Ok(())),
            Some(ledger::TransferError::ExceedsCredits) => Err(PlatformError::InsufficientBalance),
            Some(e) => Err(PlatformError::Internal(format!("ledger refused: {}", e.code()))),
        }
    }
}

/// The ledger ids of a payment's limit legs (daily, yearly), derived from the payment's id.
pub(crate) fn leg_ids(payment_id: u128) -> [u128; 2] {
    [payment_id ^ (u128::from(SPEND_DAILY) << 32), payment_id ^ (u128::from(SPEND_YEARLY) << 32)]
}

fn limit_error(leg: LimitLeg, tier: i64) -> PlatformError {
    match leg {
        LimitLeg::Daily => PlatformError::conflict("LIMIT_DAILY", format!("this payment would pass today's limit for KYC tier {tier}")),
        LimitLeg::Yearly => {
            PlatformError::conflict("LIMIT_YEARLY", format!("this payment would pass this year's limit for KYC tier {tier}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_resident_ids_check_their_last_character() {
        assert!(valid_cn_resident_id("11010519491231002X"));
        assert!(!valid_cn_resident_id("110105194912310029"));
        assert!(valid_cn_resident_id("440524188001010014"));
        assert!(!valid_cn_resident_id("44052418800101001"));
        assert!(!valid_cn_resident_id("4405241880010100AA"));
    }

    #[test]
    fn hong_kong_ids_check_their_last_character() {
        assert!(valid_hk_id("A123456(3)"));
        assert!(valid_hk_id("a1234563"));
        assert!(!valid_hk_id("A123456(4)"));
        assert!(!valid_hk_id("123456(3)"));
        assert!(!valid_hk_id("ABC123456(3)"));
    }
}
