//! `/admin/api/ledger/...`: raw ledger accounts and transfers (through the platform), and reading them.
//! On the wire, ids and `user_data` are decimal strings (a u128 does not fit a JSON number), amounts
//! are integers in minor units, currencies are ISO 4217 codes, flags are lists of names.

use super::{Answer, ApiError, Operator, St, audit_asked, parse_json};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use ledger::BATCH_EVENTS_MAX;
use platform::operators::Role;
use platform::operators::approvals::ApprovalAction;

use ledger::{
    Account, AccountFlags, AccountResult, NewAccount, NewTransfer, Outcome, PendingRecord, Transfer, TransferFlags, TransferResult,
};
use money::Currency;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A u128 carried as a decimal string ("0" allowed here; the ledger rejects reserved values with its own code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Id128(pub u128);

impl Serialize for Id128 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Id128 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id128, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if text.is_empty() || text.len() > 39 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!("expected a decimal u128 string, got {text:?}")));
        }
        text.parse().map(Id128).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountIn {
    pub id: Id128,
    pub currency: Currency,
    pub code: u16,
    #[serde(default)]
    pub flags: AccountFlags,
    #[serde(default)]
    pub user_data: Id128,
}

impl AccountIn {
    pub fn into_ledger(self) -> NewAccount {
        NewAccount { id: self.id.0, currency: self.currency, code: self.code, flags: self.flags, user_data: self.user_data.0 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferIn {
    pub id: Id128,
    #[serde(default)]
    pub debit_account_id: Id128,
    #[serde(default)]
    pub credit_account_id: Id128,
    pub amount: u64,
    #[serde(default)]
    pub pending_id: Id128,
    #[serde(default)]
    pub currency: Option<Currency>,
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub flags: TransferFlags,
    #[serde(default)]
    pub timeout_s: u32,
    #[serde(default)]
    pub user_data: Id128,
}

impl TransferIn {
    pub fn into_ledger(self) -> NewTransfer {
        NewTransfer {
            id: self.id.0,
            debit_account_id: self.debit_account_id.0,
            credit_account_id: self.credit_account_id.0,
            amount: self.amount,
            pending_id: self.pending_id.0,
            currency: self.currency,
            code: self.code,
            flags: self.flags,
            timeout_s: self.timeout_s,
            user_data: self.user_data.0,
        }
    }
}

/// One event's answer: `"created"`, `"exists"`, or the failure code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResult {
    pub index: usize,
    pub result: String,
}

fn outcome(o: Outcome) -> String {
    match o {
        Outcome::Created => "created".into(),
        Outcome::Exists => "exists".into(),
    }
}

impl EventResult {
    pub fn from_account((index, r): (usize, AccountResult)) -> EventResult {
        EventResult { index, result: r.map(outcome).unwrap_or_else(|e| e.code().to_string()) }
    }

    pub fn from_transfer((index, r): (usize, TransferResult)) -> EventResult {
        EventResult { index, result: r.map(outcome).unwrap_or_else(|e| e.code().to_string()) }
    }
}

#[derive(Debug, Serialize)]
pub struct AccountOut {
    pub id: Id128,
    pub currency: Currency,
    pub code: u16,
    pub flags: AccountFlags,
    pub user_data: Id128,
    pub debits_pending: u64,
    pub debits_posted: u64,
    pub credits_pending: u64,
    pub credits_posted: u64,
    pub timestamp: u64,
}

impl From<Account> for AccountOut {
    fn from(a: Account) -> AccountOut {
        AccountOut {
            id: Id128(a.id),
            currency: a.currency,
            code: a.code,
            flags: a.flags,
            user_data: Id128(a.user_data),
            debits_pending: a.debits_pending,
            debits_posted: a.debits_posted,
            credits_pending: a.credits_pending,
            credits_posted: a.credits_posted,
            timestamp: a.timestamp,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TransferOut {
    pub id: Id128,
    pub debit_account_id: Id128,
    pub credit_account_id: Id128,
    pub amount: u64,
    pub pending_id: Id128,
    pub currency: Currency,
    pub code: u16,
    pub flags: TransferFlags,
    pub timeout_s: u32,
    pub user_data: Id128,
    pub timestamp: u64,
    /// For a pending transfer: pending, posted, voided or expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_state: Option<ledger::PendingState>,
}

impl TransferOut {
    pub fn new(t: Transfer, p: Option<PendingRecord>) -> TransferOut {
        TransferOut {
            id: Id128(t.id),
            debit_account_id: Id128(t.debit_account_id),
            credit_account_id: Id128(t.credit_account_id),
            amount: t.amount,
            pending_id: Id128(t.pending_id),
            currency: t.currency,
            code: t.code,
            flags: t.flags,
            timeout_s: t.timeout_s,
            user_data: Id128(t.user_data),
            timestamp: t.timestamp,
            pending_state: p.map(|p| p.state),
        }
    }
}

fn check_count(n: usize) -> Answer<()> {
    if n == 0 || n > BATCH_EVENTS_MAX {
        return Err(ApiError::bad_request(format!("a request carries 1 to {BATCH_EVENTS_MAX} events, got {n}")));
    }
    Ok(())
}

pub(super) async fn create_accounts(op: Operator, state: St, body: axum::body::Bytes) -> Answer<Json<Vec<EventResult>>> {
    let accounts: Vec<AccountIn> = parse_json(&body)?;
    check_count(accounts.len())?;
    let batch: Vec<NewAccount> = accounts.into_iter().map(AccountIn::into_ledger).collect();
    let ids: Vec<String> = batch.iter().take(10).map(|a| a.id.to_string()).collect();
    let detail = format!("{} accounts: {}{}", batch.len(), ids.join(", "), if batch.len() > ids.len() { ", …" } else { "" });
    audit_asked(&state, &op, "ledger.create_accounts", "ledger", &detail).await?;
    let results = state.platform.ledger.create_accounts(batch).await?;
    Ok(Json(results.into_iter().enumerate().map(EventResult::from_account).collect()))
}

/// A ledger correction: checked and stored, then applied when a second finance operator approves it.
pub(super) async fn request_transfers(op: Operator, state: St, body: axum::body::Bytes) -> Answer<(StatusCode, Json<serde_json::Value>)> {
    let transfers: Vec<TransferIn> = parse_json(&body)?;
    check_count(transfers.len())?;
    let summary = summary(&transfers);
    let payload = String::from_utf8_lossy(&body).into_owned();
    let approvals = &state.platform.operators.approvals;
    let approval = approvals.request(op.acting(), ApprovalAction::LedgerCorrection, Role::Finance, payload, summary).await?;
    Ok(super::approvals::waiting(approval))
}

/// What a correction moves, for the approver and the audit log: each transfer's accounts and amount.
fn summary(transfers: &[TransferIn]) -> String {
    const SHOWN_MAX: usize = 20;
    let mut lines: Vec<String> = transfers
        .iter()
        .take(SHOWN_MAX)
        .map(|t| {
            let amount = match t.currency.and_then(|c| money::Money::from_minor(i64::try_from(t.amount).ok()?, c).ok()) {
                Some(m) => m.to_string(),
                None => format!("{} minor units", t.amount),
            };
            format!("transfer {}: {} → {}, {amount}, code {}", t.id.0, t.debit_account_id.0, t.credit_account_id.0, t.code)
        })
        .collect();
    if transfers.len() > SHOWN_MAX {
        lines.push(format!("and {} more", transfers.len() - SHOWN_MAX));
    }
    format!("{} transfers: {}", transfers.len(), lines.join("; "))
}

fn parse_id(text: &str) -> Answer<u128> {
    text.parse::<u128>()
        .ok()
        .filter(|id| *id != 0 && *id != u128::MAX)
        .ok_or_else(|| ApiError::bad_request(format!("id {text:?} is not a decimal u128 between 1 and 2^128-2")))
}

pub(super) async fn account(_: Operator, state: St, Path(id): Path<String>) -> Answer<Json<AccountOut>> {
    let id = parse_id(&id)?;
    state
        .platform
        .ledger
        .account(id)
        .await
        .map(|a| Json(AccountOut::from(a)))
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", format!("no account {id}")))
}

pub(super) async fn transfer(_: Operator, state: St, Path(id): Path<String>) -> Answer<Json<TransferOut>> {
    let id = parse_id(&id)?;
    state
        .platform
        .ledger
        .transfer(id)
        .await
        .map(|(t, p)| Json(TransferOut::new(t, p)))
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", format!("no transfer {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_malformed_ids_are_rejected() {
        assert!(parse_id("0").is_err());
        assert!(parse_id(&u128::MAX.to_string()).is_err());
        assert!(parse_id("-1").is_err());
        assert!(parse_id("12a").is_err());
        assert_eq!(parse_id("42").unwrap(), 42);
    }
}
