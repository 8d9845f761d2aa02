//! Withdrawals to a linked bank account. The money is held at once (a ledger pending transfer from the
//! wallet to the bank rail, no timeout: it waits for the bank); the bank's confirmation posts it, a
//! refusal voids it and the money is back. A withdrawal interrupted before the bank heard of it is voided.

use crate::people::parse_name;
use crate::rail::RailOutcome;
use crate::wallets::{RailKind, RailOperation, RailStart};
use crate::{Platform, PlatformError, Result, ids};
use ledger::{NewTransfer, TransferFlags};
use serde::Serialize;
use store::params;

#[derive(Debug, Clone, Serialize)]
pub struct BankAccount {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub bank: String,
    pub holder_name: String,
    pub last4: String,
}

/// A withdrawal left pending this long without a bank reference was interrupted: it is voided.
const INTERRUPTED_AFTER_MS: i64 = 60_000;

impl Platform {
    pub async fn add_bank_account(&self, person: i64, bank: &str, holder_name: &str, number: &str) -> Result<BankAccount> {
        let bank = parse_name("bank", bank, self.config.name_chars_max)?;
        let holder_name = parse_name("holder_name", holder_name, self.config.name_chars_max)?;
        let number: String = number.chars().filter(|c| *c != ' ' && *c != '-').collect::<String>().to_ascii_uppercase();
        if !(6..=34).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(PlatformError::invalid("number", "6 to 34 letters and digits (a bank account number or IBAN)"));
        }
        let token = self.rail.tokenize_bank_account(&number);
        let last4 = number[number.len() - 4..].to_string();
        let now = self.now_ms();
        let id = ids::object_id(now);
        let (b, h, l) = (bank.clone(), holder_name.clone(), last4.clone());
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "INSERT INTO bank_accounts (id, person_id, token, bank, holder_name, last4, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    params![id, person, token.as_str(), b.as_str(), h.as_str(), l.as_str(), now],
                )
            })?)
        })
        .await?;
        Ok(BankAccount { id, bank, holder_name, last4 })
    }

    pub async fn bank_accounts(&self, person: i64) -> Result<Vec<BankAccount>> {
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query("SELECT id, bank, holder_name, last4 FROM bank_accounts WHERE person_id = $1 ORDER BY id", params![person])
                })?)
            })
            .await?;
        rows.iter().map(|r| Ok(BankAccount { id: r.int(0)?, bank: r.text(1)?, holder_name: r.text(2)?, last4: r.text(3)? })).collect()
    }

    fn withdrawal_hold(id: i64) -> u128 {
        ids::derived(id, ids::transfer::WITHDRAWAL, 0)
    }

    pub async fn withdraw(
        &self,
        person: i64,
        bank_account_id: i64,
        amount: &str,
        currency: &str,
        pin: Option<&str>,
    ) -> Result<RailOperation> {
        let start = self.start_rail_operation(person, RailKind::Withdrawal, bank_account_id, amount, currency, pin).await?;
        let RailStart { id, token, currency, minor } = start;
        let hold = NewTransfer {
            id: Self::withdrawal_hold(id),
            debit_account_id: ids::wallet(person, currency.numeric()),
            credit_account_id: ids::system_account(ids::account::BANK_RAIL, currency.numeric()),
            amount: minor as u64,
            pending_id: 0,
            currency: Some(currency),
            code: ids::transfer::WITHDRAWAL,
            flags: TransferFlags::PENDING,
            timeout_s: 0,
            user_data: id as u128,
        };
        if let Err(refusal) = self.ledger_one(hold).await {
            self.finish_rail_operation(id, "failed", Some("insufficient balance".into())).await?;
            return Err(refusal.into());
        }
        let outcome = self.rail.payout(&token, currency, minor, &id.to_string());
        self.settle_withdrawal(id, outcome).await?;
        self.rail_operation(person, id, "withdrawal").await
    }

    /// Apply what the bank said: confirmed posts the hold, refused voids it; pending records the reference.
    pub(crate) async fn settle_withdrawal(&self, id: i64, outcome: RailOutcome) -> Result<()> {
        let (flags, kind, state, failure) = match outcome {
            RailOutcome::Pending { reference } => return self.record_rail_reference(id, reference).await,
            RailOutcome::Approved { .. } => (TransferFlags::POST_PENDING, ids::transfer::WITHDRAWAL_POST, "succeeded", None),
            RailOutcome::Declined { reason } => (TransferFlags::VOID_PENDING, ids::transfer::WITHDRAWAL_VOID, "failed", Some(reason)),
        };
        self.resolve_hold(id, flags, kind).await?;
        self.finish_rail_operation(id, state, failure).await
    }

    async fn resolve_hold(&self, id: i64, flags: TransferFlags, kind: u16) -> Result<()> {
        let resolution = NewTransfer {
            id: ids::derived(id, kind, 0),
            debit_account_id: 0,
            credit_account_id: 0,
            amount: 0,
            pending_id: Self::withdrawal_hold(id),
            currency: None,
            code: 0,
            flags,
            timeout_s: 0,
            user_data: id as u128,
        };
        // A post names the full held amount.
        let resolution = if flags.contains(TransferFlags::POST_PENDING) {
            let store = self.store.clone();
            let held = self.blocking(move |_| Ok(store.transfer(Self::withdrawal_hold(id))?)).await?;
            let Some((hold, _)) = held else { return Ok(()) };
            NewTransfer { amount: hold.amount, ..resolution }
        } else {
            resolution
        };
        match self.ledger_one(resolution).await {
            // Voiding a hold that never happened (interrupted before the ledger) is nothing to undo.
            Ok(()) | Err(crate::wallets::LedgerRefusal::Refused(ledger::TransferError::PendingTransferNotFound)) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Record how a pending rail operation (top-up, withdrawal, card payment) ended; only once.
    pub(crate) async fn finish_rail_operation(&self, id: i64, state: &'static str, failure: Option<String>) -> Result<()> {
        let now = self.now_ms();
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "UPDATE rail_operations SET state = $1, failure = $2, updated_at = $3 WHERE id = $4 AND state = 'pending'",
                    params![state, failure, now, id],
                )
            })?)
        })
        .await?;
        Ok(())
    }

    pub async fn withdrawal_status(&self, person: i64, id: i64) -> Result<RailOperation> {
        self.rail_operation(person, id, "withdrawal").await
    }

    /// Ask the bank again about pending withdrawals; void those interrupted before the bank heard of them.
    pub(crate) async fn settle_pending_withdrawals(&self) -> Result<usize> {
        let stale = self.now_ms() - INTERRUPTED_AFTER_MS;
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query("SELECT id, rail_reference, created_at FROM rail_operations WHERE state = 'pending' AND kind = 'withdrawal' ORDER BY id LIMIT 1000", &[]))?)
            })
            .await?;
        let mut settled = 0;
        for r in rows {
            let id = r.int(0)?;
            let outcome = match r.opt_text(1)? {
                Some(reference) => self.rail.status(&reference),
                None if r.int(2)? < stale => RailOutcome::Declined { reason: "interrupted before the bank was asked".into() },
                None => continue,
            };
            if !matches!(outcome, RailOutcome::Pending { .. }) {
                self.settle_withdrawal(id, outcome).await?;
                settled += 1;
            }
        }
        Ok(settled)
    }
}
