//! A person gives to a campaign from their balance, and a charity refunds a gift.
//!
//! One commit: the donation's row (its guard: a retried request stops there and answers the donation it
//! made), the campaign's totals (a guard that holds only while the campaign is open), the match it draws
//! (two guards: the donor's per-donor limit and the pledge's cap), the money (the gift behind the
//! donor's limits, then the match from the escrow, linked) and the donor counted once.
//!
//! Many donations in one committer batch all pass the cap's guard while the pledge has room for each;
//! only the few that would cross it fail it, and are asked again with what is left (the last one
//! matched in part, the rest not at all). So a storm of donations is not a fight over the pledge's row.

use super::{Charities, CharityState, Donation, DonationState, DonationView, Pledge, store};
use crate::core::{Commit, Committed};
use crate::people::Direction;
use crate::wallet::{parse_amount, parse_currency};
use crate::{Conflict, MerchantId, PersonId, PlatformError, Result, chart};
use ledger::{NewTransfer, TransferFlags};

/// Times a donation is asked again when its match lost a race for the pledge's last room.
const MATCH_RETRIES_MAX: usize = 8;
/// How long a charity may refund a donation.
pub const REFUND_DAYS_MAX: i64 = 90;

/// What a donor asks.
#[derive(Debug, Clone, Copy)]
pub struct Donate<'a> {
    pub amount: &'a str,
    pub currency: &'a str,
    pub anonymous: bool,
    pub message: Option<&'a str>,
    pub pin: Option<&'a str>,
}

/// The guards' places in a donation's commit.
const GUARD_ROW: usize = 0;
const GUARD_OPEN: usize = 1;

impl Charities {
    /// Give to a campaign. The same key is the same donation, however late it is retried.
    pub async fn donate(&self, person: PersonId, campaign_id: i64, ask: Donate<'_>, key: Option<&str>) -> Result<DonationView> {
        let mut donation = self.parse_donation(person, campaign_id, &ask, key).await?;
        if let Some(existing) = self.existing_donation(person, &donation).await? {
            return Ok(existing);
        }
        let judged = crate::risk::Attempt {
            merchant: Some(donation.charity.get()),
            ..crate::risk::Attempt::of(crate::risk::engine::Kind::Payment, person, donation.currency.numeric(), donation.amount_minor)
        };
        self.people.assess(&judged, ask.pin).await?;
        self.people.authorize_payment(person, donation.amount_minor, ask.pin).await?;
        let pledge = self.pledge_of(campaign_id).await?;
        for _ in 0..=MATCH_RETRIES_MAX {
            let matched = match &pledge {
                Some(p) => self.match_room(p, person, donation.amount_minor).await?,
                None => 0,
            };
            donation.matched_minor = matched;
            match self.commit_donation(&donation, pledge.as_ref()).await? {
                Some(view) => {
                    self.people.risk.record(&judged, false);
                    self.live.changed(campaign_id);
                    return Ok(view);
                }
                None => continue, // the match lost a race for the pledge's room: ask again
            }
        }
        Err(PlatformError::Unavailable)
    }

    /// `Some` when committed (or found committed); `None` when the match's guards lost a race.
    async fn commit_donation(&self, d: &Donation, pledge: Option<&Pledge>) -> Result<Option<DonationView>> {
        let gift = transfer(d.id, chart::transfer::DONATION, chart::wallet(d.donor, d.currency), d, d.amount_minor)?;
        let mut chain = self.people.limited(d.donor, Direction::Out, d.currency, d.amount_minor, None, gift).await?;
        let mut guards = store::donation_guards(d);
        if let (Some(p), true) = (pledge, d.matched_minor > 0) {
            guards.push(store::donor_match_guard(p.id, d.donor, d.matched_minor, p.per_donor_max_minor));
            guards.push(store::pledge_guard(p.id, d.matched_minor));
            chain = chain.then(transfer(d.id, chart::transfer::DONATION_MATCH, p.escrow(), d, d.matched_minor)?);
        }
        let commit = Commit { guards, transfers: chain.chain.clone(), effects: vec![store::donor_effect(d)] };
        match self.core.commit(commit).await? {
            Committed::Applied(results) => {
                chain.outcome(&results)?;
                Ok(Some(d.view(false)))
            }
            Committed::GuardFailed(GUARD_ROW) => match self.existing_donation(d.donor, d).await? {
                Some(view) => Ok(Some(view)),
                None => Err(PlatformError::Internal("a donation's row guard failed with no row".into())),
            },
            Committed::GuardFailed(GUARD_OPEN) => Err(PlatformError::conflict(Conflict::CampaignClosed, "this campaign has ended")),
            Committed::GuardFailed(_) => Ok(None),
        }
    }

    /// What the pledge may still match of a gift for this donor: the least of the gift, the donor's
    /// room under the per-donor limit and the pledge's room under its cap.
    async fn match_room(&self, p: &Pledge, donor: PersonId, amount_minor: i64) -> Result<i64> {
        let (pledge_id, campaign) = (p.id, p.campaign_id);
        let (drawn, pledge) =
            self.core.read(move |c| Ok((store::donor_matched(c, pledge_id, donor)?, store::pledge_of(c, campaign)?))).await?;
        let pledge_left = pledge.map_or(0, |now| now.cap_minor - now.matched_minor);
        let room = amount_minor.min(p.per_donor_max_minor - drawn).min(pledge_left).max(0);
        debug_assert!(room <= amount_minor && room <= p.cap_minor);
        Ok(room)
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

    async fn parse_donation(&self, person: PersonId, campaign_id: i64, ask: &Donate<'_>, key: Option<&str>) -> Result<Donation> {
        let campaign = self.stored_campaign(campaign_id).await?;
        let charity = self.charity_of(campaign.charity).await?;
        if charity.state == CharityState::Suspended {
            return Err(PlatformError::conflict(Conflict::CharitySuspended, "this charity is suspended and takes no donations"));
        }
        let now = self.core.now_ms();
        if now < campaign.starts_at_ms || now >= campaign.ends_at_ms {
            return Err(PlatformError::conflict(Conflict::CampaignClosed, "this campaign is not open for donations"));
        }
        let currency = parse_currency(ask.currency)?;
        if currency != campaign.currency {
            return Err(PlatformError::invalid("currency", format!("this campaign takes {}", campaign.currency)));
        }
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
        Ok(Donation {
            id: self.core.request_id("donation", person, key),
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
        })
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

    /// The charity refunds a donation within [`REFUND_DAYS_MAX`]: the gift back to the donor's balance
    /// and its match back to the pledge, with the campaign's totals, in one commit (once).
    pub async fn refund(&self, charity: MerchantId, donation_id: i64, audit: Option<::store::Effect>) -> Result<DonationView> {
        let d = match self.core.read(move |c| store::donation(c, donation_id)).await? {
            Some(d) if d.charity == charity => d,
            _ => return Err(PlatformError::NotFound("donation")),
        };
        if d.state == DonationState::Refunded {
            return Ok(d.view(true));
        }
        let now = self.core.now_ms();
        if now - d.created_at_ms > REFUND_DAYS_MAX * 86_400_000 {
            return Err(PlatformError::invalid("donation", format!("a donation is refunded within {REFUND_DAYS_MAX} days")));
        }
        let receivable = chart::merchant_receivable(d.charity, d.currency);
        let mut transfers = vec![NewTransfer {
            debit_account_id: receivable,
            credit_account_id: chart::wallet(d.donor, d.currency),
            ..transfer(d.id, chart::transfer::DONATION_REFUND, receivable, &d, d.amount_minor)?
        }];
        if d.matched_minor > 0 {
            let pledge = self
                .pledge_of(d.campaign_id)
                .await?
                .ok_or_else(|| PlatformError::Internal("a matched donation without its pledge".into()))?;
            // The match goes back to the pledge while its campaign runs; after its return, to the sponsor.
            let back_to = if pledge.returned_at_ms.is_some() { chart::wallet(pledge.sponsor, d.currency) } else { pledge.escrow() };
            transfers[0].flags = TransferFlags::LINKED;
            transfers.push(NewTransfer {
                debit_account_id: receivable,
                credit_account_id: back_to,
                ..transfer(d.id, chart::transfer::MATCH_REFUND, receivable, &d, d.matched_minor)?
            });
        }
        let mut guards = store::refund_guards(&d, now);
        guards.extend(audit);
        match self.core.commit(Commit { guards, transfers, effects: Vec::new() }).await? {
            Committed::Applied(results) => {
                crate::core::chain_outcome(&results).map_err(|e| PlatformError::Internal(format!("ledger refused: {}", e.code())))?;
            }
            Committed::GuardFailed(_) => {} // refunded meanwhile: read it
        }
        self.live.changed(d.campaign_id);
        let refunded = self.core.read(move |c| store::donation(c, donation_id)).await?.ok_or(PlatformError::NotFound("donation"))?;
        Ok(refunded.view(true))
    }
}

/// A donation's leg `kind` from `debit` to the charity's receivable (ids derived from the donation).
fn transfer(id: i64, kind: u16, debit: u128, d: &Donation, minor: i64) -> Result<NewTransfer> {
    Ok(NewTransfer {
        id: chart::derived(id, kind, 0),
        debit_account_id: debit,
        credit_account_id: chart::merchant_receivable(d.charity, d.currency),
        amount: chart::ledger_amount(minor, d.currency)?,
        pending_id: 0,
        currency: Some(d.currency),
        code: kind,
        flags: TransferFlags::empty(),
        timeout_s: 0,
        user_data: d.campaign_id as u128,
    })
}
