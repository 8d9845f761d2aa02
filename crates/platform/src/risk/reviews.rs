//! Holds for review: a transfer to a friend or a withdrawal that a risk rule holds waits, its money a
//! ledger pending transfer, until a reviewer of the risk role releases it (the transfer can be accepted,
//! the withdrawal goes to the bank) or returns it (the money goes back to its owner), with a reason.
//! A review not decided by its deadline returns the money: for a transfer the ledger's own expiry does it
//! (the review's deadline is the transfer's), for a withdrawal the deadline sweep. A decision commits with
//! its audit row and with the money's movement or the held row's change, in one transaction: a review is
//! decided once, and a decided review never moves money again.

use super::store;
use crate::audit::Audit;
use crate::core::Core;
use crate::operators::Acting;
use crate::p2p::P2p;
use crate::wallet::Wallet;
use crate::{Conflict, PersonId, PlatformError, Result};
use money::Currency;
use serde::Serialize;
use std::sync::Arc;

/// How long a held withdrawal waits for a reviewer before its money goes back.
pub const WITHDRAWAL_REVIEW_MS: i64 = 24 * 3_600_000;
/// Reviews listed, and returned by one sweep, at most.
pub const REVIEWS_PAGE_MAX: i64 = 200;

text_enum! {
    pub enum ReviewKind {
        Transfer => "transfer",
        Withdrawal => "withdrawal",
    }
}

text_enum! {
    pub enum ReviewState {
        Waiting => "waiting",
        /// The movement went ahead.
        Released => "released",
        /// The money went back to its owner by a reviewer's decision.
        Returned => "returned",
        /// Not decided by the deadline: the money went back.
        Expired => "expired",
    }
}

/// A held movement and what the engine saw.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub kind: ReviewKind,
    pub person: PersonId,
    pub currency: Currency,
    pub amount_minor: i64,
    pub rule: String,
    pub evidence: serde_json::Value,
    pub state: ReviewState,
    pub created_at_ms: i64,
    pub deadline_at_ms: i64,
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<i64>,
    pub reason: Option<String>,
}

impl Review {
    /// A new waiting review of a movement held by `held`'s rule.
    pub(crate) fn waiting(
        kind: ReviewKind,
        id: i64,
        a: &super::Attempt,
        currency: Currency,
        held: &super::engine::Held,
        now_ms: i64,
        deadline_ms: i64,
    ) -> Review {
        Review {
            id,
            kind,
            person: a.person,
            currency,
            amount_minor: a.amount_minor,
            rule: held.rule.clone(),
            evidence: held.evidence.clone(),
            state: ReviewState::Waiting,
            created_at_ms: now_ms,
            deadline_at_ms: deadline_ms,
            decided_by: None,
            decided_at_ms: None,
            reason: None,
        }
    }

    /// The row that opens this review, committed with the hold.
    pub(crate) fn open(&self) -> ::store::Effect {
        store::open_review(self)
    }
}

/// A decision's guards: the review decided (first: a review decided already fails it) and its audit row.
pub(crate) struct Decision {
    pub guards: Vec<::store::Effect>,
    pub audit: ::store::Effect,
}

pub struct Reviews {
    core: Arc<Core>,
    audit: Arc<Audit>,
    p2p: Arc<P2p>,
    wallet: Arc<Wallet>,
}

impl Reviews {
    pub(crate) fn new(core: Arc<Core>, audit: Arc<Audit>, p2p: Arc<P2p>, wallet: Arc<Wallet>) -> Reviews {
        Reviews { core, audit, p2p, wallet }
    }

    pub async fn get(&self, id: i64) -> Result<Review> {
        self.core.read(move |c| store::review_by_id(c, id)).await?.ok_or(PlatformError::NotFound("review"))
    }

    /// Reviews in a state, oldest first: the waiting ones are the queue.
    pub async fn list(&self, state: ReviewState, limit: i64) -> Result<Vec<Review>> {
        let limit = limit.clamp(1, REVIEWS_PAGE_MAX);
        self.core.read(move |c| store::reviews_in(c, state, limit)).await
    }

    /// Let the held movement go ahead.
    pub async fn release(&self, acting: Acting<'_>, id: i64) -> Result<Review> {
        self.decide(&acting.by.actor(), acting.reason, id, ReviewState::Released).await
    }

    /// Give the held money back to its owner.
    pub async fn give_back(&self, acting: Acting<'_>, id: i64) -> Result<Review> {
        self.decide(&acting.by.actor(), acting.reason, id, ReviewState::Returned).await
    }

    async fn decide(&self, actor: &str, reason: &str, id: i64, to: ReviewState) -> Result<Review> {
        let review = self.get(id).await?;
        if review.state != ReviewState::Waiting {
            return Err(PlatformError::conflict(Conflict::ReviewDecided, format!("this review was decided already: {}", review.state)));
        }
        let now = self.core.now_ms();
        let detail = format!(
            "{} {} {} (rule {}): {to}",
            review.kind,
            crate::wallet::decimal(review.amount_minor, review.currency),
            review.currency,
            review.rule
        );
        let decision = Decision {
            guards: vec![store::decide_review(id, to, actor, reason, now)],
            audit: self.audit.effect(actor, &format!("risk.review.{to}"), &format!("person:{}", review.person), &detail, reason),
        };
        let decided = match (review.kind, to) {
            (ReviewKind::Transfer, ReviewState::Released) => self.p2p.release_held(id, decision).await?,
            (ReviewKind::Transfer, _) => match self.p2p.return_held(id, decision).await? {
                Some(decided) => decided,
                // The ledger's expiry returned it first: say so.
                None => self.expired(id, actor, now).await?,
            },
            (ReviewKind::Withdrawal, ReviewState::Released) => self.wallet.release_held_withdrawal(id, decision).await?,
            (ReviewKind::Withdrawal, _) => self.wallet.return_held_withdrawal(id, decision).await?,
        };
        if !decided {
            return Err(PlatformError::conflict(Conflict::ReviewDecided, "this review was decided already"));
        }
        self.get(id).await
    }

    /// Mark a review whose transfer the ledger expired (the money went back already).
    async fn expired(&self, id: i64, actor: &str, now: i64) -> Result<bool> {
        let guard = store::decide_review(id, ReviewState::Expired, actor, "the transfer expired: the money went back", now);
        self.core.commit_rows(vec![guard], Vec::new()).await?;
        Ok(true)
    }

    /// Reviews past their deadline: the money goes back (the deadline sweep runs this).
    pub(crate) async fn sweep(&self) -> Result<usize> {
        let now = self.core.now_ms();
        let due = self.core.read(move |c| store::reviews_due(c, now, REVIEWS_PAGE_MAX)).await?;
        let mut returned = 0;
        for review in due {
            match self.decide("operator:review-timeout", "not reviewed in time", review.id, ReviewState::Expired).await {
                Ok(_) => returned += 1,
                // Decided meanwhile by a reviewer or another instance's sweep.
                Err(PlatformError::Conflict { code: Conflict::ReviewDecided, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(returned)
    }
}
