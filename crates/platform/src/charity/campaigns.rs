//! A charity's campaigns: made (once per `out_campaign_no`), read with their totals and match.

use super::{Campaign, CampaignTotals, CampaignView, Charities, CharityBadge, CharityState, Pledge, PledgeView, TotalsView, store};
use crate::wallet::{decimal, parse_amount, parse_currency};
use crate::{Conflict, MerchantId, PlatformError, Result};
use money::Currency;
use serde::Serialize;

/// The longest a campaign runs (a standing fund is renewed each year).
const CAMPAIGN_DAYS_MAX: i64 = 366;
const DAY_MS: i64 = 86_400_000;
const TITLE_CHARS_MAX: usize = 100;
const STORY_CHARS_MAX: usize = 4000;

/// What a charity gives to make a campaign.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    /// The charity's own number for it (1 to 32 of `[0-9A-Za-z_-]`): the same number again is the same
    /// campaign.
    pub out_campaign_no: String,
    pub title: String,
    pub story: String,
    pub currency: String,
    /// The goal and the smallest donation, decimals in major units.
    pub goal: String,
    pub min_amount: String,
    /// Now when absent.
    pub starts_at_ms: Option<i64>,
    pub ends_at_ms: i64,
}

fn text(field: &'static str, value: &str, chars_max: usize, allow_newlines: bool) -> Result<String> {
    let value = value.trim();
    let bad = |c: char| c.is_control() && !(allow_newlines && (c == '\n' || c == '\r'));
    if value.is_empty() || value.chars().count() > chars_max || value.chars().any(bad) {
        return Err(PlatformError::invalid(field, format!("1 to {chars_max} characters")));
    }
    Ok(value.to_string())
}

impl Charities {
    /// A charity makes a campaign (or, for a number it used before, finds the one it made: a retried
    /// request makes nothing twice).
    pub async fn create_campaign(&self, charity: MerchantId, new: NewCampaign) -> Result<CampaignView> {
        let owner = self.charity_of(charity).await.map_err(|_| PlatformError::Forbidden("only a charity makes campaigns".into()))?;
        if owner.state == CharityState::Suspended {
            return Err(PlatformError::conflict(Conflict::CharitySuspended, "this charity is suspended"));
        }
        let campaign = self.parse_campaign(charity, new)?;
        let out_no = campaign.out_campaign_no.clone();
        if let Some(existing) = self.core.read(move |c| store::campaign_by_out_no(c, charity, &out_no)).await? {
            return self.same_campaign(existing, &campaign).await;
        }
        let row = campaign.clone();
        if !self.core.transaction(move |c| store::insert_campaign(c, &row)).await? {
            let out_no = campaign.out_campaign_no.clone();
            let existing = self.core.read(move |c| store::campaign_by_out_no(c, charity, &out_no)).await?;
            return self.same_campaign(existing.ok_or(PlatformError::NotFound("campaign"))?, &campaign).await;
        }
        self.campaign(campaign.id).await
    }

    async fn same_campaign(&self, existing: Campaign, asked: &Campaign) -> Result<CampaignView> {
        let same = existing.title == asked.title && existing.currency == asked.currency && existing.goal_minor == asked.goal_minor;
        if !same || existing.ends_at_ms != asked.ends_at_ms {
            return Err(PlatformError::conflict(Conflict::CampaignNoUsed, "this out_campaign_no is another campaign's"));
        }
        self.campaign(existing.id).await
    }

    fn parse_campaign(&self, charity: MerchantId, new: NewCampaign) -> Result<Campaign> {
        let out_no = new.out_campaign_no.trim();
        if !crate::payments::valid_out_no(out_no, 1, 32, false) {
            return Err(PlatformError::invalid("out_campaign_no", "1 to 32 of [0-9A-Za-z_-]"));
        }
        let currency = parse_currency(&new.currency)?;
        if !self.core.config.currencies().contains(&currency) {
            return Err(PlatformError::invalid("currency", format!("{currency} is not enabled on this platform")));
        }
        let goal = parse_amount("goal", &new.goal, currency)?;
        let min = parse_amount("min_amount", &new.min_amount, currency)?;
        if min.minor() > goal.minor() {
            return Err(PlatformError::invalid("min_amount", "at most the goal"));
        }
        let now = self.core.now_ms();
        let starts = new.starts_at_ms.unwrap_or(now);
        if new.ends_at_ms <= starts.max(now) || new.ends_at_ms - starts > CAMPAIGN_DAYS_MAX * DAY_MS {
            return Err(PlatformError::invalid(
                "end_time",
                format!("after the start and now, at most {CAMPAIGN_DAYS_MAX} days after the start"),
            ));
        }
        Ok(Campaign {
            id: crate::ids::object_id(now),
            charity,
            out_campaign_no: out_no.to_string(),
            title: text("title", &new.title, TITLE_CHARS_MAX, false)?,
            story: text("story", &new.story, STORY_CHARS_MAX, true)?,
            currency,
            goal_minor: goal.minor(),
            min_minor: min.minor(),
            starts_at_ms: starts,
            ends_at_ms: new.ends_at_ms,
            created_at_ms: now,
        })
    }

    pub(crate) async fn stored_campaign(&self, id: i64) -> Result<Campaign> {
        if let Some(hit) = self.campaigns.get(&id) {
            return Ok(hit);
        }
        let ticket = self.campaigns.ticket();
        let found = self.core.read(move |c| store::campaign(c, id)).await?.ok_or(PlatformError::NotFound("campaign"))?;
        self.campaigns.put_read(ticket, id, found.clone());
        Ok(found)
    }

    /// A campaign that takes money in `currency` now: its charity active, the campaign not ended, and
    /// (when `started`) already open; with its charity.
    pub(super) async fn taking_campaign(&self, id: i64, currency: &str, started: bool) -> Result<(Campaign, super::Charity, Currency)> {
        let campaign = self.stored_campaign(id).await?;
        let charity = self.charity_of(campaign.charity).await?;
        if charity.state == super::CharityState::Suspended {
            return Err(PlatformError::conflict(Conflict::CharitySuspended, "this charity is suspended and takes no donations"));
        }
        let now = self.core.now_ms();
        if now >= campaign.ends_at_ms || (started && now < campaign.starts_at_ms) {
            return Err(PlatformError::conflict(Conflict::CampaignClosed, "this campaign is not open for donations"));
        }
        let currency = crate::wallet::parse_currency(currency)?;
        if currency != campaign.currency {
            return Err(PlatformError::invalid("currency", format!("this campaign takes {}", campaign.currency)));
        }
        Ok((campaign, charity, currency))
    }

    pub(crate) async fn pledge_of(&self, campaign: i64) -> Result<Option<Pledge>> {
        self.core.read(move |c| store::pledge_of(c, campaign)).await
    }

    /// A campaign with its charity's badge, totals and match, as anyone may see it.
    pub async fn campaign(&self, id: i64) -> Result<CampaignView> {
        let campaign = self.stored_campaign(id).await?;
        let charity = self.charity_of(campaign.charity).await?;
        let totals = self.totals(id).await?;
        let pledge = self.pledge_of(id).await?;
        let now = self.core.now_ms();
        let money = |minor: i64| decimal(minor, campaign.currency);
        Ok(CampaignView {
            id,
            out_campaign_no: campaign.out_campaign_no.clone(),
            charity: CharityBadge {
                mchid: charity.mchid,
                name: charity.name,
                charity_number: charity.charity_number,
                jurisdiction: charity.jurisdiction,
                verified: true,
            },
            title: campaign.title.clone(),
            story: campaign.story.clone(),
            currency: campaign.currency,
            goal: money(campaign.goal_minor),
            min_amount: money(campaign.min_minor),
            goal_minor: campaign.goal_minor,
            min_minor: campaign.min_minor,
            starts_at_ms: campaign.starts_at_ms,
            ends_at_ms: campaign.ends_at_ms,
            open: charity.state == CharityState::Active && campaign.starts_at_ms <= now && now < campaign.ends_at_ms,
            totals: totals_view(&campaign, &totals),
            matching: pledge.map(|p| PledgeView {
                cap: money(p.cap_minor),
                per_donor_max: money(p.per_donor_max_minor),
                matched: money(p.matched_minor),
                left: money(p.cap_minor - p.matched_minor),
            }),
        })
    }

    /// The running totals, exact at this instant: the campaign's row and its pledge's match, committed
    /// with the donations they count.
    pub async fn totals(&self, id: i64) -> Result<CampaignTotals> {
        let (totals, pledge) = self.core.read(move |c| Ok((store::totals(c, id)?, store::pledge_of(c, id)?))).await?;
        let totals = totals.ok_or(PlatformError::NotFound("campaign"))?;
        Ok(CampaignTotals { matched_minor: pledge.map_or(0, |p| p.matched_minor), ..totals })
    }

    /// The campaigns open now, ending soonest first (at most [`super::LISTED_MAX`]).
    pub async fn open_campaigns(&self) -> Result<Vec<CampaignView>> {
        let now = self.core.now_ms();
        let found = self.core.read(move |c| store::open_campaigns(c, now, super::LISTED_MAX)).await?;
        let mut views = Vec::with_capacity(found.len());
        for k in found {
            views.push(self.campaign(k.id).await?);
        }
        Ok(views)
    }

    /// A charity's campaigns, newest first.
    pub async fn campaigns_of(&self, charity: MerchantId) -> Result<Vec<CampaignView>> {
        let found = self.core.read(move |c| store::campaigns_of(c, charity, super::LISTED_MAX)).await?;
        let mut views = Vec::with_capacity(found.len());
        for k in found {
            views.push(self.campaign(k.id).await?);
        }
        Ok(views)
    }
}

/// A campaign's totals beside what the ledger holds for them, for an operator (and the donations
/// benchmark) to check one against the other.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub currency: Currency,
    /// The campaign's row: donations less refunds, and the match they drew (minor units).
    pub raised_minor: i64,
    pub donations: i64,
    pub matched_minor: i64,
    /// The pledge's cap and what its escrow account still holds (cap − escrow = matched, exactly).
    pub cap_minor: i64,
    pub escrow_left_minor: i64,
    /// The charity's receivable balance in the campaign's currency (all its takings not yet settled).
    pub receivable_minor: i64,
}

impl Charities {
    pub async fn reconcile(&self, campaign_id: i64) -> Result<Reconciliation> {
        let campaign = self.stored_campaign(campaign_id).await?;
        let totals = self.totals(campaign_id).await?;
        let pledge = self.pledge_of(campaign_id).await?;
        let balance = |a: Option<ledger::Account>, credit_normal: bool| {
            a.map_or(0, |a| {
                let b = i128::from(a.credits_posted) - i128::from(a.debits_posted);
                i64::try_from(if credit_normal { b } else { -b }).unwrap_or(i64::MAX)
            })
        };
        let escrow = match &pledge {
            Some(p) => balance(self.core.account(p.escrow()).await?, true),
            None => 0,
        };
        let receivable = balance(self.core.account(crate::chart::merchant_receivable(campaign.charity, campaign.currency)).await?, true);
        Ok(Reconciliation {
            currency: campaign.currency,
            raised_minor: totals.raised_minor,
            donations: totals.donations,
            matched_minor: totals.matched_minor,
            cap_minor: pledge.map_or(0, |p| p.cap_minor),
            escrow_left_minor: escrow,
            receivable_minor: receivable,
        })
    }
}

/// Totals as people read them.
pub fn totals_view(campaign: &Campaign, t: &CampaignTotals) -> TotalsView {
    let total = t.raised_minor + t.matched_minor;
    let progress_bps = if campaign.goal_minor > 0 { (i128::from(total) * 10_000 / i128::from(campaign.goal_minor)) as i64 } else { 0 };
    TotalsView {
        raised: decimal(t.raised_minor, campaign.currency),
        matched: decimal(t.matched_minor, campaign.currency),
        total: decimal(total, campaign.currency),
        minor: *t,
        donations: t.donations,
        donors: t.donors,
        progress_bps,
    }
}
