//! A sponsor pledges to match a campaign's donations 1:1, up to a cap and a per-donor limit.
//!
//! The whole cap moves from the sponsor's wallet into the pledge's escrow account when the pledge is
//! made (in one commit with the pledge's row): a match can then never fail for want of the sponsor's
//! money, and the escrow (which may not be overdrawn) bounds the match by the ledger itself. What is
//! left when the campaign ends goes back to the sponsor.

use super::{Charities, Pledge, PledgeView, store};
use crate::core::{Commit, Committed};
use crate::people::Direction;
use crate::wallet::{decimal, parse_amount};
use crate::{Conflict, PersonId, PlatformError, Result, chart};
use ledger::{AccountFlags, NewAccount, NewTransfer, TransferFlags};

/// What a sponsor pledges.
#[derive(Debug, Clone, Copy)]
pub struct NewPledge<'a> {
    pub currency: &'a str,
    /// The most the sponsor adds in all, and for any one donor (decimals, major units).
    pub cap: &'a str,
    pub per_donor_max: &'a str,
    pub pin: Option<&'a str>,
}

impl Charities {
    /// Pledge a match of an open campaign (one per campaign). The same key is the same pledge.
    pub async fn pledge(&self, sponsor: PersonId, campaign_id: i64, ask: NewPledge<'_>, key: Option<&str>) -> Result<PledgeView> {
        let (_, _, currency) = self.taking_campaign(campaign_id, ask.currency, false).await?;
        let now = self.core.now_ms();
        let cap = parse_amount("cap", ask.cap, currency)?.minor();
        let per_donor_max = parse_amount("per_donor_max", ask.per_donor_max, currency)?.minor();
        if per_donor_max > cap {
            return Err(PlatformError::invalid("per_donor_max", "at most the cap"));
        }
        let pledge = Pledge {
            id: self.core.request_id("match-pledge", sponsor, key),
            campaign_id,
            sponsor,
            currency,
            cap_minor: cap,
            per_donor_max_minor: per_donor_max,
            matched_minor: 0,
            created_at_ms: now,
            returned_at_ms: None,
        };
        if let Some(existing) = self.pledge_of(campaign_id).await? {
            return self.same_pledge(existing, &pledge);
        }
        self.people.authorize_payment(sponsor, cap, ask.pin).await?;
        self.fund(&pledge).await?;
        let made = self.pledge_of(campaign_id).await?.ok_or(PlatformError::NotFound("pledge"))?;
        self.same_pledge(made, &pledge)
    }

    /// The escrow made and funded with the cap, in one commit with the pledge's row.
    async fn fund(&self, p: &Pledge) -> Result<()> {
        let escrow = NewAccount {
            id: p.escrow(),
            currency: p.currency,
            code: chart::account::MATCH_ESCROW,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            user_data: p.id as u128,
        };
        self.core.accounts(vec![escrow]).await?;
        let fund = NewTransfer {
            id: chart::derived(p.id, chart::transfer::MATCH_FUND, 0),
            debit_account_id: chart::wallet(p.sponsor, p.currency),
            credit_account_id: p.escrow(),
            amount: chart::ledger_amount(p.cap_minor, p.currency)?,
            pending_id: 0,
            currency: Some(p.currency),
            code: chart::transfer::MATCH_FUND,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: p.campaign_id as u128,
        };
        let chain = self.people.limited(p.sponsor, Direction::Out, p.currency, p.cap_minor, None, fund).await?;
        match self
            .core
            .commit(Commit { guards: vec![store::insert_pledge(p)], transfers: chain.chain.clone(), effects: Vec::new() })
            .await?
        {
            Committed::Applied(results) => chain.outcome(&results).map(|_| ()),
            Committed::GuardFailed(_) => Ok(()), // a pledge raced in first: the caller reads which
        }
    }

    /// Give back to their sponsors what pledges did not match once their campaigns ended (the deadline
    /// sweep): the escrow's whole balance (a balancing transfer), once per pledge. The pledges returned.
    pub(crate) async fn return_unmatched(&self, limit: i64) -> Result<usize> {
        let now = self.core.now_ms();
        let due = self.core.read(move |c| store::pledges_to_return(c, now, limit)).await?;
        for p in &due {
            let back = NewTransfer {
                id: chart::derived(p.id, chart::transfer::MATCH_RETURN, 0),
                debit_account_id: p.escrow(),
                credit_account_id: chart::wallet(p.sponsor, p.currency),
                amount: ledger::AMOUNT_ALL,
                pending_id: 0,
                currency: Some(p.currency),
                code: chart::transfer::MATCH_RETURN,
                flags: TransferFlags::BALANCING_DEBIT,
                timeout_s: 0,
                user_data: p.campaign_id as u128,
            };
            let commit = Commit { guards: vec![store::mark_returned(p.id, now)], transfers: vec![back], effects: Vec::new() };
            if let Committed::Applied(results) = self.core.commit(commit).await? {
                crate::core::chain_outcome(&results)
                    .map_err(|e| PlatformError::Internal(format!("ledger refused a match's return: {}", e.code())))?;
            }
        }
        Ok(due.len())
    }

    fn same_pledge(&self, existing: Pledge, asked: &Pledge) -> Result<PledgeView> {
        if existing.id != asked.id {
            return Err(PlatformError::conflict(Conflict::MatchPledged, "this campaign has a sponsor's match already"));
        }
        let money = |minor: i64| decimal(minor, existing.currency);
        Ok(PledgeView {
            cap: money(existing.cap_minor),
            per_donor_max: money(existing.per_donor_max_minor),
            matched: money(existing.matched_minor),
            left: money(existing.cap_minor - existing.matched_minor),
        })
    }
}
