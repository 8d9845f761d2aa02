//! Transfers between friends: the money leaves the sender at once as a ledger *pending* transfer to the
//! receiver with a 24 h timeout, committed in one transaction with the row that explains it. Accepting
//! posts it (the money arrives), declining voids it (the money returns), and if neither happens the
//! ledger's expiry voids it exactly once. The transfer's state is the ledger's own.
//!
//! A transfer's id derives from the sender's idempotency key: the same request can only ever make the
//! same transfer, however late it is retried.
//!
//! A transfer the risk engine holds for review is made the same way (the money is held alike) with its
//! review; it cannot be accepted or declined until a reviewer releases it, and a reviewer may instead
//! return the money (see [`crate::risk::reviews`]).

mod store;

use crate::core::{Commit, Committed, Core};
use crate::history::{HistoryItem, HistoryKind, Window};
use crate::people::{Direction, People, leg_ids};
use crate::risk::reviews::{Decision, Review, ReviewKind};
use crate::social::Social;
use crate::wallet::{self, ChargeFor, Wallet};
use crate::{Conflict, PersonId, PlatformError, Result, chart};
use ledger::{NewTransfer, PendingState, TransferError, TransferFlags};
use money::Currency;
use serde::Serialize;
use std::sync::Arc;

text_enum! {
    pub enum P2pState {
        Pending => "pending",
        Accepted => "accepted",
        Declined => "declined",
        /// Not accepted in time: the money went back to the sender.
        Refunded => "refunded",
        /// Held for a risk review: the money is on its way, not yet acceptable.
        Held => "held",
        /// A risk review gave the money back to the sender.
        Returned => "returned",
    }
}

/// Whether a transfer is held for review (`p2p_transfers.held`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    None = 0,
    Waiting = 1,
    Returned = 2,
}

impl Hold {
    fn of(stored: i64) -> Hold {
        match stored {
            1 => Hold::Waiting,
            2 => Hold::Returned,
            _ => Hold::None,
        }
    }

    /// The state shown: the ledger's, unless a review holds the money or returned it.
    fn shown(self, ledger: P2pState) -> P2pState {
        match (self, ledger) {
            (Hold::Waiting, P2pState::Pending) => P2pState::Held,
            (Hold::Returned, P2pState::Declined) => P2pState::Returned,
            (_, state) => state,
        }
    }
}

impl P2pState {
    fn of(state: PendingState) -> P2pState {
        match state {
            PendingState::Pending => P2pState::Pending,
            PendingState::Posted => P2pState::Accepted,
            PendingState::Voided => P2pState::Declined,
            PendingState::Expired => P2pState::Refunded,
        }
    }
}

/// A transfer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    pub id: i64,
    pub sender: PersonId,
    pub receiver: PersonId,
    pub currency: Currency,
    pub amount_minor: i64,
    pub note: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub held: Hold,
}

/// A transfer, as its sender or receiver sees it.
#[derive(Debug, Clone, Serialize)]
pub struct P2pTransfer {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub sender_id: PersonId,
    pub receiver_id: PersonId,
    pub currency: Currency,
    pub amount: String,
    pub note: String,
    pub state: P2pState,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// What a person asks for when sending money to a friend.
#[derive(Debug, Clone, Copy)]
pub struct SendTransfer<'a> {
    pub to: PersonId,
    /// Decimal in major units of `currency`.
    pub amount: &'a str,
    pub currency: &'a str,
    pub note: &'a str,
    pub pin: Option<&'a str>,
    /// Pay straight from this linked card instead of the balance.
    pub card: Option<i64>,
}

/// A transfer as its sender or receiver sees it, its hold in `state`.
fn shown(s: Sent, state: P2pState) -> P2pTransfer {
    P2pTransfer {
        id: s.id,
        sender_id: s.sender,
        receiver_id: s.receiver,
        currency: s.currency,
        amount: wallet::decimal(s.amount_minor, s.currency),
        note: s.note,
        state,
        created_at_ms: s.created_at_ms,
        expires_at_ms: s.expires_at_ms,
    }
}

fn hold_id(id: i64) -> u128 {
    chart::derived(id, chart::transfer::P2P, 0)
}

pub struct P2p {
    core: Arc<Core>,
    people: Arc<People>,
    social: Arc<Social>,
    wallet: Arc<Wallet>,
}

impl P2p {
    pub(crate) fn new(core: Arc<Core>, people: Arc<People>, social: Arc<Social>, wallet: Arc<Wallet>) -> P2p {
        P2p { core, people, social, wallet }
    }

    pub async fn send(&self, sender: PersonId, request: SendTransfer<'_>, key: Option<&str>) -> Result<P2pTransfer> {
        let sent = self.parse(sender, request, key).await?;
        let id = sent.id;
        if let Some(existing) = self.core.read(move |c| store::by_id(c, id)).await? {
            return self.retried(sender, existing, &sent).await;
        }
        let hold = NewTransfer {
            id: hold_id(sent.id),
            debit_account_id: chart::wallet(sender, sent.currency),
            credit_account_id: chart::wallet(sent.receiver, sent.currency),
            amount: chart::ledger_amount(sent.amount_minor, sent.currency)?,
            pending_id: 0,
            currency: Some(sent.currency),
            code: chart::transfer::P2P,
            flags: TransferFlags::PENDING,
            timeout_s: self.core.config.transfer_timeout_s,
            user_data: sent.id as u128,
        };
        let attempt = crate::risk::Attempt {
            payee: Some(sent.receiver),
            card: request.card,
            ..crate::risk::Attempt::of(crate::risk::engine::Kind::Transfer, sender, sent.currency.numeric(), sent.amount_minor)
        };
        let held = self.people.assess(&attempt, request.pin).await?;
        let (mut sent, mut effects) = (sent, Vec::new());
        if let Some(held) = &held {
            let review =
                Review::waiting(ReviewKind::Transfer, sent.id, &attempt, sent.currency, held, sent.created_at_ms, sent.expires_at_ms);
            effects.push(review.open());
            sent.held = Hold::Waiting;
        }
        if request.card.is_none() {
            self.people.authorize_payment(sender, sent.amount_minor, request.pin).await?;
        }
        // The limits are checked before a card is charged (its charge checks the PIN).
        let chain = self.people.limited(sender, Direction::Out, sent.currency, sent.amount_minor, None, hold).await?;
        let mut guards = vec![store::insert(&sent)];
        let (chain, charge) = match request.card {
            None => (chain, None),
            Some(card) => {
                let charge = self
                    .wallet
                    .charge_for_payment(ChargeFor {
                        person: sender,
                        card,
                        currency: sent.currency,
                        amount_minor: sent.amount_minor,
                        pin: request.pin,
                        op: sent.id,
                        funding_kind: chart::transfer::CARD_FUND,
                        mandated: false,
                    })
                    .await?;
                guards.push(charge.guard(self.core.now_ms()));
                (chain.funded_by(charge.funding), Some(charge))
            }
        };
        let outcome = match self.core.commit(Commit { guards, transfers: chain.chain.clone(), effects }).await {
            Ok(Committed::Applied(results)) => chain.outcome(&results).map(|_| true),
            Ok(Committed::GuardFailed(0)) => Ok(false), // the same request raced in first: follow it
            Ok(Committed::GuardFailed(_)) => {
                Err(PlatformError::Declined("the card charge was given back: pay again with a new request".into()))
            }
            Err(e) => Err(e),
        };
        if let (Err(_), Some(charge)) = (&outcome, &charge) {
            self.wallet.give_back(charge.op, &charge.reference).await?;
        }
        // Written now, the row is `sent` itself, and its hold was made by this very commit (the row's
        // insert is the guard that let the chain run): pending as of that commit. Neither is read back.
        if outcome? {
            self.people.risk.record(&attempt, false);
            let state = sent.held.shown(P2pState::Pending);
            Ok(shown(sent, state))
        } else {
            self.transfer(sender, sent.id).await
        }
    }

    /// The request, checked: friends, currencies, the note.
    async fn parse(&self, sender: PersonId, request: SendTransfer<'_>, key: Option<&str>) -> Result<Sent> {
        let currency = wallet::parse_currency(request.currency)?;
        let amount = wallet::parse_amount("amount", request.amount, currency)?;
        let note = request.note;
        if note.chars().count() > self.core.config.note_chars_max || note.chars().any(char::is_control) {
            return Err(PlatformError::invalid(
                "note",
                format!("at most {} characters, no control characters", self.core.config.note_chars_max),
            ));
        }
        if sender == request.to {
            return Err(PlatformError::invalid("to", "you cannot send money to yourself"));
        }
        self.social.require_friends(sender, request.to).await?;
        self.people.require_p2p_allowed(sender, request.to).await?;
        self.wallet.require_currency(sender, currency).await?;
        if !self.wallet.currencies(request.to).await?.contains(&currency) {
            return Err(PlatformError::invalid("currency", format!("the receiver's wallet does not hold {currency}")));
        }
        let now = self.core.now_ms();
        Ok(Sent {
            id: self.core.request_id("p2p", sender, key),
            sender,
            receiver: request.to,
            currency,
            amount_minor: amount.minor(),
            note: note.to_string(),
            created_at_ms: now,
            expires_at_ms: now + i64::from(self.core.config.transfer_timeout_s) * 1000,
            held: Hold::None,
        })
    }

    /// A retried request finds the transfer it made; another request under the same key is refused.
    async fn retried(&self, sender: PersonId, existing: Sent, asked: &Sent) -> Result<P2pTransfer> {
        let same =
            existing.receiver == asked.receiver && existing.currency == asked.currency && existing.amount_minor == asked.amount_minor;
        if !same || existing.note != asked.note {
            return Err(PlatformError::conflict(Conflict::IdempotencyKeyReused, "this Idempotency-Key was used for a different transfer"));
        }
        self.transfer(sender, existing.id).await
    }

    async fn view(&self, s: Sent) -> Result<P2pTransfer> {
        let found = self.core.ledger_transfer(hold_id(s.id)).await?;
        let state = match found {
            Some((_, Some(record))) => s.held.shown(P2pState::of(record.state)),
            _ => return Err(PlatformError::Internal(format!("transfer {} has no hold in the ledger", s.id))),
        };
        Ok(shown(s, state))
    }

    /// A transfer, as its sender or receiver sees it.
    pub async fn transfer(&self, person: PersonId, id: i64) -> Result<P2pTransfer> {
        let found = self.core.read(move |c| store::by_id(c, id)).await?;
        match found {
            Some(s) if s.sender == person || s.receiver == person => self.view(s).await,
            _ => Err(PlatformError::NotFound("transfer")),
        }
    }

    pub async fn accept(&self, person: PersonId, id: i64) -> Result<P2pTransfer> {
        self.resolve(person, id, true).await
    }

    pub async fn decline(&self, person: PersonId, id: i64) -> Result<P2pTransfer> {
        self.resolve(person, id, false).await
    }

    async fn resolve(&self, person: PersonId, id: i64, accept: bool) -> Result<P2pTransfer> {
        let t = self.transfer(person, id).await?;
        if t.receiver_id != person {
            return Err(PlatformError::Forbidden("only the receiver can accept or decline a transfer".into()));
        }
        if accept {
            // A frozen receiver takes money in only if the freeze allows it (declining returns it).
            let frozen = crate::risk::FreezeKind::Person;
            crate::risk::freezes::refuse_if_frozen(&self.core, frozen, person.to_string(), crate::risk::Flow::In).await?;
        }
        // A resolved transfer says how it was resolved.
        match t.state {
            P2pState::Accepted => return Err(PlatformError::conflict(Conflict::AlreadyAccepted, "this transfer was already accepted")),
            P2pState::Declined => return Err(PlatformError::conflict(Conflict::AlreadyDeclined, "this transfer was already declined")),
            P2pState::Refunded => return Err(PlatformError::Expired("transfer (the money went back to the sender)")),
            P2pState::Held => {
                return Err(PlatformError::conflict(Conflict::HeldForReview, "this transfer is held for a review: try again later"));
            }
            P2pState::Returned => {
                return Err(PlatformError::conflict(Conflict::AlreadyResolved, "a review gave this transfer's money back to its sender"));
            }
            P2pState::Pending => {}
        }
        let results = self.core.transfers(resolution(id, accept)).await?;
        match crate::core::chain_outcome(&results) {
            Ok(_) => self.transfer(person, id).await,
            Err(TransferError::PendingTransferAlreadyPosted) => {
                Err(PlatformError::conflict(Conflict::AlreadyAccepted, "this transfer was already accepted"))
            }
            Err(TransferError::PendingTransferAlreadyVoided) => {
                Err(PlatformError::conflict(Conflict::AlreadyDeclined, "this transfer was already declined"))
            }
            Err(TransferError::PendingTransferExpired) => Err(PlatformError::Expired("transfer (the money went back to the sender)")),
            Err(TransferError::IdAlreadyFailed) => {
                Err(PlatformError::conflict(Conflict::AlreadyResolved, "this transfer was already resolved the other way"))
            }
            Err(e) => Err(PlatformError::Internal(format!("resolving transfer {id}: {}", e.code()))),
        }
    }

    /// A reviewer let a held transfer go ahead: the receiver may accept it now. `false`: decided already.
    pub(crate) async fn release_held(&self, id: i64, decision: Decision) -> Result<bool> {
        let mut guards = decision.guards;
        guards.push(store::set_hold(id, Hold::Waiting, Hold::None));
        self.core.commit_rows(guards, vec![decision.audit]).await
    }

    /// A reviewer gave a held transfer's money back to its sender (voided with its limit legs). `None`:
    /// the ledger expired it first; `false`: decided already.
    pub(crate) async fn return_held(&self, id: i64, decision: Decision) -> Result<Option<bool>> {
        let mut guards = decision.guards;
        guards.push(store::set_hold(id, Hold::Waiting, Hold::Returned));
        let commit = Commit { guards, transfers: resolution(id, false), effects: vec![decision.audit] };
        match self.core.commit(commit).await? {
            Committed::GuardFailed(_) => Ok(Some(false)),
            Committed::Applied(results) => match crate::core::chain_outcome(&results) {
                Ok(_) => Ok(Some(true)),
                Err(TransferError::PendingTransferExpired) => Ok(None),
                Err(e) => Err(PlatformError::Internal(format!("returning held transfer {id}: {}", e.code()))),
            },
        }
    }

    /// A person's transfers of one history kind, newest first, with their ledger state.
    /// A page's transfers of these kinds (out, in, or both), newest first and at most the window's
    /// limit, with their states: the ledger holds are read for the transfers the page can show only.
    pub(crate) async fn history(&self, person: PersonId, kinds: &[HistoryKind], window: Window) -> Result<Vec<HistoryItem>> {
        let reads = kinds.iter().map(|&kind| async move {
            let outgoing = kind == HistoryKind::TransferOut;
            self.core.read(move |c| store::of(c, person, outgoing, window)).await.map(|rows| (kind, rows))
        });
        let mut rows = Vec::new();
        for read in crate::core::join_all(reads).await {
            let (kind, sent) = read?;
            rows.extend(sent.into_iter().map(|s| (kind, s)));
        }
        rows.sort_by_key(|(_, s)| std::cmp::Reverse((s.created_at_ms, s.id)));
        rows.truncate(usize::try_from(window.limit).unwrap_or(0));
        let holds = self.core.ledger_transfers(rows.iter().map(|(_, s)| hold_id(s.id)).collect()).await?;
        Ok(rows
            .into_iter()
            .zip(holds)
            .map(|((kind, s), hold)| {
                let outgoing = kind == HistoryKind::TransferOut;
                HistoryItem {
                    kind,
                    id: s.id,
                    currency: s.currency,
                    amount_minor: if outgoing { -s.amount_minor } else { s.amount_minor },
                    counterparty_id: Some(if outgoing { s.receiver } else { s.sender }),
                    state: hold.and_then(|(_, r)| r).map_or("unknown", |r| s.held.shown(P2pState::of(r.state)).as_str()),
                    created_at_ms: s.created_at_ms,
                }
            })
            .collect())
    }
}

/// Accepting posts the hold and its limit legs, declining voids them: one linked chain.
fn resolution(id: i64, accept: bool) -> Vec<NewTransfer> {
    let kind = if accept { chart::transfer::P2P_ACCEPT } else { chart::transfer::P2P_DECLINE };
    let resolution_id = chart::derived(id, kind, 0);
    let mut pairs: Vec<(u128, u128)> = leg_ids(resolution_id).into_iter().zip(leg_ids(hold_id(id))).collect();
    pairs.push((resolution_id, hold_id(id)));
    crate::core::resolve_pending(&pairs, accept, id as u128)
}
