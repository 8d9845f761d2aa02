//! Freezes. A frozen person can send no money out (payments, transfers, red packets, withdrawals,
//! conversions) and receives money only if the freeze allows it; a frozen card is charged for nothing;
//! a frozen merchant takes no new order and no payment. A freeze applies at once, on every instance:
//! the check reads the table on every movement (one indexed read; SQLite reads in place). Lifting a
//! freeze needs a second risk operator (four eyes, see `operators::approvals`).

use super::store;
use crate::audit::Audit;
use crate::core::Core;
use crate::operators::Acting;
use crate::{Conflict, PlatformError, Result, ids};
use std::sync::Arc;

text_enum! {
    /// What is frozen.
    pub enum FreezeKind {
        Person => "person",
        Card => "card",
        Merchant => "merchant",
    }
}

/// Which way money would move for the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Money leaving (or a merchant taking a payment).
    Out,
    /// Money arriving (a top-up, an accepted transfer, a claimed red packet).
    In,
}

/// Active freezes listed at most.
pub const FREEZES_PAGE_MAX: i64 = 500;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Freeze {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub kind: FreezeKind,
    /// The person's or card's id, or the merchant's mchid.
    pub subject: String,
    /// Money may still arrive (a person only).
    pub inbound_allowed: bool,
    pub reason: String,
    pub frozen_by: String,
    pub frozen_at_ms: i64,
    pub lifted_by: Option<String>,
    pub lifted_at_ms: Option<i64>,
}

/// Refuse a movement of money the subject's freeze forbids: `ACCOUNT_FROZEN`, `CARD_FROZEN` or
/// `MERCHANT_FROZEN`, naming the freeze's reason.
pub(crate) async fn refuse_if_frozen(core: &Core, kind: FreezeKind, subject: String, flow: Flow) -> Result<()> {
    let Some(freeze) = core.read(move |c| store::active(c, kind, &subject)).await? else { return Ok(()) };
    if flow == Flow::In && freeze.inbound_allowed {
        return Ok(());
    }
    let code = match kind {
        FreezeKind::Person => Conflict::AccountFrozen,
        FreezeKind::Card => Conflict::CardFrozen,
        FreezeKind::Merchant => Conflict::MerchantFrozen,
    };
    // The reason is the operator's (a screening hit must not be told to its subject).
    Err(PlatformError::conflict(code, format!("this {kind} is frozen since {}: contact the operator", freeze.frozen_at_ms)))
}

pub struct Freezes {
    core: Arc<Core>,
    audit: Arc<Audit>,
}

impl Freezes {
    pub(crate) fn new(core: Arc<Core>, audit: Arc<Audit>) -> Freezes {
        Freezes { core, audit }
    }

    /// Freeze a subject now (risk). Freezing what is frozen is refused: lift first, then freeze anew.
    pub async fn freeze(&self, acting: Acting<'_>, kind: FreezeKind, subject: &str, inbound_allowed: bool) -> Result<Freeze> {
        self.freeze_as(&acting.by.actor(), acting.reason, kind, subject, inbound_allowed).await
    }

    /// Freeze a subject because screening found a possible match (the reason names it).
    pub(crate) async fn freeze_by_screening(&self, kind: FreezeKind, subject: &str, reason: &str) -> Result<Freeze> {
        self.freeze_as("operator:screening", reason, kind, subject, true).await
    }

    async fn freeze_as(&self, actor: &str, reason: &str, kind: FreezeKind, subject: &str, inbound_allowed: bool) -> Result<Freeze> {
        if subject.is_empty() || subject.len() > 64 {
            return Err(PlatformError::invalid("id", "1 to 64 characters"));
        }
        let now = self.core.now_ms();
        let freeze = Freeze {
            id: ids::object_id(now),
            kind,
            subject: subject.to_string(),
            inbound_allowed: inbound_allowed && kind == FreezeKind::Person,
            reason: reason.to_string(),
            frozen_by: actor.to_string(),
            frozen_at_ms: now,
            lifted_by: None,
            lifted_at_ms: None,
        };
        let detail = if freeze.inbound_allowed { "money out stopped, money in allowed" } else { "money out and in stopped" };
        let audit = self.audit.effect(actor, "risk.freeze", &format!("{kind}:{subject}"), detail, reason);
        let f = freeze.clone();
        if !self.core.transaction(move |c| store::insert(c, &f, &audit)).await? {
            return Err(PlatformError::conflict(Conflict::AlreadyFrozen, format!("this {kind} is frozen already")));
        }
        Ok(freeze)
    }

    pub async fn get(&self, id: i64) -> Result<Freeze> {
        self.core.read(move |c| store::by_id(c, id)).await?.ok_or(PlatformError::NotFound("freeze"))
    }

    /// Active freezes, newest first.
    pub async fn active(&self) -> Result<Vec<Freeze>> {
        self.core.read(|c| store::list_active(c, FREEZES_PAGE_MAX)).await
    }

    /// Lift a freeze, in one transaction with `conditions` (the approval's guard and audit row). `None`:
    /// a guard changed no row. A freeze lifted already is refused.
    pub async fn lift(&self, id: i64, by: &str, conditions: ::store::Conditions) -> Result<Option<Freeze>> {
        let (by, now) = (by.to_string(), self.core.now_ms());
        match self.core.transaction_with(conditions, move |c| store::lift(c, id, &by, now)).await? {
            None => Ok(None),
            Some(false) => Err(PlatformError::conflict(Conflict::AlreadyResolved, "this freeze is lifted already")),
            Some(true) => self.get(id).await.map(Some),
        }
    }
}
