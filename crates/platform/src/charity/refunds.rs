//! A gift undone, back the way it came, with its match and the campaign's totals in one commit (once):
//!
//! - a **refund** the charity makes within [`REFUND_DAYS_MAX`]: to the donor's balance, through the FX
//!   positions at the gift's own price when it was paid in another currency (the donor gets back
//!   exactly what they paid), and on to the card for a card gift (the issuer is told after the commit;
//!   if it refuses, the money stays on the donor's balance);
//! - a **chargeback** an operator records when a card's issuer took a gift back: the charity's
//!   receivable to the card rail (the issuer has the money already), its match back to the pledge.
//!
//! A refund interrupted between the commit and the issuer is finished by the deadline sweep.

use super::funding::{leg, position};
use super::{Charities, Donation, DonationState, DonationView, store};
use crate::core::{Commit, Committed};
use crate::payments::Funding;
use crate::wallet::RailOutcome;
use crate::{MerchantId, PlatformError, Result, chart};
use ledger::NewTransfer;

/// How long a charity may refund a donation.
pub const REFUND_DAYS_MAX: i64 = 90;
/// A card refund the issuer has not been told of after this long was interrupted (the sweep tells it).
const CARD_REFUND_INTERRUPTED_MS: i64 = 60_000;
/// Card refunds the sweep finishes per round.
const CARD_REFUNDS_PER_SWEEP_MAX: i64 = 100;

/// Where an undone gift's money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Undo {
    Refund,
    Chargeback,
}

impl Charities {
    /// The charity refunds a donation: the gift back the way it came and its match back to the pledge,
    /// with the campaign's totals, in one commit (once).
    pub async fn refund(&self, charity: MerchantId, donation_id: i64, audit: Option<::store::Effect>) -> Result<DonationView> {
        let d = self.donation_of(charity, donation_id).await?;
        if d.state != DonationState::Donated {
            return Ok(d.view(true));
        }
        if self.core.now_ms() - d.created_at_ms > REFUND_DAYS_MAX * 86_400_000 {
            return Err(PlatformError::invalid("donation", format!("a donation is refunded within {REFUND_DAYS_MAX} days")));
        }
        // Only the refund that committed tells the issuer (one that lost a race to another refund, or to
        // a chargeback, did nothing).
        if self.undo(&d, Undo::Refund, audit).await? && d.funding == Funding::Card {
            self.finish_card_refund(&d).await?;
        }
        self.view_of(donation_id).await
    }

    /// An operator records a card gift's chargeback (the issuer took the money back): the gift and its
    /// match reversed, once.
    pub async fn charge_back(&self, donation_id: i64, audit: Option<::store::Effect>) -> Result<DonationView> {
        let d = self.core.read(move |c| store::donation(c, donation_id)).await?.ok_or(PlatformError::NotFound("donation"))?;
        if d.funding != Funding::Card {
            return Err(PlatformError::invalid("donation", "only a gift paid by card can be charged back"));
        }
        match d.state {
            DonationState::ChargedBack => return Ok(d.view(true)),
            DonationState::Refunded => {
                return Err(PlatformError::conflict(crate::Conflict::DonationRefunded, "this gift was refunded already"));
            }
            DonationState::Donated => {}
        }
        self.undo(&d, Undo::Chargeback, audit).await?;
        self.view_of(donation_id).await
    }

    async fn donation_of(&self, charity: MerchantId, id: i64) -> Result<Donation> {
        match self.core.read(move |c| store::donation(c, id)).await? {
            Some(d) if d.charity == charity => Ok(d),
            _ => Err(PlatformError::NotFound("donation")),
        }
    }

    async fn view_of(&self, id: i64) -> Result<DonationView> {
        let d = self.core.read(move |c| store::donation(c, id)).await?.ok_or(PlatformError::NotFound("donation"))?;
        Ok(d.view(true))
    }

    /// Undo a gift (see [`Self::undo_once`]), once more if its pledge was returned between the read and
    /// the commit. `true` when this call undid it (`false`: undone meanwhile).
    async fn undo(&self, d: &Donation, how: Undo, audit: Option<::store::Effect>) -> Result<bool> {
        for _ in 0..2 {
            if let Some(applied) = self.undo_once(d, how, audit.clone()).await? {
                self.live.changed(d.campaign_id);
                return Ok(applied);
            }
        }
        Err(PlatformError::Internal("a gift's pledge kept changing while it was undone".into()))
    }

    /// One commit: the donation's new state (its guard: once), the totals and the pledge corrected, the
    /// money back, the audit row. `None` when the pledge's guard failed (returned meanwhile).
    async fn undo_once(&self, d: &Donation, how: Undo, audit: Option<::store::Effect>) -> Result<Option<bool>> {
        let mut transfers = gift_back(d, how)?;
        let mut returned = false;
        if d.matched_minor > 0 {
            let pledge = self
                .pledge_of(d.campaign_id)
                .await?
                .ok_or_else(|| PlatformError::Internal("a matched donation without its pledge".into()))?;
            // The match goes back to the pledge while its campaign runs; after its return, to the sponsor
            // (the pledge's guard holds the choice: a return committing meanwhile fails it).
            returned = pledge.returned_at_ms.is_some();
            let back_to = if returned { chart::wallet(pledge.sponsor, d.currency) } else { pledge.escrow() };
            let receivable = chart::merchant_receivable(d.charity, d.currency);
            transfers.push(leg(d, chart::transfer::MATCH_REFUND, receivable, back_to, d.currency, d.matched_minor)?);
        }
        let (state, channel) = match (how, d.funding) {
            (Undo::Chargeback, _) => (DonationState::ChargedBack, None),
            (Undo::Refund, Funding::Card) => (DonationState::Refunded, Some("card_pending")),
            (Undo::Refund, _) => (DonationState::Refunded, Some("balance")),
        };
        let mut guards = store::undo_guards(d, state, channel, returned, self.core.now_ms());
        guards.extend(audit);
        match self.core.commit(Commit { guards, transfers: crate::core::linked(transfers), effects: Vec::new() }).await? {
            Committed::Applied(results) => {
                crate::core::chain_outcome(&results).map_err(|e| PlatformError::Internal(format!("ledger refused: {}", e.code())))?;
                Ok(Some(true))
            }
            Committed::GuardFailed(0) => Ok(Some(false)), // undone meanwhile: the caller reads it
            Committed::GuardFailed(_) => Ok(None),        // the pledge was returned meanwhile: ask again
        }
    }

    /// Tell the card's issuer of a refund that left for the card (idempotent by its key). If the issuer
    /// refuses, the money comes back from the card rail to the donor's balance, once.
    async fn finish_card_refund(&self, d: &Donation) -> Result<()> {
        let reference = d.card_reference.clone().ok_or_else(|| PlatformError::Internal("a card gift without its charge".into()))?;
        // A key of its own: `{op}-refund` is the give-back of a charge whose gift never committed.
        let outcome = self.wallet.refund_card_charge(&reference, &format!("donation-refund-{}", d.id)).await?;
        let (channel, transfers) = match outcome {
            RailOutcome::Approved { .. } | RailOutcome::Pending { .. } => ("card", Vec::new()),
            RailOutcome::Declined { reason } => {
                tracing::warn!(donation = d.id, %reason, "the card issuer refused a gift's refund; it stays on the balance");
                let rail = chart::system_account(chart::account::CARD_RAIL, d.paid_currency);
                let donor = chart::wallet(d.donor, d.paid_currency);
                ("balance", vec![leg(d, chart::transfer::DONATION_CARD_REFUSED, rail, donor, d.paid_currency, d.paid_minor)?])
            }
        };
        // The channel's guard (once) with the money it brings back, in one commit.
        let guards = vec![store::finish_card_refund(d.id, channel)];
        if let Committed::Applied(results) = self.core.commit(Commit { guards, transfers, effects: Vec::new() }).await? {
            crate::core::chain_outcome(&results).map_err(|e| PlatformError::Internal(format!("ledger refused: {}", e.code())))?;
        }
        Ok(())
    }

    /// Card refunds interrupted between their commit and the issuer: tell the issuer now.
    pub(crate) async fn finish_interrupted_card_refunds(&self) -> Result<usize> {
        let before = self.core.now_ms() - CARD_REFUND_INTERRUPTED_MS;
        let pending = self.core.read(move |c| store::pending_card_refunds(c, before, CARD_REFUNDS_PER_SWEEP_MAX)).await?;
        let mut finished = 0;
        for d in &pending {
            // One refund the issuer cannot be told of now does not hold up the others: the next sweep asks again.
            match self.finish_card_refund(d).await {
                Ok(()) => finished += 1,
                Err(e) => tracing::warn!(donation = d.id, error = %e, "a gift's card refund could not be finished; tried again next sweep"),
            }
        }
        Ok(finished)
    }
}

/// The gift's own legs back: from the charity's receivable to the donor's wallet (through the FX
/// positions at the gift's price when it was paid in another currency), and on to the card rail for a
/// card gift's refund; a chargeback ends at the card rail.
fn gift_back(d: &Donation, how: Undo) -> Result<Vec<NewTransfer>> {
    use chart::transfer::{DONATION_CHARGEBACK, DONATION_REFUND, DONATION_TO_CARD};
    let receivable = chart::merchant_receivable(d.charity, d.currency);
    let rail = chart::system_account(chart::account::CARD_RAIL, d.paid_currency);
    let exchanged = d.paid_currency != d.currency;
    let kind = if how == Undo::Chargeback { DONATION_CHARGEBACK } else { DONATION_REFUND };
    // Where the donor's side of the money ends: their wallet, or the card rail for a chargeback.
    let to = if how == Undo::Chargeback { rail } else { chart::wallet(d.donor, d.paid_currency) };
    let mut legs = Vec::new();
    if exchanged {
        legs.push(leg(d, kind, receivable, position(d.currency), d.currency, d.amount_minor)?);
        // The second leg of the same kind: an id of its own.
        let out = leg(d, kind, position(d.paid_currency), to, d.paid_currency, d.paid_minor)?;
        legs.push(NewTransfer { id: chart::derived(d.id, kind, 1), ..out });
    } else {
        legs.push(leg(d, kind, receivable, to, d.currency, d.amount_minor)?);
    }
    if how == Undo::Refund && d.funding == Funding::Card {
        legs.push(leg(d, DONATION_TO_CARD, chart::wallet(d.donor, d.paid_currency), rail, d.paid_currency, d.paid_minor)?);
    }
    Ok(legs)
}
