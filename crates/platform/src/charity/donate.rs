//! A person gives to a campaign, from a balance (in the campaign's currency or through FX) or straight
//! from a linked card.
//!
//! One commit: the donation's row (its guard: a retried request stops there and answers the donation it
//! made), the campaign's totals (a guard that holds only while the campaign is open), what the gift is
//! for (a monthly donation's charge, an Inspired Gift's count and card), the quote it used, the card
//! charge it ends, the match it draws (two guards: the donor's per-donor limit and the pledge's cap),
//! the money (the gift behind the donor's limits, then the match from the escrow, linked), the
//! exchange's record and the donor counted once.
//!
//! Many donations in one committer batch all pass the cap's guard while the pledge has room for each;
//! only the few that would cross it fail it, and are asked again with what is left (the last one
//! matched in part, the rest not at all). So a storm of donations is not a fight over the pledge's row.

use super::funding::{Authority, CHARITY_MCC};
use super::{Charities, Donation, DonationState, DonationView, Pledge, store};
use crate::core::{Commit, Committed};
use crate::payments::{Funding, PayOrder, PaymentPlan};
use crate::people::LimitedPayment;
use crate::wallet::{CardCharge, parse_amount};
use crate::{Conflict, MerchantId, PersonId, PlatformError, Result, chart};
use ::store::Effect;

/// Times a donation is asked again when its match lost a race for the pledge's last room.
const MATCH_RETRIES_MAX: usize = 8;

/// What a donor asks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Donate<'a> {
    /// In the campaign's currency (`currency` must be it).
    pub amount: &'a str,
    pub currency: &'a str,
    pub anonymous: bool,
    pub message: Option<&'a str>,
    pub pin: Option<&'a str>,
    /// Give straight from this linked card instead of the balance.
    pub card: Option<i64>,
    /// Pay from this balance (or charge the card in it), converted when it is not the campaign's; by
    /// default the donor's home currency.
    pub balance_currency: Option<&'a str>,
    /// The quote (from `POST /fx/quotes`) whose price to pay at.
    pub quote: Option<i64>,
}

/// What a gift is beyond a one-off: a monthly donation's charge, an Inspired Gift for a friend. Each
/// adds guards and effects to the donation's commit.
#[derive(Debug, Clone, Default)]
pub(super) struct Purpose {
    pub recurring: Option<super::recurring::Charge>,
    pub gift: Option<super::gifts::GiftCard>,
}

/// Why a guard of a donation's commit is there: what its failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    Row,
    Open,
    Recurring,
    Item,
    Quote,
    Charge,
    Match,
}

impl Charities {
    /// Give to a campaign. The same key is the same donation, however late it is retried.
    pub async fn donate(&self, person: PersonId, campaign_id: i64, ask: Donate<'_>, key: Option<&str>) -> Result<DonationView> {
        let id = self.core.request_id("donation", person, key);
        self.give(person, campaign_id, &ask, id, Authority::Pin(ask.pin), Purpose::default()).await
    }

    /// Make donation `id`: checked, judged, planned, charged (a card), committed with what it is for.
    pub(super) async fn give(
        &self,
        person: PersonId,
        campaign_id: i64,
        ask: &Donate<'_>,
        id: i64,
        by: Authority<'_>,
        purpose: Purpose,
    ) -> Result<DonationView> {
        let (mut donation, country) = self.parse_donation(person, campaign_id, ask, id).await?;
        donation.recurring_id = purpose.recurring.as_ref().map(|r| r.id);
        donation.gift_item_id = purpose.gift.as_ref().map(|g| g.item_id);
        if let Some(existing) = self.existing_donation(person, &donation).await? {
            return Ok(existing);
        }
        let how = PayOrder { pin: by.pin(), card: ask.card, balance_currency: ask.balance_currency, quote: ask.quote };
        let plan = self.plan_gift(&donation, &country, &how).await?;
        donation.paid_currency = plan.pay.currency();
        donation.paid_minor = plan.pay.minor();
        let judged = crate::risk::Attempt {
            merchant: Some(donation.charity.get()),
            card: ask.card,
            cross_border: plan.cross_border,
            ..crate::risk::Attempt::of(crate::risk::engine::Kind::Payment, person, plan.pay.currency().numeric(), plan.pay.minor())
        };
        self.people.assess(&judged, by.pin()).await?;
        if let (None, Authority::Pin(pin)) = (ask.card, by) {
            self.people.authorize_payment(person, plan.pay.minor(), pin).await?;
        }
        // The limits are checked before a card is charged.
        let chain = self.gift_chain(&donation, &plan).await?;
        let charge = match ask.card {
            None => None,
            Some(card) => Some(self.charge_card(&donation, &plan, card, by).await?),
        };
        if let Some(c) = &charge {
            (donation.funding, donation.card_id, donation.card_reference) = (Funding::Card, ask.card, Some(c.reference.clone()));
        }
        let outcome = self.commit_with_match(&donation, &plan, chain, charge.as_ref(), &purpose).await;
        if let (Err(_), Some(c)) = (&outcome, &charge) {
            self.wallet.give_back(c.op, &c.reference).await?;
        }
        if outcome.is_ok() {
            self.people.risk.record(&judged, false);
            self.live.changed(campaign_id);
        }
        outcome
    }

    /// Commit the donation with the match the pledge has room for, asked again when the match lost a
    /// race for the pledge's last room.
    async fn commit_with_match(
        &self,
        d: &Donation,
        plan: &PaymentPlan,
        chain: LimitedPayment,
        charge: Option<&CardCharge>,
        purpose: &Purpose,
    ) -> Result<DonationView> {
        let mut d = d.clone();
        let chain = match charge {
            Some(c) => chain.funded_by(c.funding),
            None => chain,
        };
        for _ in 0..=MATCH_RETRIES_MAX {
            let pledge = self.match_room(&mut d).await?;
            if let Some(view) = self.commit_donation(&d, plan, chain.clone(), pledge.as_ref(), charge, purpose).await? {
                return Ok(view);
            }
        }
        Err(PlatformError::Unavailable)
    }

    /// `Some` when committed (or found committed); `None` when the match's guards lost a race.
    async fn commit_donation(
        &self,
        d: &Donation,
        plan: &PaymentPlan,
        mut chain: LimitedPayment,
        pledge: Option<&Pledge>,
        charge: Option<&CardCharge>,
        purpose: &Purpose,
    ) -> Result<Option<DonationView>> {
        // The guards hold at the commit's time, not the request's (a card charge may have taken a while).
        let now = self.core.now_ms();
        let [row, open] = store::donation_guards(d, now);
        let mut guards: Vec<(Guard, Effect)> = vec![(Guard::Row, row), (Guard::Open, open)];
        let mut effects = vec![store::donor_effect(d)];
        if let Some(r) = &purpose.recurring {
            guards.push((Guard::Recurring, store::recurring_charged(r)));
        }
        if let Some(g) = &purpose.gift {
            guards.push((Guard::Item, store::item_sold(g.item_id)));
            effects.push(store::insert_gift_card(d, g));
        }
        if let Some((q, _)) = plan.quote {
            guards.push((Guard::Quote, crate::fx::use_quote(q, d.donor, d.id, now)));
        }
        if let Some(c) = charge {
            guards.push((Guard::Charge, c.guard(now)));
        }
        if let (Some(p), true) = (pledge, d.matched_minor > 0) {
            guards.push((Guard::Match, store::donor_match_guard(p.id, d.donor, d.matched_minor, p.per_donor_max_minor)));
            guards.push((Guard::Match, store::pledge_guard(p.id, d.matched_minor)));
            let receivable = chart::merchant_receivable(d.charity, d.currency);
            let kind = chart::transfer::DONATION_MATCH;
            chain = chain.then(super::funding::leg(d, kind, p.escrow(), receivable, d.currency, d.matched_minor)?);
        }
        if plan.price.is_some() || plan.cross_border {
            effects.push(crate::fx::insert_execution(&self.execution(d, plan).await?));
        }
        let roles: Vec<Guard> = guards.iter().map(|(g, _)| *g).collect();
        let commit = Commit { guards: guards.into_iter().map(|(_, e)| e).collect(), transfers: chain.chain.clone(), effects };
        match self.core.commit(commit).await? {
            Committed::Applied(results) => {
                chain.outcome(&results)?;
                Ok(Some(d.view(false)))
            }
            Committed::GuardFailed(i) => self.why_not_committed(d, roles[i]).await,
        }
    }

    /// A donation's guard failed: its row (a retry: answer the donation), a race on the match (`None`:
    /// ask again), or the reason it cannot be made.
    async fn why_not_committed(&self, d: &Donation, guard: Guard) -> Result<Option<DonationView>> {
        match guard {
            Guard::Row => match self.existing_donation(d.donor, d).await? {
                Some(view) => Ok(Some(view)),
                None => Err(PlatformError::Internal("a donation's row guard failed with no row".into())),
            },
            Guard::Match => Ok(None),
            Guard::Open => match self.charity_fresh(d.charity).await? {
                super::CharityState::Suspended => {
                    Err(PlatformError::conflict(Conflict::CharitySuspended, "this charity is suspended and takes no donations"))
                }
                super::CharityState::Active => Err(PlatformError::conflict(Conflict::CampaignClosed, "this campaign has ended")),
            },
            Guard::Recurring => {
                Err(PlatformError::conflict(Conflict::RecurringStopped, "this monthly donation was stopped or charged meanwhile"))
            }
            Guard::Item => Err(PlatformError::conflict(Conflict::GiftWithdrawn, "the charity withdrew this gift")),
            Guard::Quote => Err(PlatformError::conflict(Conflict::QuoteExpired, "the quote expired or was used: ask for a new one")),
            Guard::Charge => Err(PlatformError::Declined("the card charge was given back: give again with a new request".into())),
        }
    }

    /// The exchange's record of a gift in another currency, or across a border, for the regulator.
    async fn execution(&self, d: &Donation, plan: &PaymentPlan) -> Result<crate::fx::Execution> {
        let charity = self.charity_of(d.charity).await?;
        let total = money::Money::from_minor(d.amount_minor, d.currency).map_err(|e| PlatformError::Internal(e.to_string()))?;
        let payee = crate::payments::Payee { order: None, country: &charity.jurisdiction, mcc: CHARITY_MCC };
        crate::payments::payment_execution(d.id, d.donor, total, plan, payee, d.created_at_ms)
    }

    /// The campaign's pledge as it is now (if any), with `d.matched_minor` set to what it may still
    /// match of this gift: the least of the gift, the donor's room under the per-donor limit and the
    /// pledge's room under its cap (one read for both).
    async fn match_room(&self, d: &mut Donation) -> Result<Option<Pledge>> {
        let (campaign, donor) = (d.campaign_id, d.donor);
        let (pledge, drawn) = self
            .core
            .read(move |c| {
                let pledge = store::pledge_of(c, campaign)?;
                let drawn = match &pledge {
                    Some(p) => store::donor_matched(c, p.id, donor)?,
                    None => 0,
                };
                Ok((pledge, drawn))
            })
            .await?;
        d.matched_minor = match &pledge {
            Some(p) => d.amount_minor.min(p.per_donor_max_minor - drawn).min(p.cap_minor - p.matched_minor).max(0),
            None => 0,
        };
        debug_assert!(d.matched_minor <= d.amount_minor && pledge.as_ref().is_none_or(|p| d.matched_minor <= p.cap_minor));
        Ok(pledge)
    }

    /// The donation this request already made, if it did (the same person, campaign and amount), else
    /// `None`; a key reused for another gift is refused.
    async fn existing_donation(&self, person: PersonId, d: &Donation) -> Result<Option<DonationView>> {
        let id = d.id;
        let Some(found) = self.core.read(move |c| store::donation(c, id)).await? else { return Ok(None) };
        if found.donor != person || found.campaign_id != d.campaign_id || found.amount_minor != d.amount_minor {
            return Err(PlatformError::conflict(Conflict::IdempotencyKeyReused, "this Idempotency-Key was used for another donation"));
        }
        Ok(Some(found.view(false)))
    }

    /// The donation asked, checked against its campaign and charity, and the charity's country.
    async fn parse_donation(&self, person: PersonId, campaign_id: i64, ask: &Donate<'_>, id: i64) -> Result<(Donation, String)> {
        let (campaign, charity, currency) = self.taking_campaign(campaign_id, ask.currency, true).await?;
        let now = self.core.now_ms();
        let amount = parse_amount("amount", ask.amount, currency)?;
        if amount.minor() < campaign.min_minor {
            let min = crate::wallet::decimal(campaign.min_minor, currency);
            return Err(PlatformError::invalid("amount", format!("at least {min} {currency}")));
        }
        let message = match ask.message.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) if m.chars().count() > super::MESSAGE_CHARS_MAX || m.chars().any(char::is_control) => {
                return Err(PlatformError::invalid("message", format!("at most {} characters", super::MESSAGE_CHARS_MAX)));
            }
            m => m.map(str::to_string),
        };
        let donor = self.people.person(person).await?;
        let legal_name = self.people.kyc_record(person).await?.legal_name;
        let donation = Donation {
            id,
            campaign_id,
            charity: campaign.charity,
            donor: person,
            currency,
            amount_minor: amount.minor(),
            fee_minor: crate::payments::fee_of(amount.minor(), charity.fee_bps),
            matched_minor: 0,
            anonymous: ask.anonymous,
            message,
            donor_name: legal_name.unwrap_or(donor.display_name),
            donor_verified: donor.kyc_tier >= 2,
            state: DonationState::Donated,
            created_at_ms: now,
            funding: Funding::Balance,
            card_id: None,
            card_reference: None,
            paid_currency: currency,
            paid_minor: amount.minor(),
            recurring_id: None,
            gift_item_id: None,
        };
        Ok((donation, charity.jurisdiction))
    }

    /// A person's own donation.
    pub async fn donation(&self, person: PersonId, id: i64) -> Result<Donation> {
        match self.core.read(move |c| store::donation(c, id)).await? {
            Some(d) if d.donor == person => Ok(d),
            _ => Err(PlatformError::NotFound("donation")),
        }
    }

    /// A person's donations, newest first.
    pub async fn donations_by(&self, person: PersonId) -> Result<Vec<DonationView>> {
        let found = self.core.read(move |c| store::donations_by(c, person, super::LISTED_MAX)).await?;
        Ok(found.iter().map(|d| d.view(false)).collect())
    }

    /// A campaign's donations as its charity sees them (anonymous donors unnamed), newest first.
    pub async fn donations_of(&self, charity: MerchantId, campaign_id: i64) -> Result<Vec<DonationView>> {
        let campaign = self.stored_campaign(campaign_id).await?;
        if campaign.charity != charity {
            return Err(PlatformError::NotFound("campaign"));
        }
        let found = self.core.read(move |c| store::donations_of(c, campaign_id, super::LISTED_MAX)).await?;
        Ok(found.iter().map(|d| d.view(true)).collect())
    }
}
