//! People's data: everything Qianbao holds about a person, for them to download (their profile, KYC
//! record, balances, cards and bank accounts as stored (tokenised, masked), friends and groups, their
//! whole history, and what operators did about them, reads included). Nothing of anyone else: other
//! people appear as their id and the display name this person sees.

use crate::audit::Audit;
use crate::history::{HISTORY_PAGE_MAX, History, HistoryQuery};
use crate::people::People;
use crate::social::Social;
use crate::wallet::Wallet;
use crate::{PersonId, Result};
use serde_json::{Value, json};
use std::sync::Arc;

/// History items an export carries at most (a bound on its size; the statement CSVs hold the rest).
pub const EXPORT_HISTORY_MAX: usize = 100_000;

pub struct Privacy {
    people: Arc<People>,
    wallet: Arc<Wallet>,
    social: Arc<Social>,
    audit: Arc<Audit>,
}

/// Closed wallets' personal data is kept this long (the record-keeping rules for payment institutions
/// ask for five years), then erased.
pub const CLOSED_RETENTION_MS: i64 = 5 * 365 * 86_400_000;

impl Privacy {
    /// Close the person's wallet at their request, with their PIN. Refused while money remains in it or is
    /// on its way (`BALANCE_REMAINS`: withdraw it first). The answer: when the personal data is erased.
    pub async fn close(&self, person: PersonId, pin: &str, now_ms: i64) -> Result<i64> {
        self.people.verify_pin(person, pin).await?;
        if self.wallet.holds_money(person).await? {
            return Err(crate::PlatformError::conflict(
                crate::Conflict::BalanceRemains,
                "money remains in this wallet or is on its way: withdraw it first",
            ));
        }
        self.people.close(person, CLOSED_RETENTION_MS).await?;
        Ok(now_ms + CLOSED_RETENTION_MS)
    }

    pub(crate) fn new(people: Arc<People>, wallet: Arc<Wallet>, social: Arc<Social>, audit: Arc<Audit>) -> Privacy {
        Privacy { people, wallet, social, audit }
    }

    /// The export, as JSON. `history` is the platform's history (it spans every domain).
    pub async fn export(&self, person: PersonId, history: &History, now_ms: i64) -> Result<Value> {
        let profile = self.people.person(person).await?;
        let mut items = Vec::new();
        let mut before = None;
        loop {
            let query = HistoryQuery { before, limit: HISTORY_PAGE_MAX, ..HistoryQuery::default() };
            let page = history.page(person, query).await?;
            let full = page.len() == HISTORY_PAGE_MAX;
            before = page.last().map(|i| (i.created_at_ms, i.id));
            items.extend(page);
            if !full || items.len() >= EXPORT_HISTORY_MAX {
                break;
            }
        }
        items.truncate(EXPORT_HISTORY_MAX);
        Ok(json!({
            "exported_at_ms": now_ms,
            "person": profile,
            "kyc": self.people.kyc_record(person).await?,
            "balances": self.wallet.balances(person).await?,
            "cards": self.wallet.cards(person).await?,
            "bank_accounts": self.wallet.bank_accounts(person).await?,
            "friends": self.social.friends(person).await?,
            "groups": self.social.groups(person).await?,
            "history": items,
            "history_complete": items.len() < EXPORT_HISTORY_MAX,
            "operator_actions": self.audit.about(&format!("person:{person}"), crate::audit::AUDIT_ABOUT_MAX).await?,
        }))
    }
}
