//! Transfers between friends: the money leaves the sender at once as a ledger *pending* transfer to the
//! receiver with a 24 h timeout. Accepting posts it (the money arrives), declining voids it (the money
//! returns), and if neither happens the ledger's expiry voids it exactly once. The transfer's state is
//! the ledger's own, so there is nothing to keep in step.

use crate::rail::RailOutcome;
use crate::wallets::{LedgerRefusal, RailKind, card_in, parse_amount, parse_currency};
use crate::{Platform, PlatformError, Result, ids};
use ledger::{NewTransfer, PendingState, TransferError, TransferFlags};
use money::{Currency, Money};
use serde::Serialize;
use store::params;

#[derive(Debug, Clone, Serialize)]
pub struct P2pTransfer {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub sender_id: i64,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub receiver_id: i64,
    pub currency: Currency,
    pub amount: String,
    pub note: String,
    /// pending, accepted, declined, refunded (not accepted in time)
    pub state: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

fn state_name(state: PendingState) -> &'static str {
    match state {
        PendingState::Pending => "pending",
        PendingState::Posted => "accepted",
        PendingState::Voided => "declined",
        PendingState::Expired => "refunded",
    }
}

/// What a person asks for when sending money to a friend.
#[derive(Debug, Clone, Copy)]
pub struct SendTransfer<'a> {
    pub to: i64,
    /// Decimal in major units of `currency`.
    pub amount: &'a str,
    pub currency: &'a str,
    pub note: &'a str,
    pub pin: Option<&'a str>,
    /// Pay straight from this linked card instead of the balance.
    pub card: Option<i64>,
}

impl Platform {
    pub async fn send_transfer(&self, sender: i64, request: SendTransfer<'_>) -> Result<P2pTransfer> {
        let SendTransfer { to: receiver, amount, currency, note, pin, card } = request;
        let currency = parse_currency(currency)?;
        let amount = parse_amount("amount", amount, currency)?;
        if note.chars().count() > self.config.note_chars_max || note.chars().any(char::is_control) {
            return Err(PlatformError::invalid(
                "note",
                format!("at most {} characters, no control characters", self.config.note_chars_max),
            ));
        }
        if sender == receiver {
            return Err(PlatformError::invalid("to", "you cannot send money to yourself"));
        }
        self.require_friends(sender, receiver).await?;
        self.require_currency(sender, currency).await?;
        if !self.wallet_currencies(receiver).await?.contains(&currency) {
            return Err(PlatformError::invalid("currency", format!("the receiver's wallet does not hold {currency}")));
        }
        // Paid from a card: charge it now (its start authorizes with the PIN); otherwise from the balance.
        let card_payment = match card {
            None => {
                self.authorize_payment(sender, amount.minor(), pin).await?;
                None
            }
            Some(card) => Some(self.charge_card_for_payment(sender, card, &amount.to_decimal_string(), currency, pin).await?),
        };
        let now = self.now_ms();
        let id = ids::object_id(now);
        let timeout_s = self.config.transfer_timeout_s;
        let expires = now + i64::from(timeout_s) * 1000;
        // The hold comes first: a crash before the row below leaves money held that the ledger's own
        // timeout returns; never a record of a transfer that holds nothing.
        let hold = NewTransfer {
            id: ids::derived(id, ids::transfer::P2P, 0),
            debit_account_id: ids::wallet(sender, currency.numeric()),
            credit_account_id: ids::wallet(receiver, currency.numeric()),
            amount: amount.minor() as u64,
            pending_id: 0,
            currency: Some(currency),
            code: ids::transfer::P2P,
            flags: TransferFlags::PENDING,
            timeout_s,
            user_data: id as u128,
        };
        match card_payment {
            None => self.pay_within_limits(sender, currency, amount.minor(), hold).await?,
            Some((op, reference)) => {
                let funding = card_in(op, ids::transfer::CARD_FUND, sender, currency, amount.minor());
                if let Err(e) = self.pay_within_limits_funded(sender, currency, amount.minor(), Some(funding), hold).await {
                    self.refund_card_payment(op, &reference).await?;
                    return Err(e);
                }
                self.finish_card_payment(op, "succeeded", None).await?;
            }
        }
        let (note_owned, numeric, minor) = (note.to_string(), currency.numeric(), amount.minor());
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "INSERT INTO p2p_transfers (id, sender_id, receiver_id, currency, amount, note, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    params![id, sender, receiver, numeric, minor, note_owned.as_str(), now, expires],
                )
            })?)
        })
        .await?;
        self.transfer(sender, id).await
    }

    /// Charge a card for a payment. Only an immediate approval pays: a charge the issuer answers later is
    /// given back at once (top up with that card instead). Returns the operation's id and the reference.
    pub(crate) async fn charge_card_for_payment(
        &self,
        person: i64,
        card: i64,
        amount: &str,
        currency: Currency,
        pin: Option<&str>,
    ) -> Result<(i64, String)> {
        let start = self.start_rail_operation(person, RailKind::CardPayment, card, amount, currency.code(), pin).await?;
        match self.rail.charge(&start.token, currency, start.minor, &start.id.to_string()) {
            RailOutcome::Approved { reference } => Ok((start.id, reference)),
            RailOutcome::Declined { reason } => {
                self.finish_card_payment(start.id, "failed", Some(reason.clone())).await?;
                Err(PlatformError::Declined(reason))
            }
            RailOutcome::Pending { reference } => {
                self.refund_card_payment(start.id, &reference).await?;
                Err(PlatformError::Declined("this card needs the issuer's later confirmation: top up with it instead".into()))
            }
        }
    }

    /// Give a card payment's charge back (the ledger refused the payment, or it was interrupted).
    pub(crate) async fn refund_card_payment(&self, op: i64, reference: &str) -> Result<()> {
        match self.rail.refund(reference, &format!("{op}-refund")) {
            RailOutcome::Approved { .. } => self.finish_card_payment(op, "refunded", None).await,
            RailOutcome::Declined { reason } => self.finish_card_payment(op, "failed", Some(format!("refund refused: {reason}"))).await,
            RailOutcome::Pending { .. } => Ok(()), // asked again by the deadline sweep
        }
    }

    pub(crate) async fn finish_card_payment(&self, op: i64, state: &'static str, failure: Option<String>) -> Result<()> {
        self.finish_rail_operation(op, state, failure).await
    }

    /// Card payments interrupted between the charge and the ledger: if the ledger has the money, it
    /// succeeded; otherwise the charge is given back. (Asking the rail with the same key is idempotent.)
    pub(crate) async fn settle_interrupted_card_payments(&self) -> Result<usize> {
        let stale = self.now_ms() - 60_000;
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        "SELECT o.id, o.person_id, o.currency, o.amount, k.token FROM rail_operations o JOIN cards k ON k.id = o.card_id WHERE o.state = 'pending' AND o.kind = 'card_payment' AND o.created_at < $1 LIMIT 1000",
                        params![stale],
                    )
                })?)
            })
            .await?;
        let mut settled = 0;
        for r in rows {
            let (op, currency, minor, token) = (
                r.int(0)?,
                Currency::from_numeric(r.int(2)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?,
                r.int(3)?,
                r.text(4)?,
            );
            let store = self.store.clone();
            let funded = self.blocking(move |_| Ok(store.transfer(ids::derived(op, ids::transfer::CARD_FUND, 0))?.is_some())).await?;
            if funded {
                self.finish_card_payment(op, "succeeded", None).await?;
            } else {
                match self.rail.charge(&token, currency, minor, &op.to_string()) {
                    RailOutcome::Approved { reference } | RailOutcome::Pending { reference } => {
                        self.refund_card_payment(op, &reference).await?
                    }
                    RailOutcome::Declined { reason } => self.finish_card_payment(op, "failed", Some(reason)).await?,
                }
            }
            settled += 1;
        }
        Ok(settled)
    }

    /// The ledger's word on a transfer between friends.
    pub(crate) async fn transfer_state(&self, id: i64) -> Result<String> {
        let store = self.store.clone();
        let found = self.blocking(move |_| Ok(store.transfer(ids::derived(id, ids::transfer::P2P, 0))?)).await?;
        Ok(match found {
            Some((_, Some(record))) => state_name(record.state).to_string(),
            _ => "unknown".to_string(),
        })
    }

    /// A transfer, as its sender or receiver sees it.
    pub async fn transfer(&self, person: i64, id: i64) -> Result<P2pTransfer> {
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query_one("SELECT id, sender_id, receiver_id, currency, amount, note, created_at, expires_at FROM p2p_transfers WHERE id = $1", params![id]))?)
            })
            .await?
            .ok_or(PlatformError::NotFound("transfer"))?;
        let (sender, receiver) = (row.int(1)?, row.int(2)?);
        if person != sender && person != receiver {
            return Err(PlatformError::NotFound("transfer"));
        }
        let currency = Currency::from_numeric(row.int(3)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?;
        let amount = Money::from_minor(row.int(4)?, currency).map_err(|e| PlatformError::Internal(e.to_string()))?;
        Ok(P2pTransfer {
            id,
            sender_id: sender,
            receiver_id: receiver,
            currency,
            amount: amount.to_decimal_string(),
            note: row.text(5)?,
            state: self.transfer_state(id).await?,
            created_at_ms: row.int(6)?,
            expires_at_ms: row.int(7)?,
        })
    }

    pub async fn accept_transfer(&self, person: i64, id: i64) -> Result<P2pTransfer> {
        self.resolve_transfer(person, id, true).await
    }

    pub async fn decline_transfer(&self, person: i64, id: i64) -> Result<P2pTransfer> {
        self.resolve_transfer(person, id, false).await
    }

    async fn resolve_transfer(&self, person: i64, id: i64, accept: bool) -> Result<P2pTransfer> {
        let t = self.transfer(person, id).await?;
        if t.receiver_id != person {
            return Err(PlatformError::Forbidden("only the receiver can accept or decline a transfer".into()));
        }
        // A resolved transfer says how it was resolved (the ledger would answer a repeat of the same
        // resolution `exists`, which is right for a retry but not for a second, separate request).
        match t.state.as_str() {
            "accepted" => return Err(PlatformError::conflict("ALREADY_ACCEPTED", "this transfer was already accepted")),
            "declined" => return Err(PlatformError::conflict("ALREADY_DECLINED", "this transfer was already declined")),
            "refunded" => return Err(PlatformError::Expired("transfer (the money went back to the sender)")),
            _ => {}
        }
        let (kind, flags) = if accept {
            (ids::transfer::P2P_ACCEPT, TransferFlags::POST_PENDING)
        } else {
            (ids::transfer::P2P_DECLINE, TransferFlags::VOID_PENDING)
        };
        let amount = Money::parse(&t.amount, t.currency).map_err(|e| PlatformError::Internal(e.to_string()))?;
        let resolution = NewTransfer {
            id: ids::derived(id, kind, 0),
            debit_account_id: 0,
            credit_account_id: 0,
            amount: if accept { amount.minor() as u64 } else { 0 },
            pending_id: ids::derived(id, ids::transfer::P2P, 0),
            currency: None,
            code: 0,
            flags,
            timeout_s: 0,
            user_data: id as u128,
        };
        // The transfer and its limit legs resolve together, as one linked chain.
        let hold_id = ids::derived(id, ids::transfer::P2P, 0);
        let mut chain: Vec<NewTransfer> = crate::kyc::leg_ids(hold_id)
            .into_iter()
            .zip(crate::kyc::leg_ids(resolution.id))
            .map(|(leg, leg_resolution)| NewTransfer {
                id: leg_resolution,
                pending_id: leg,
                flags: flags.union(TransferFlags::LINKED),
                amount: resolution.amount,
                ..resolution
            })
            .collect();
        chain.push(resolution);
        let results = self.ledger.create_transfers(chain).await?;
        // The chain's real failure (the others answer linked_event_failed).
        let outcome = match results.iter().filter_map(|r| r.err()).find(|e| *e != TransferError::LinkedEventFailed) {
            Some(e) => Err(LedgerRefusal::Refused(e)),
            None => Ok(()),
        };
        match outcome {
            Ok(()) => {}
            Err(LedgerRefusal::Refused(TransferError::PendingTransferAlreadyPosted)) => {
                return Err(PlatformError::conflict("ALREADY_ACCEPTED", "this transfer was already accepted"));
            }
            Err(LedgerRefusal::Refused(TransferError::PendingTransferAlreadyVoided)) => {
                return Err(PlatformError::conflict("ALREADY_DECLINED", "this transfer was already declined"));
            }
            Err(LedgerRefusal::Refused(TransferError::PendingTransferExpired)) => {
                return Err(PlatformError::Expired("transfer (the money went back to the sender)"));
            }
            Err(LedgerRefusal::Refused(TransferError::IdAlreadyFailed)) => {
                return Err(PlatformError::conflict("ALREADY_RESOLVED", "this transfer was already resolved the other way"));
            }
            Err(other) => return Err(other.into()),
        }
        self.transfer(person, id).await
    }
}
