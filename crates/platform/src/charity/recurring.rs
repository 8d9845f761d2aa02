//! Monthly donations: a donor sets one up with their PIN (the standing mandate), from a linked card or
//! their balance; the first gift is made at once and the next on the same day of each month, by the
//! deadline sweep, each one an ordinary donation whose commit also advances the plan (a guard: the
//! charge `n` of a plan is made once, whichever instance and however often the sweep runs).
//!
//! A charge that fails (a declined card, too little balance, a limit) is tried again the next day;
//! after [`FAILURES_MAX`] failures in a row the plan lapses. A removed card lapses it at once; the
//! campaign's end ends it. The donor may stop it at any time, and a stopped plan is never charged.

use super::donate::{Donate, Purpose};
use super::funding::Authority;
use super::{Charities, store};
use crate::ids::as_string;
use crate::wallet::{decimal, parse_amount};
use crate::{Conflict, PersonId, PlatformError, Result};
use money::Currency;
use serde::Serialize;

/// Failed charges in a row before a plan lapses.
pub const FAILURES_MAX: i64 = 3;
/// A failed charge is tried again after this long.
const RETRY_AFTER_MS: i64 = 86_400_000;
/// Plans charged per sweep at most (a backlog drains in steps).
const DUE_PER_SWEEP_MAX: i64 = 100;
/// Active monthly donations one person may have.
pub const ACTIVE_PER_PERSON_MAX: i64 = 20;

text_enum! {
    pub enum RecurringState {
        Active => "active",
        /// The donor stopped it.
        Stopped => "stopped",
        /// Its charges kept failing, or its card was removed.
        Lapsed => "lapsed",
        /// Its campaign ended.
        Ended => "ended",
    }
}

/// What a donor sets up.
#[derive(Debug, Clone, Copy)]
pub struct NewRecurring<'a> {
    pub amount: &'a str,
    pub currency: &'a str,
    /// Charged to this linked card; else to the balance.
    pub card: Option<i64>,
    pub anonymous: bool,
    pub pin: Option<&'a str>,
}

/// A monthly donation as stored.
#[derive(Debug, Clone)]
pub(crate) struct Recurring {
    pub id: i64,
    pub person: PersonId,
    pub campaign_id: i64,
    pub currency: Currency,
    pub amount_minor: i64,
    pub card_id: Option<i64>,
    pub anonymous: bool,
    pub state: RecurringState,
    pub next_at_ms: i64,
    pub charges: i64,
    pub failures: i64,
    pub last_failure: Option<String>,
    pub created_at_ms: i64,
}

/// A monthly donation as its donor sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RecurringView {
    #[serde(serialize_with = "as_string")]
    pub id: i64,
    #[serde(serialize_with = "as_string")]
    pub campaign_id: i64,
    pub amount: String,
    pub currency: Currency,
    /// `None`: from the balance.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "crate::ids::opt_as_string")]
    pub card_id: Option<i64>,
    pub state: RecurringState,
    /// When it is charged next, while active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_charge_at_ms: Option<i64>,
    pub charges: i64,
    pub failures: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}

impl Recurring {
    fn view(&self) -> RecurringView {
        RecurringView {
            id: self.id,
            campaign_id: self.campaign_id,
            amount: decimal(self.amount_minor, self.currency),
            currency: self.currency,
            card_id: self.card_id,
            state: self.state,
            next_charge_at_ms: (self.state == RecurringState::Active).then_some(self.next_at_ms),
            charges: self.charges,
            failures: self.failures,
            last_failure: self.last_failure.clone(),
        }
    }
}

/// A charge of a monthly donation, in its donation's commit: the plan, which charge, and when the
/// next one falls.
#[derive(Debug, Clone)]
pub(crate) struct Charge {
    pub id: i64,
    pub n: i64,
    pub next_at_ms: i64,
}

/// `months` calendar months after `start_ms` (UTC; the 31st falls on a shorter month's last day).
fn months_after(start_ms: i64, months: i64) -> i64 {
    let start = jiff::Timestamp::from_millisecond(start_ms).expect("a stored time is a timestamp").to_zoned(jiff::tz::TimeZone::UTC);
    start.checked_add(jiff::Span::new().months(months)).map_or(i64::MAX, |z| z.timestamp().as_millisecond())
}

impl Charities {
    /// Set up a monthly donation (the PIN is the mandate) and make its first gift now. The same key is
    /// the same plan.
    pub async fn start_recurring(
        &self,
        person: PersonId,
        campaign_id: i64,
        ask: NewRecurring<'_>,
        key: Option<&str>,
    ) -> Result<RecurringView> {
        let id = self.core.request_id("recurring-donation", person, key);
        if let Some(found) = self.core.read(move |c| store::recurring(c, id)).await? {
            return match found.person == person && found.campaign_id == campaign_id {
                true => Ok(found.view()),
                false => Err(PlatformError::conflict(Conflict::IdempotencyKeyReused, "this Idempotency-Key was used for another donation")),
            };
        }
        let plan = self.parse_recurring(person, campaign_id, &ask, id).await?;
        self.people.verify_pin(person, ask.pin.ok_or(PlatformError::PinRequired)?).await?;
        let row = plan.clone();
        let inserted = self.core.write(move |c| store::insert_recurring(c, &row, ACTIVE_PER_PERSON_MAX)).await?;
        if !inserted && self.core.read(move |c| store::recurring(c, id)).await?.is_none() {
            return Err(PlatformError::invalid("campaign_id", format!("at most {ACTIVE_PER_PERSON_MAX} monthly donations at once")));
        }
        // The first gift now: if it cannot be made, nothing is set up and the donor is told why.
        if inserted && let Err(e) = self.attempt_charge(&plan).await {
            self.core.write(move |c| store::delete_unstarted_recurring(c, id)).await?;
            return Err(e);
        }
        self.recurring_view(person, id).await
    }

    async fn parse_recurring(&self, person: PersonId, campaign_id: i64, ask: &NewRecurring<'_>, id: i64) -> Result<Recurring> {
        let (campaign, _, currency) = self.taking_campaign(campaign_id, ask.currency, false).await?;
        let now = self.core.now_ms();
        let amount = parse_amount("amount", ask.amount, currency)?.minor();
        if amount < campaign.min_minor {
            return Err(PlatformError::invalid("amount", format!("at least {} {currency}", decimal(campaign.min_minor, currency))));
        }
        if let Some(card) = ask.card {
            // A removed (or another person's) card cannot be charged: refused before anything is made.
            self.wallet.card_token(person, card).await.map_err(|e| match e {
                PlatformError::NotFound(_) => PlatformError::invalid("card_id", "not one of your linked cards"),
                e => e, // a frozen card, or the store unreachable: said as it is
            })?;
        }
        Ok(Recurring {
            id,
            person,
            campaign_id,
            currency,
            amount_minor: amount,
            card_id: ask.card,
            anonymous: ask.anonymous,
            state: RecurringState::Active,
            next_at_ms: now,
            charges: 0,
            failures: 0,
            last_failure: None,
            created_at_ms: now,
        })
    }

    /// A person's monthly donations, newest first.
    pub async fn recurring_by(&self, person: PersonId) -> Result<Vec<RecurringView>> {
        let found = self.core.read(move |c| store::recurring_by(c, person, super::LISTED_MAX)).await?;
        Ok(found.iter().map(Recurring::view).collect())
    }

    async fn recurring_view(&self, person: PersonId, id: i64) -> Result<RecurringView> {
        match self.core.read(move |c| store::recurring(c, id)).await? {
            Some(r) if r.person == person => Ok(r.view()),
            _ => Err(PlatformError::NotFound("recurring donation")),
        }
    }

    /// The donor stops a monthly donation: never charged again (stopping it twice is stopping it).
    pub async fn stop_recurring(&self, person: PersonId, id: i64) -> Result<RecurringView> {
        let current = self.recurring_view(person, id).await?;
        if current.state == RecurringState::Active {
            let now = self.core.now_ms();
            self.core.write(move |c| store::stop_recurring(c, id, now)).await?;
        }
        self.recurring_view(person, id).await
    }

    /// Charge the monthly donations whose day has come (the deadline sweep).
    pub(crate) async fn charge_due_recurring(&self) -> Result<usize> {
        let now = self.core.now_ms();
        let due = self.core.read(move |c| store::due_recurring(c, now, DUE_PER_SWEEP_MAX)).await?;
        let mut charged = 0;
        for plan in &due {
            // One plan that cannot be charged now (the store or the rail unreachable) does not hold up the
            // others; it stays due and the next sweep tries again.
            match self.charge_recurring(plan).await {
                Ok(()) => charged += 1,
                Err(e) => tracing::warn!(plan = plan.id, error = %e, "a monthly donation could not be charged; tried again next sweep"),
            }
        }
        Ok(charged)
    }

    /// Make charge `n = charges` of a plan, or record why it failed.
    async fn charge_recurring(&self, r: &Recurring) -> Result<()> {
        let failure = match self.attempt_charge(r).await {
            Ok(()) => return Ok(()),
            Err(e @ (PlatformError::Unavailable | PlatformError::Internal(_))) => return Err(e), // the next sweep tries again
            Err(PlatformError::Conflict { code: Conflict::RecurringStopped, .. }) => return Ok(()),
            Err(e) => e,
        };
        let (state, failures) = match &failure {
            PlatformError::Conflict { code: Conflict::CampaignClosed, .. } => (RecurringState::Ended, r.failures),
            PlatformError::NotFound("card") => (RecurringState::Lapsed, r.failures + 1),
            _ if r.failures + 1 >= FAILURES_MAX => (RecurringState::Lapsed, r.failures + 1),
            _ => (RecurringState::Active, r.failures + 1),
        };
        let (plan, n, reason, retry_at) = (r.id, r.charges, failure.to_string(), self.core.now_ms() + RETRY_AFTER_MS);
        self.core.write(move |c| store::recurring_failed(c, plan, n, state, failures, &reason, retry_at)).await?;
        Ok(())
    }

    /// One attempt at charge `n = charges` of a plan: a donation by the donor's mandate.
    async fn attempt_charge(&self, r: &Recurring) -> Result<()> {
        let n = r.charges;
        // Each attempt at charge `n` is a donation of its own (a declined card's charge is not asked
        // again); the plan's guard (`charges = n`) lets only one of them commit.
        let id = self.core.request_id("recurring-charge", r.person, Some(&format!("{}-{n}-{}", r.id, r.failures)));
        let (amount, currency) = (decimal(r.amount_minor, r.currency), r.currency.code());
        let ask = Donate { amount: &amount, currency, anonymous: r.anonymous, card: r.card_id, ..Donate::default() };
        let charge = Charge { id: r.id, n, next_at_ms: months_after(r.created_at_ms, n + 1) };
        let purpose = Purpose { recurring: Some(charge), gift: None };
        self.give(r.person, r.campaign_id, &ask, id, Authority::Mandate, purpose).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_after_the_31st_is_the_last_day_of_a_shorter_month() {
        let jan31 = jiff::civil::date(2027, 1, 31).at(9, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_millisecond();
        let feb28 = jiff::civil::date(2027, 2, 28).at(9, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_millisecond();
        let mar31 = jiff::civil::date(2027, 3, 31).at(9, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_millisecond();
        assert_eq!(months_after(jan31, 1), feb28);
        assert_eq!(months_after(jan31, 2), mar31, "counted from the start, so the day does not drift");
    }
}
