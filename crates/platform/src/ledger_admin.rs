//! The operator's direct access to the ledger: raw accounts and transfers (corrections, tests), and
//! reading them back. Every other movement of money belongs to a domain.

use crate::core::{Commit, Committed, Core};
use crate::{PlatformError, Result};
use ledger::{Account, AccountResult, NewAccount, NewTransfer, PendingRecord, Transfer, TransferResult};
use std::sync::Arc;

pub struct LedgerAdmin {
    core: Arc<Core>,
}

impl LedgerAdmin {
    pub(crate) fn new(core: Arc<Core>) -> LedgerAdmin {
        LedgerAdmin { core }
    }

    /// Up to `ledger::BATCH_EVENTS_MAX` accounts; one result per event.
    pub async fn create_accounts(&self, batch: Vec<NewAccount>) -> Result<Vec<AccountResult>> {
        self.core.raw_accounts(batch).await
    }

    /// A correction: up to `ledger::BATCH_EVENTS_MAX` transfers, applied together or not at all (they are
    /// made one linked chain), in one commit with `conditions` (an approval's guard and its audit row:
    /// money moved by an operator is never without the record of who approved it). `None`: a guard
    /// changed no row and nothing was applied. One result per event.
    pub async fn correct(&self, batch: Vec<NewTransfer>, conditions: store::Conditions) -> Result<Option<Vec<TransferResult>>> {
        let commit = Commit { guards: conditions.guards, transfers: crate::core::linked(batch), effects: conditions.effects };
        Ok(match self.core.commit(commit).await? {
            Committed::Applied(results) => Some(results),
            Committed::GuardFailed(_) => None,
        })
    }

    pub async fn account(&self, id: u128) -> Result<Account> {
        self.core.account(id).await?.ok_or(PlatformError::NotFound("account"))
    }

    pub async fn transfer(&self, id: u128) -> Result<(Transfer, Option<PendingRecord>)> {
        self.core.ledger_transfer(id).await?.ok_or(PlatformError::NotFound("transfer"))
    }
}
