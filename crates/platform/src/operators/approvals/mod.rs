//! Four eyes: a dangerous action (a ledger correction, a markup change, …) is not done by the operator
//! who asks for it. The request is stored with its payload and reason; a second operator, holding the
//! role the action needs and not the one who asked, approves it, and the action then commits in one
//! transaction with the approval's change of state and its audit row (see [`Approvals::decide`]), or
//! rejects it. A request not decided within [`APPROVAL_TTL_MS`] expires.

use super::{Acting, Role};
use crate::audit::Audit;
use crate::core::Core;
use crate::{Conflict, PlatformError, Result, ids};
use ::store::Conditions;
use std::sync::Arc;

mod store;

text_enum! {
    pub enum ApprovalState {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
        /// Not decided in time.
        Expired => "expired",
    }
}

text_enum! {
    /// The actions that need a second operator.
    pub enum ApprovalAction {
        /// Raw ledger transfers by an operator.
        LedgerCorrection => "ledger.correction",
        /// A change of an FX markup.
        MarkupChange => "fx.markup",
        /// Lifting a freeze.
        Unfreeze => "risk.unfreeze",
        /// An operator's large refund of a merchant's payment.
        ManualRefund => "payments.manual_refund",
    }
}

/// A pending request expires after a day.
pub const APPROVAL_TTL_MS: i64 = 24 * 3_600 * 1_000;
/// Requests waiting at most: a bound on the queue an approver reads.
pub const APPROVALS_PENDING_MAX: i64 = 1_000;
/// A page of the list at most.
pub const APPROVALS_PAGE_MAX: i64 = 200;
/// The bytes of an action's payload at most (a full ledger batch fits).
pub const APPROVAL_PAYLOAD_BYTES_MAX: usize = 4 << 20;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Approval {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub action: ApprovalAction,
    /// What the action will do, as its endpoint took it (JSON).
    #[serde(skip)]
    pub payload: String,
    /// What it does, for the approver to read (accounts, amounts, before → after).
    pub summary: String,
    /// The role the approver must hold.
    pub role: Role,
    pub requested_by: String,
    pub reason: String,
    pub state: ApprovalState,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    /// What the action answered when it ran.
    pub result: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub decided_at_ms: Option<i64>,
}

pub struct Approvals {
    core: Arc<Core>,
    audit: Arc<Audit>,
}

impl Approvals {
    pub(super) fn new(core: Arc<Core>, audit: Arc<Audit>) -> Approvals {
        Approvals { core, audit }
    }

    /// Ask for an action; it waits for a second operator.
    pub async fn request(
        &self,
        acting: Acting<'_>,
        action: ApprovalAction,
        role: Role,
        payload: String,
        summary: String,
    ) -> Result<Approval> {
        if payload.len() > APPROVAL_PAYLOAD_BYTES_MAX {
            return Err(PlatformError::invalid("payload", format!("at most {APPROVAL_PAYLOAD_BYTES_MAX} bytes")));
        }
        let now = self.core.now_ms();
        let approval = Approval {
            id: ids::object_id(now),
            action,
            payload,
            summary,
            role,
            requested_by: acting.by.actor(),
            reason: acting.reason.to_string(),
            state: ApprovalState::Pending,
            decided_by: None,
            decision_reason: None,
            result: None,
            created_at_ms: now,
            expires_at_ms: now + APPROVAL_TTL_MS,
            decided_at_ms: None,
        };
        let target = format!("approval:{}", approval.id);
        let audit = self.audit.effect(&approval.requested_by, &format!("{action}.requested"), &target, &approval.summary, acting.reason);
        let a = approval.clone();
        if !self.core.transaction(move |c| store::insert(c, &a, APPROVALS_PENDING_MAX, &audit)).await? {
            return Err(PlatformError::Unavailable);
        }
        Ok(approval)
    }

    pub async fn get(&self, id: i64) -> Result<Approval> {
        let now = self.core.now_ms();
        self.core.read(move |c| store::by_id(c, id, now)).await?.ok_or(PlatformError::NotFound("approval"))
    }

    /// Newest first, of one state or all.
    pub async fn list(&self, state: Option<ApprovalState>, limit: i64) -> Result<Vec<Approval>> {
        let (now, limit) = (self.core.now_ms(), limit.clamp(1, APPROVALS_PAGE_MAX));
        self.core.read(move |c| store::list(c, state, now, limit)).await
    }

    /// Check that `acting` may approve, and answer the approval with what must commit with its action:
    /// the guard that moves it from pending to approved (it fails if another decision won the race or it
    /// expired meanwhile) and the audit row. Run the action with them; if the guard fails, nothing ran.
    pub async fn decide(&self, acting: Acting<'_>, id: i64) -> Result<(Approval, Conditions)> {
        let approval = self.decidable(&acting, id).await?;
        let (by, now) = (acting.by.actor(), self.core.now_ms());
        let guard = store::decide(id, ApprovalState::Approved, &by, acting.reason, now);
        let detail = format!("requested by {}: {}", approval.requested_by, approval.summary);
        let audit = self.audit.effect(&by, &format!("{}.approved", approval.action), &format!("approval:{id}"), &detail, acting.reason);
        Ok((approval, Conditions { guards: vec![guard], effects: vec![audit] }))
    }

    /// The action ran: keep what it answered beside the decision.
    pub async fn record_result(&self, id: i64, result: String) -> Result<()> {
        self.core.write(move |c| store::set_result(c, id, &result)).await?;
        Ok(())
    }

    pub async fn reject(&self, acting: Acting<'_>, id: i64) -> Result<Approval> {
        let approval = self.decidable(&acting, id).await?;
        let (by, now) = (acting.by.actor(), self.core.now_ms());
        let guard = store::decide(id, ApprovalState::Rejected, &by, acting.reason, now);
        let audit =
            self.audit.effect(&by, &format!("{}.rejected", approval.action), &format!("approval:{id}"), &approval.summary, acting.reason);
        if self.core.transaction_with(Conditions { guards: vec![guard], effects: vec![audit] }, |_| Ok(())).await?.is_none() {
            return Err(decided());
        }
        self.get(id).await
    }

    async fn decidable(&self, acting: &Acting<'_>, id: i64) -> Result<Approval> {
        let approval = self.get(id).await?;
        if approval.state != ApprovalState::Pending {
            return Err(decided());
        }
        if approval.requested_by == acting.by.actor() {
            return Err(PlatformError::Forbidden("four eyes: a second operator decides, not the one who asked".into()));
        }
        if !acting.by.has(approval.role) {
            return Err(PlatformError::Forbidden(format!("deciding this needs the role {}", approval.role)));
        }
        Ok(approval)
    }
}

/// The error when the guard of a decision fails: someone decided first, or it expired.
pub fn decided() -> PlatformError {
    PlatformError::conflict(Conflict::AlreadyResolved, "this request is decided or expired")
}
