//! The operator's direct access to the ledger: raw accounts and transfers (corrections, tests), and
//! reading them back. Every other movement of money belongs to a domain.

use crate::core::Core;
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

    /// Up to `ledger::BATCH_EVENTS_MAX` transfers; one result per event.
    pub async fn create_transfers(&self, batch: Vec<NewTransfer>) -> Result<Vec<TransferResult>> {
        self.core.transfers(batch).await
    }

    pub async fn account(&self, id: u128) -> Result<Account> {
        self.core.account(id).await?.ok_or(PlatformError::NotFound("account"))
    }

    pub async fn transfer(&self, id: u128) -> Result<(Transfer, Option<PendingRecord>)> {
        self.core.ledger_transfer(id).await?.ok_or(PlatformError::NotFound("transfer"))
    }
}
