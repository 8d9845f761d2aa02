//! Payment limits, enforced *in the ledger*, atomically with the payment.
//!
//! Each person has, per currency and direction (money out: payments and withdrawals; money in: top-ups),
//! a limit account per day and per year, funded with the tier's limit from a limit source. Every payment
//! is a linked chain [spend the daily limit, spend the yearly limit, the payment itself]: the ledger
//! orders concurrent payments, so two of them cannot both slip under a limit; the one that would exceed
//! it fails on its limit leg and nothing of its chain happens. Limit units live in their own accounts and
//! never mix with money.
//!
//! A period's accounts belong to one *KYC version* (bumped by every tier change): a new version opens
//! fresh accounts funded with what its tier leaves after what the period already spent (recorded in the
//! account's `user_data`), so a downgrade takes effect at once and an upgrade adds exactly its difference.
//! (A pending spend voided after a change returns to the old version's account: the allowance is not
//! given back until the next period. Conservative on purpose.)

use super::People;
use crate::chart::{self, account, transfer};
use crate::core::Chain;
use crate::risk::freezes::{Flow, FreezeKind, refuse_if_frozen};
use crate::{Conflict, PersonId, PlatformError, Result};
use ledger::{Account, AccountFlags, NewAccount, NewTransfer, TransferError, TransferFlags, TransferResult};
use money::{Currency, Money};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Mutex;

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

/// Default limits on money *in* (top-ups) per tier: a wallet takes in more than it may spend at once,
/// but no one person can pour unbounded money through a shared rail account.
pub fn default_limits_in() -> [TierLimits; 3] {
    [
        TierLimits { single_major: 2_000, daily_major: 5_000, yearly_major: 50_000 },
        TierLimits { single_major: 20_000, daily_major: 50_000, yearly_major: 500_000 },
        TierLimits { single_major: 200_000, daily_major: 500_000, yearly_major: 5_000_000 },
    ]
}

/// Default caps on cross-border spending per tier: below the payment limits, as regulators set them.
pub fn default_limits_cross_border() -> [TierLimits; 3] {
    [
        TierLimits { single_major: 300, daily_major: 600, yearly_major: 5_000 },
        TierLimits { single_major: 3_000, daily_major: 10_000, yearly_major: 100_000 },
        TierLimits { single_major: 30_000, daily_major: 100_000, yearly_major: 500_000 },
    ]
}

/// KYC versions a person may have (the version is part of the limit accounts' kind).
pub(crate) const KYC_VERSIONS_MAX: i64 = 63;
const DAY_MS: i64 = 86_400_000;

/// Money out of the wallet, or into it, or out across a border (the payer's region is not the
/// merchant's country: caps of its own, on top of the payment limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    Out,
    In,
    CrossBorder,
}

impl Direction {
    /// The transfer codes of its spending legs (daily, yearly).
    fn spend_codes(self) -> [u16; 2] {
        match self {
            Direction::Out | Direction::In => [transfer::LIMIT_SPEND_DAILY, transfer::LIMIT_SPEND_YEARLY],
            Direction::CrossBorder => [transfer::LIMIT_SPEND_XB_DAILY, transfer::LIMIT_SPEND_XB_YEARLY],
        }
    }

    /// What refusing its daily and yearly leg means.
    fn conflicts(self) -> [(Conflict, &'static str); 2] {
        match self {
            Direction::Out | Direction::In => [(Conflict::LimitDaily, "today's limit"), (Conflict::LimitYearly, "this year's limit")],
            Direction::CrossBorder => [
                (Conflict::LimitCrossBorderDaily, "today's cross-border cap"),
                (Conflict::LimitCrossBorderYearly, "this year's cross-border cap"),
            ],
        }
    }
}

/// The ledger ids of a payment's limit legs (daily, yearly), derived from the payment's id.
pub(crate) fn leg_ids(payment_id: u128) -> [u128; 2] {
    direction_leg_ids(Direction::Out, payment_id)
}

/// The limit legs' ids of a payment made within the limits of `directions` (as `limited_by` built them).
pub(crate) fn legs_of(directions: &[Direction], payment_id: u128) -> Vec<u128> {
    directions.iter().flat_map(|d| direction_leg_ids(*d, payment_id)).collect()
}

fn direction_leg_ids(direction: Direction, payment_id: u128) -> [u128; 2] {
    direction.spend_codes().map(|code| payment_id ^ (u128::from(code) << 32))
}

/// A payment's chain, built behind its limit legs; `outcome` reads the ledger's answer.
#[derive(Clone)]
pub(crate) struct LimitedPayment {
    pub chain: Vec<NewTransfer>,
    /// Where each limit leg sits in `chain`, and what its refusal means.
    legs: Vec<(usize, Conflict, &'static str)>,
    tier: i64,
}

impl LimitedPayment {
    /// The same chain with the money coming in first (a card paying for the payment): funding, limits
    /// and payment succeed or fail as one.
    pub fn funded_by(mut self, funding: NewTransfer) -> LimitedPayment {
        self.chain.insert(0, NewTransfer { flags: funding.flags.union(TransferFlags::LINKED), ..funding });
        self.legs.iter_mut().for_each(|(i, _, _)| *i += 1);
        self
    }

    /// The same chain with `next` after the payment (the FX position paying the merchant in another
    /// currency): both happen or neither does.
    pub fn then(mut self, next: NewTransfer) -> LimitedPayment {
        let last = self.chain.last_mut().expect("a chain ends with its payment");
        last.flags = last.flags.union(TransferFlags::LINKED);
        self.chain.push(next);
        self
    }

    /// What the chain did: created, repeated (a retry of a committed one), or why it was refused.
    pub fn outcome(&self, results: &[TransferResult]) -> Result<Chain> {
        for (i, conflict, what) in &self.legs {
            if matches!(results.get(*i), Some(Err(TransferError::ExceedsCredits))) {
                return Err(PlatformError::conflict(*conflict, format!("this would pass {what} for KYC tier {}", self.tier)));
            }
        }
        crate::core::chain_outcome(results).map_err(|e| match e {
            TransferError::ExceedsCredits => PlatformError::InsufficientBalance,
            e => PlatformError::Internal(format!("ledger refused: {}", e.code())),
        })
    }
}

/// Which limit periods this process has opened and funded (saves ledger round trips).
#[derive(Default)]
pub(crate) struct Opened(Mutex<HashSet<Periods>>);

/// A person's limit periods in one currency and direction, under one KYC version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Periods {
    person: PersonId,
    currency: u16,
    direction: Direction,
    day: u32,
    year: u32,
    kyc_version: i64,
}

/// (day number, year) of a time, UTC.
fn periods(now_ms: i64) -> (u32, u32) {
    let day = u32::try_from(now_ms / DAY_MS).expect("a day number fits u32");
    let (year, _) = crate::wallet::civil_year_month(now_ms);
    (day, u32::try_from(year).expect("a year fits u32"))
}

fn kinds(direction: Direction) -> (u16, u16) {
    match direction {
        Direction::Out => (account::LIMIT_DAILY, account::LIMIT_YEARLY),
        Direction::In => (account::LIMIT_IN_DAILY, account::LIMIT_IN_YEARLY),
        Direction::CrossBorder => (account::LIMIT_XB_DAILY, account::LIMIT_XB_YEARLY),
    }
}

/// A limit account: the person's, of one kind, period and version.
fn limit_account(person: PersonId, kind: u16, version: i64, period: u32, currency: Currency) -> u128 {
    assert!((0..=KYC_VERSIONS_MAX).contains(&version));
    chart::derived(person.get(), kind | (version as u16) << 8, period * 1000 + u32::from(currency.numeric()))
}

impl People {
    pub(crate) fn tier_limits(&self, direction: Direction, tier: i64) -> TierLimits {
        let limits = match direction {
            Direction::Out => &self.core.config.limits,
            Direction::In => &self.core.config.limits_in,
            Direction::CrossBorder => &self.core.config.limits_cross_border,
        };
        limits[tier.clamp(0, 2) as usize]
    }

    /// The chain that pays `payment` (of `amount_minor` from `payer`) within the payer's limits, with
    /// `funding` (money in from a card) in front. Checks the single-payment limit first. A payment that is
    /// itself pending (a transfer to a friend) gets pending legs with its timeout: accepting posts them,
    /// declining voids them, and expiry returns the limit with the money.
    pub(crate) async fn limited(
        &self,
        payer: PersonId,
        direction: Direction,
        currency: Currency,
        amount_minor: i64,
        funding: Option<NewTransfer>,
        payment: NewTransfer,
    ) -> Result<LimitedPayment> {
        self.limited_by(payer, &[direction], currency, amount_minor, funding, payment).await
    }

    /// The same within the limits of every direction named (a cross-border payment: the payment limits
    /// and the cross-border caps).
    pub(crate) async fn limited_by(
        &self,
        payer: PersonId,
        directions: &[Direction],
        currency: Currency,
        amount_minor: i64,
        funding: Option<NewTransfer>,
        payment: NewTransfer,
    ) -> Result<LimitedPayment> {
        let person = self.person(payer).await?;
        let flow = if directions.iter().all(|d| matches!(d, Direction::In)) { Flow::In } else { Flow::Out };
        refuse_if_frozen(&self.core, FreezeKind::Person, payer.to_string(), flow).await?;
        for direction in directions {
            self.check_single(&person, *direction, currency, amount_minor)?;
        }
        let mut chain: Vec<NewTransfer> =
            funding.into_iter().map(|f| NewTransfer { flags: f.flags.union(TransferFlags::LINKED), ..f }).collect();
        let mut legs = Vec::new();
        for direction in directions {
            let built = self.legs(&person, *direction, currency, amount_minor, &payment).await?;
            for (leg, (conflict, what)) in built.into_iter().zip(direction.conflicts()) {
                legs.push((chain.len(), conflict, what));
                chain.push(leg);
            }
        }
        chain.push(payment);
        Ok(LimitedPayment { chain, legs, tier: person.kyc_tier })
    }

    fn check_single(&self, person: &crate::people::Person, direction: Direction, currency: Currency, amount_minor: i64) -> Result<()> {
        let limits = self.tier_limits(direction, person.kyc_tier);
        let single = Money::from_major(limits.single_major, currency)?.minor();
        if amount_minor <= single {
            return Ok(());
        }
        let what = match direction {
            Direction::In => "top-up limit",
            Direction::Out => "single-payment limit",
            Direction::CrossBorder => "single cross-border payment cap",
        };
        Err(PlatformError::conflict(
            Conflict::LimitSingle,
            format!("above the {what} of {} {currency} for KYC tier {}", limits.single_major, person.kyc_tier),
        ))
    }

    /// The daily and yearly legs of one direction for `payment`, their periods opened and funded.
    async fn legs(
        &self,
        person: &crate::people::Person,
        direction: Direction,
        currency: Currency,
        amount_minor: i64,
        payment: &NewTransfer,
    ) -> Result<[NewTransfer; 2]> {
        let (day, year) = periods(self.core.now_ms());
        self.open_periods(person, direction, currency, day, year).await?;
        let (daily, yearly) = kinds(direction);
        let pending = payment.flags.contains(TransferFlags::PENDING);
        let sink = chart::system_account(account::LIMIT_SINK, currency);
        let amount = chart::ledger_amount(amount_minor, currency)?;
        let (ids, codes) = (direction_leg_ids(direction, payment.id), direction.spend_codes());
        let leg = |i: usize, account_id: u128| NewTransfer {
            // Derived from the payment, so a retried payment re-sends the same legs.
            id: ids[i],
            debit_account_id: account_id,
            credit_account_id: sink,
            amount,
            pending_id: 0,
            currency: Some(currency),
            code: codes[i],
            flags: TransferFlags::LINKED.union(if pending { TransferFlags::PENDING } else { TransferFlags::empty() }),
            timeout_s: if pending { payment.timeout_s } else { 0 },
            user_data: person.id.get() as u128,
        };
        Ok([
            leg(0, limit_account(person.id, daily, person.kyc_version, day, currency)),
            leg(1, limit_account(person.id, yearly, person.kyc_version, year, currency)),
        ])
    }

    /// Make sure today's and this year's limit accounts of the person's KYC version exist and are funded.
    async fn open_periods(
        &self,
        person: &crate::people::Person,
        direction: Direction,
        currency: Currency,
        day: u32,
        year: u32,
    ) -> Result<()> {
        let key = Periods { person: person.id, currency: currency.numeric(), direction, day, year, kyc_version: person.kyc_version };
        if self.opened.0.lock().expect("periods lock").contains(&key) {
            return Ok(());
        }
        let (daily, yearly) = kinds(direction);
        let limits = self.tier_limits(direction, person.kyc_tier);
        let mut funding = Vec::new();
        for (kind, period, limit_major, fund_kind) in
            [(daily, day, limits.daily_major, transfer::LIMIT_FUND_DAILY), (yearly, year, limits.yearly_major, transfer::LIMIT_FUND_YEARLY)]
        {
            let id = limit_account(person.id, kind, person.kyc_version, period, currency);
            let spent_before = self.period_account(person, id, kind, period, currency).await?;
            let limit = u64::try_from(Money::from_major(limit_major, currency)?.minor()).unwrap_or(0);
            funding.extend(self.fundings(person, direction, id, kind, fund_kind, period, currency, limit.saturating_sub(spent_before))?);
        }
        let results = self.core.transfers(funding).await?;
        if let Some(e) = results.iter().find_map(|r| r.err()) {
            return Err(PlatformError::Internal(format!("funding limits: {}", e.code())));
        }
        self.opened.0.lock().expect("periods lock").insert(key);
        Ok(())
    }

    /// Make sure a period's account exists; what earlier KYC versions spent of the period, as the account
    /// records it. The account's record is what counts (not what would be computed now): a yearly
    /// account opened weeks ago keeps the figure it was opened with, however the earlier version's
    /// spending moved since (a pending spend voided), so its funding is the same whoever funds it.
    async fn period_account(&self, person: &crate::people::Person, id: u128, kind: u16, period: u32, currency: Currency) -> Result<u64> {
        if let Some(existing) = self.core.account(id).await? {
            return Ok(recorded_spent_before(&existing, person.kyc_version));
        }
        let computed = self.spent_before(person, kind, period, currency).await?;
        let user_data = if person.kyc_version == 0 { person.id.get() as u128 } else { u128::from(computed) };
        let flags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
        let results = self.core.raw_accounts(vec![NewAccount { id, currency, code: kind, flags, user_data }]).await?;
        match results.first() {
            Some(Ok(_)) => Ok(computed),
            // Another request opened it meanwhile, perhaps with another figure: its record wins.
            _ => match self.core.account(id).await? {
                Some(existing) => Ok(recorded_spent_before(&existing, person.kyc_version)),
                None => Err(PlatformError::Internal(format!("limit account {id:#x} could not be opened"))),
            },
        }
    }

    /// What the period spent under earlier KYC versions: the latest earlier version's account that exists
    /// for the period knows (its own spending plus what it was opened with).
    async fn spent_before(&self, person: &crate::people::Person, kind: u16, period: u32, currency: Currency) -> Result<u64> {
        let earlier: Vec<u128> = (0..person.kyc_version).rev().map(|v| limit_account(person.id, kind, v, period, currency)).collect();
        for (version, id) in (0..person.kyc_version).rev().zip(earlier) {
            if let Some(a) = self.core.account(id).await? {
                return Ok(spent(&a, version));
            }
        }
        Ok(0)
    }

    /// The transfers that fund a period's account: at version 0 the tiers' differences in turn (so an
    /// account funded by an older release is topped up, never twice); later, one transfer of what is left.
    #[allow(clippy::too_many_arguments)]
    fn fundings(
        &self,
        person: &crate::people::Person,
        direction: Direction,
        account_id: u128,
        kind: u16,
        fund_kind: u16,
        period: u32,
        currency: Currency,
        left: u64,
    ) -> Result<Vec<NewTransfer>> {
        let source = chart::system_account(account::LIMIT_SOURCE, currency);
        let sub = period * 1000 + u32::from(currency.numeric());
        let fund = |id, code, amount| NewTransfer {
            id,
            debit_account_id: source,
            credit_account_id: account_id,
            amount,
            pending_id: 0,
            currency: Some(currency),
            code,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: person.id.get() as u128,
        };
        if person.kyc_version > 0 {
            let id = chart::derived(person.id.get(), transfer::LIMIT_FUND_VERSIONED | kind | (person.kyc_version as u16) << 8, sub);
            return Ok(if left > 0 { vec![fund(id, fund_kind, left)] } else { Vec::new() });
        }
        let mut out = Vec::new();
        // Version 0 in the "in" direction uses its own kinds, so its funding ids differ from "out"'s.
        let direction_bit = match direction {
            Direction::Out => 0,
            Direction::In => 0x10,
            Direction::CrossBorder => 0x20,
        };
        for k in 0..=person.kyc_tier.clamp(0, 2) {
            let (now, before) = (self.tier_limits(direction, k), if k == 0 { None } else { Some(self.tier_limits(direction, k - 1)) });
            let pick = |l: TierLimits| if fund_kind == transfer::LIMIT_FUND_DAILY { l.daily_major } else { l.yearly_major };
            let delta = pick(now) - before.map(pick).unwrap_or(0);
            if delta > 0 {
                let amount = chart::ledger_amount(Money::from_major(delta, currency)?.minor(), currency)?;
                out.push(fund(chart::derived(person.id.get(), fund_kind + direction_bit + k as u16, sub), fund_kind, amount));
            }
        }
        Ok(out)
    }
}

/// What a limit account was opened with as its earlier versions' spending (version 0 has none).
fn recorded_spent_before(a: &Account, version: i64) -> u64 {
    if version == 0 { 0 } else { u64::try_from(a.user_data).unwrap_or(u64::MAX) }
}

/// What a limit account's period has spent up to and including this version.
fn spent(a: &Account, version: i64) -> u64 {
    let before = if version == 0 { 0 } else { u64::try_from(a.user_data).unwrap_or(u64::MAX) };
    before.saturating_add(a.debits_posted).saturating_add(a.debits_pending)
}
