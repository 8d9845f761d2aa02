//! Charities, their campaigns and people's donations.
//!
//! A **charity** is a merchant with a registration (charity number and jurisdiction) recorded by an
//! operator, which is what its verified badge means. Money given to it is held in the merchant's
//! receivable account and settled to its bank like a merchant's takings, with no fee unless the
//! operator sets one.
//!
//! A **campaign** (an emergency appeal, a standing fund) has a goal in one currency, a start and an end,
//! and running totals (raised, donations, donors) that each donation's commit updates with the money:
//! a total read at any moment is exactly the sum of the donations that committed (`live` streams them).
//!
//! A **donation** moves money from the donor's balance to the charity behind the donor's limits, in one
//! commit with its row and the campaign's totals. A sponsor's **match** (1:1 up to a cap and a per-donor
//! limit) is funded up front into an escrow account of its own: each donation draws its match from the
//! escrow in the same commit, and the pledge's guard lets it only while the pledge stays within its cap
//! (the last donation before the cap is matched in part). The escrow's ledger flag refuses to overdraw
//! it, so even a wrong count could not match a cent beyond the money pledged.

mod campaigns;
mod donate;
mod funding;
mod gifts;
pub mod live;
mod matching;
mod receipts;
mod recurring;
mod refunds;
mod store;

pub use campaigns::{NewCampaign, Reconciliation, totals_view};
pub use donate::Donate;
pub use gifts::{GiftCardView, GiftItem, NewGiftItem, SendGift};
pub use matching::NewPledge;
pub use receipts::{Receipt, YearSummary};
pub use recurring::{NewRecurring, RecurringState, RecurringView};

use crate::cache::TimedCache;
use crate::core::Core;
use crate::merchants::Merchants;
use crate::payments::{Funding, Payments};
use crate::people::People;
use crate::social::Social;
use crate::wallet::Wallet;
use crate::{MerchantId, PersonId, PlatformError, Result};
use money::Currency;
use serde::Serialize;
use std::sync::Arc;

/// The most listed at once (a campaign's donations, a person's, a charity's campaigns).
pub const LISTED_MAX: i64 = 100;
/// A donation's message, in characters.
pub const MESSAGE_CHARS_MAX: usize = 200;

text_enum! {
    pub enum CharityState {
        Active => "active",
        /// Takes no donations (its campaigns stay readable).
        Suspended => "suspended",
    }
}

text_enum! {
    pub enum DonationState {
        Donated => "donated",
        Refunded => "refunded",
        /// The card's issuer took the gift back (a chargeback): reversed with its match.
        ChargedBack => "charged_back",
    }
}

/// A charity as registered.
#[derive(Debug, Clone, Serialize)]
pub struct Charity {
    #[serde(skip)]
    pub merchant_id: MerchantId,
    pub mchid: String,
    pub name: String,
    pub charity_number: String,
    pub jurisdiction: String,
    pub state: CharityState,
    pub fee_bps: i64,
    pub created_at_ms: i64,
}

/// A campaign as stored.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: i64,
    pub charity: MerchantId,
    pub out_campaign_no: String,
    pub title: String,
    pub story: String,
    pub currency: Currency,
    pub goal_minor: i64,
    pub min_minor: i64,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_at_ms: i64,
}

/// A campaign's running totals, in its currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CampaignTotals {
    /// Donations less refunds (without the match).
    pub raised_minor: i64,
    pub donations: i64,
    pub donors: i64,
    pub refunded_minor: i64,
    /// What the sponsor's match added.
    pub matched_minor: i64,
}

/// A campaign as people and its charity see it.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignView {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub out_campaign_no: String,
    pub charity: CharityBadge,
    pub title: String,
    pub story: String,
    pub currency: Currency,
    pub goal: String,
    pub min_amount: String,
    /// The goal and smallest gift in minor units (for wires that carry integers).
    #[serde(skip)]
    pub goal_minor: i64,
    #[serde(skip)]
    pub min_minor: i64,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub open: bool,
    pub totals: TotalsView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching: Option<PledgeView>,
}

/// Who a campaign is for: the name and the registration behind its badge.
#[derive(Debug, Clone, Serialize)]
pub struct CharityBadge {
    pub mchid: String,
    pub name: String,
    pub charity_number: String,
    pub jurisdiction: String,
    pub verified: bool,
}

/// Totals as decimals, with the progress towards the goal (what was raised and matched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TotalsView {
    pub raised: String,
    pub matched: String,
    pub total: String,
    /// The same three in minor units.
    #[serde(skip)]
    pub minor: CampaignTotals,
    pub donations: i64,
    pub donors: i64,
    /// Of the goal, in hundredths of a percent (10000 is the goal reached).
    pub progress_bps: i64,
}

/// A sponsor's match as people see it (the sponsor is not named).
#[derive(Debug, Clone, Serialize)]
pub struct PledgeView {
    pub cap: String,
    pub per_donor_max: String,
    pub matched: String,
    pub left: String,
}

/// A sponsor's pledge to match a campaign, as stored.
#[derive(Debug, Clone)]
pub(crate) struct Pledge {
    pub id: i64,
    pub campaign_id: i64,
    pub sponsor: PersonId,
    pub currency: Currency,
    pub cap_minor: i64,
    pub per_donor_max_minor: i64,
    pub matched_minor: i64,
    pub created_at_ms: i64,
    pub returned_at_ms: Option<i64>,
}

impl Pledge {
    fn escrow(&self) -> u128 {
        crate::chart::derived(self.id, crate::chart::account::MATCH_ESCROW, 0)
    }
}

/// A donation as stored.
#[derive(Debug, Clone)]
pub struct Donation {
    pub id: i64,
    pub campaign_id: i64,
    pub charity: MerchantId,
    pub donor: PersonId,
    pub currency: Currency,
    pub amount_minor: i64,
    pub fee_minor: i64,
    /// What the sponsor's match added to it.
    pub matched_minor: i64,
    pub anonymous: bool,
    pub message: Option<String>,
    /// The donor's legal name when they gave one (KYC), else their display name.
    pub donor_name: String,
    /// An operator verified the donor's identity (KYC tier 2).
    pub donor_verified: bool,
    pub state: DonationState,
    pub created_at_ms: i64,
    /// The balance, or straight from a linked card (`card_id`, the charge's `card_reference`).
    pub funding: Funding,
    pub card_id: Option<i64>,
    pub card_reference: Option<String>,
    /// What the donor paid, in their own currency (the campaign's currency and amount when the same).
    pub paid_currency: Currency,
    pub paid_minor: i64,
    /// The monthly donation this is a charge of, the Inspired Gift it bought.
    pub recurring_id: Option<i64>,
    pub gift_item_id: Option<i64>,
}

/// A donation as its donor, or its charity, sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DonationView {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub campaign_id: i64,
    pub receipt_no: String,
    /// "anonymous" to the charity when the donor asked.
    pub donor: String,
    pub amount: String,
    pub matched: String,
    #[serde(skip)]
    pub amount_minor: i64,
    #[serde(skip)]
    pub matched_minor: i64,
    pub currency: Currency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub state: DonationState,
    pub created_at_ms: i64,
    pub funding: Funding,
    /// What the donor paid in their own currency, when it was another than the campaign's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid: Option<PaidView>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "crate::ids::opt_as_string")]
    pub recurring_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "crate::ids::opt_as_string")]
    pub gift_item_id: Option<i64>,
}

/// What a donor paid in their own currency for a gift in another.
#[derive(Debug, Clone, Serialize)]
pub struct PaidView {
    pub amount: String,
    pub currency: Currency,
}

impl Donation {
    /// The receipt's number: the charity's, the year and the donation (unique, never reused).
    pub fn receipt_no(&self) -> String {
        let year = jiff::Timestamp::from_millisecond(self.created_at_ms).map(|t| t.strftime("%Y").to_string()).unwrap_or_default();
        format!("QB-{}-{year}-{}", self.charity.get(), self.id)
    }

    /// `for_charity`: the donor's name is hidden when they asked to give anonymously.
    pub fn view(&self, for_charity: bool) -> DonationView {
        let donor = if for_charity && self.anonymous { "anonymous".to_string() } else { self.donor_name.clone() };
        DonationView {
            id: self.id,
            campaign_id: self.campaign_id,
            receipt_no: self.receipt_no(),
            donor,
            amount: crate::wallet::decimal(self.amount_minor, self.currency),
            matched: crate::wallet::decimal(self.matched_minor, self.currency),
            amount_minor: self.amount_minor,
            matched_minor: self.matched_minor,
            currency: self.currency,
            message: self.message.clone(),
            state: self.state,
            created_at_ms: self.created_at_ms,
            funding: self.funding,
            paid: (self.paid_currency != self.currency)
                .then(|| PaidView { amount: crate::wallet::decimal(self.paid_minor, self.paid_currency), currency: self.paid_currency }),
            recurring_id: self.recurring_id,
            gift_item_id: self.gift_item_id,
        }
    }
}

/// What the charity domain works with: the people who give, their wallets and cards, their friends
/// (a gift in a friend's name), the merchants charities are, and payments' planning (which balance
/// pays, at which price, across which border).
pub struct Charities {
    core: Arc<Core>,
    people: Arc<People>,
    merchants: Arc<Merchants>,
    wallet: Arc<Wallet>,
    social: Arc<Social>,
    payments: Arc<Payments>,
    pub live: live::Live,
    /// Hot reads of every donation. A campaign's row never changes after it is made (its totals live
    /// beside it), so it is kept for [`CAMPAIGN_CACHE_TTL`]; a charity's state is seen by other
    /// instances within [`crate::cache::TTL`] (this one forgets it at once).
    campaigns: TimedCache<i64, Campaign>,
    charities: TimedCache<MerchantId, Charity>,
}

/// How long a campaign's (unchanging) row is kept in memory.
const CAMPAIGN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// The charity domain's parts (see [`Charities`]).
pub(crate) struct Parts {
    pub core: Arc<Core>,
    pub people: Arc<People>,
    pub merchants: Arc<Merchants>,
    pub wallet: Arc<Wallet>,
    pub social: Arc<Social>,
    pub payments: Arc<Payments>,
}

impl Charities {
    pub(crate) fn new(p: Parts) -> Charities {
        Charities {
            core: p.core,
            people: p.people,
            merchants: p.merchants,
            wallet: p.wallet,
            social: p.social,
            payments: p.payments,
            live: live::Live::new(),
            campaigns: TimedCache::with_ttl(CAMPAIGN_CACHE_TTL),
            charities: TimedCache::default(),
        }
    }

    /// An operator registers a merchant as a charity (its registration, with the audit row): fee
    /// `fee_bps` on donations, none by default.
    pub async fn register(
        &self,
        mchid: &str,
        charity_number: &str,
        jurisdiction: &str,
        fee_bps: Option<i64>,
        audit: Option<::store::Effect>,
    ) -> Result<Charity> {
        let merchant = self.merchants.merchant(mchid).await?;
        let number = charity_number.trim();
        if number.is_empty() || number.chars().count() > 32 || !number.chars().all(|c| c.is_ascii_alphanumeric() || "-/ ".contains(c)) {
            return Err(PlatformError::invalid("charity_number", "1 to 32 letters, digits, '-', '/' or spaces"));
        }
        let jurisdiction = jurisdiction.trim().to_ascii_uppercase();
        if crate::merchants::countries::country(&jurisdiction).is_none() {
            return Err(PlatformError::invalid("jurisdiction", "the ISO 3166-1 alpha-2 code of a country Qianbao acquires in"));
        }
        let fee_bps = fee_bps.unwrap_or(0);
        if !(0..=1000).contains(&fee_bps) {
            return Err(PlatformError::invalid("fee_bps", "0 to 1000 basis points"));
        }
        let charity = Charity {
            merchant_id: merchant.merchant.id,
            mchid: merchant.merchant.mchid.clone(),
            name: merchant.merchant.name.clone(),
            charity_number: number.to_string(),
            jurisdiction,
            state: CharityState::Active,
            fee_bps,
            created_at_ms: self.core.now_ms(),
        };
        let row = charity.clone();
        let inserted = self.core.transaction(move |c| {
            let inserted = store::insert_charity(c, &row)?;
            crate::audit::with_audit(c, inserted, &audit)
        });
        if !inserted.await? {
            return Err(PlatformError::conflict(
                crate::Conflict::CharityRegistered,
                "this merchant is a charity already, or another charity has this registration",
            ));
        }
        Ok(charity)
    }

    /// Suspend a charity (it takes no donations) or make it active again, with the audit row.
    pub async fn set_state(&self, mchid: &str, state: CharityState, audit: Option<::store::Effect>) -> Result<Charity> {
        let charity = self.charity(mchid).await?;
        let merchant = charity.merchant_id;
        let changed = self.core.transaction(move |c| {
            let changed = store::set_state(c, merchant, state)?;
            crate::audit::with_audit(c, changed, &audit)
        });
        changed.await?;
        self.charities.forget(&merchant);
        self.charity(mchid).await
    }

    /// A charity by its merchant's mchid.
    pub async fn charity(&self, mchid: &str) -> Result<Charity> {
        let merchant = self.merchants.merchant(mchid).await.map_err(|_| PlatformError::NotFound("charity"))?.merchant.id;
        self.charity_of(merchant).await
    }

    pub async fn charity_of(&self, merchant: MerchantId) -> Result<Charity> {
        if let Some(hit) = self.charities.get(&merchant) {
            return Ok(hit);
        }
        let ticket = self.charities.ticket();
        let found = self.core.read(move |c| store::charity(c, merchant)).await?.ok_or(PlatformError::NotFound("charity"))?;
        self.charities.put_read(ticket, merchant, found.clone());
        Ok(found)
    }

    /// A charity's state as stored now (not cached), put back in the cache.
    pub(crate) async fn charity_fresh(&self, merchant: MerchantId) -> Result<CharityState> {
        self.charities.forget(&merchant);
        Ok(self.charity_of(merchant).await?.state)
    }

    /// Donations' day totals for settlement (see `store::day_totals`).
    pub(crate) async fn day_totals(&self, start_ms: i64, end_ms: i64, time_zone: &str) -> Result<Vec<crate::payments::DayTotal>> {
        let tz = time_zone.to_string();
        self.core.read(move |c| store::day_totals(c, start_ms, end_ms, &tz)).await
    }
}
