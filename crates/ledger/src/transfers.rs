//! Creating a transfer, in TigerBeetle's order of checks (`create_transfer`,
//! `post_or_void_pending_transfer` and their `_exists` twins). In short: reserved flag bits and ids; then
//! the id's history (an existing transfer is compared field by field; a recorded failure answers again);
//! then the request's own fields; then the accounts; then the balances.
//!
//! Qianbao's amounts are u64 capped at [`AMOUNT_MAX`] (2^63−1, a signed 64-bit column): every overflow
//! check is against that cap, and [`AMOUNT_ALL`] (u64::MAX) plays the part of TigerBeetle's
//! `AMOUNT_MAX` ("post the whole pending amount", "as much as a balancing transfer can move").

use crate::{AMOUNT_ALL, AMOUNT_MAX, TransferError, TransferFlags, TransferResult};
use crate::{Account, AccountFlags, Changes, Ledger, NewTransfer, Outcome, PendingRecord, PendingState, Transfer};

type E = TransferError;

/// `a + b`, or `None` past the ledger's cap.
fn add(a: u64, b: u64) -> Option<u64> {
    a.checked_add(b).filter(|&v| v <= AMOUNT_MAX)
}

impl Ledger {
    pub(crate) fn create_transfer(&mut self, t: &NewTransfer, timestamp: u64, changes: &mut Changes) -> TransferResult {
        if t.flags.unknown_bits() != 0 {
            return Err(E::FlagsReserved);
        }
        if t.id == 0 {
            return Err(E::IdMustNotBeZero);
        }
        if t.id == u128::MAX {
            return Err(E::IdMustNotBeIntMax);
        }
        if let Some(existing) = self.transfers.get(&t.id) {
            return self.transfer_exists(t, existing);
        }
        if let Some(first) = self.failed.get(&t.id) {
            // The same request answers what it answered the first time; any other request with that id
            // is refused (TigerBeetle answers `id_already_failed` to both).
            return Err(if first.transfer == *t { first.error } else { E::IdAlreadyFailed });
        }
        if t.flags.contains(TransferFlags::POST_PENDING) || t.flags.contains(TransferFlags::VOID_PENDING) {
            return self.post_or_void(t, timestamp, changes);
        }
        check_fields(t)?;
        let (dr, cr) = self.accounts_of(t)?;
        let amount = balanced_amount(t, &dr, &cr);
        check_balances(t, &dr, &cr, amount, timestamp)?;
        self.apply(t, dr, cr, amount, timestamp, changes);
        Ok(Outcome::Created)
    }

    /// Both accounts, existing, open, of the transfer's currency.
    fn accounts_of(&self, t: &NewTransfer) -> Result<(Account, Account), TransferError> {
        let dr = *self.accounts.get(&t.debit_account_id).ok_or(E::DebitAccountNotFound)?;
        let cr = *self.accounts.get(&t.credit_account_id).ok_or(E::CreditAccountNotFound)?;
        if dr.currency != cr.currency {
            return Err(E::AccountsMustHaveTheSameCurrency);
        }
        if t.currency != Some(dr.currency) {
            return Err(E::TransferMustHaveTheSameCurrencyAsAccounts);
        }
        if dr.flags.contains(AccountFlags::CLOSED) {
            return Err(E::DebitAccountAlreadyClosed);
        }
        if cr.flags.contains(AccountFlags::CLOSED) {
            return Err(E::CreditAccountAlreadyClosed);
        }
        Ok((dr, cr))
    }

    fn apply(&mut self, t: &NewTransfer, mut dr: Account, mut cr: Account, amount: u64, timestamp: u64, changes: &mut Changes) {
        let pending = t.flags.contains(TransferFlags::PENDING);
        // The checks above bound every sum by AMOUNT_MAX.
        if pending {
            dr.debits_pending += amount;
            cr.credits_pending += amount;
        } else {
            dr.debits_posted += amount;
            cr.credits_posted += amount;
        }
        if t.flags.contains(TransferFlags::CLOSING_DEBIT) {
            dr.flags = dr.flags.union(AccountFlags::CLOSED);
        }
        if t.flags.contains(TransferFlags::CLOSING_CREDIT) {
            cr.flags = cr.flags.union(AccountFlags::CLOSED);
        }
        debug_assert!(
            !dr.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) || dr.debits_pending + dr.debits_posted <= dr.credits_posted
        );
        debug_assert!(
            !cr.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) || cr.credits_pending + cr.credits_posted <= cr.debits_posted
        );
        self.put_account(dr);
        self.put_account(cr);
        changes.accounts_updated.push(dr.id);
        changes.accounts_updated.push(cr.id);
        self.put_transfer(Transfer {
            id: t.id,
            debit_account_id: t.debit_account_id,
            credit_account_id: t.credit_account_id,
            amount,
            pending_id: 0,
            currency: t.currency.expect("checked by accounts_of"),
            code: t.code,
            flags: t.flags,
            timeout_s: t.timeout_s,
            user_data: t.user_data,
            timestamp,
        });
        changes.transfers_created.push(t.id);
        if pending {
            self.put_pending(t.id, PendingRecord { state: PendingState::Pending, timestamp }, changes);
        }
    }

    /// Post (fully, partly, or nothing) or void a pending transfer.
    fn post_or_void(&mut self, t: &NewTransfer, timestamp: u64, changes: &mut Changes) -> TransferResult {
        let p = self.pending_of(t)?;
        let post = t.flags.contains(TransferFlags::POST_PENDING);
        let amount = resolved_amount(t, &p);
        if amount > p.amount {
            return Err(E::ExceedsPendingTransferAmount);
        }
        if !post && amount < p.amount {
            return Err(E::PendingTransferHasDifferentAmount);
        }
        match self.pending.get(&p.id).expect("every pending transfer has a pending record").state {
            PendingState::Pending => {}
            PendingState::Posted => return Err(E::PendingTransferAlreadyPosted),
            PendingState::Voided => return Err(E::PendingTransferAlreadyVoided),
            PendingState::Expired => return Err(E::PendingTransferExpired),
        }
        if p.expires_at().is_some_and(|at| at <= timestamp) {
            return Err(E::PendingTransferExpired);
        }
        let mut dr = *self.accounts.get(&p.debit_account_id).expect("a pending transfer's accounts are loaded with it");
        let mut cr = *self.accounts.get(&p.credit_account_id).expect("a pending transfer's accounts are loaded with it");
        // The only movement a closed account takes is a void (so a closing transfer is never posted).
        if post && dr.flags.contains(AccountFlags::CLOSED) {
            return Err(E::DebitAccountAlreadyClosed);
        }
        if post && cr.flags.contains(AccountFlags::CLOSED) {
            return Err(E::CreditAccountAlreadyClosed);
        }
        assert!(dr.debits_pending >= p.amount && cr.credits_pending >= p.amount, "pending balances cover every pending transfer");
        dr.debits_pending -= p.amount;
        cr.credits_pending -= p.amount;
        if post {
            // At most the pending amount, which the balances already counted: no overflow, no limit.
            dr.debits_posted += amount;
            cr.credits_posted += amount;
        } else {
            if p.flags.contains(TransferFlags::CLOSING_DEBIT) {
                dr.flags = dr.flags.without(AccountFlags::CLOSED);
            }
            if p.flags.contains(TransferFlags::CLOSING_CREDIT) {
                cr.flags = cr.flags.without(AccountFlags::CLOSED);
            }
        }
        self.put_account(dr);
        self.put_account(cr);
        changes.accounts_updated.push(dr.id);
        changes.accounts_updated.push(cr.id);
        self.put_transfer(resolution_of(t, &p, amount, timestamp));
        changes.transfers_created.push(t.id);
        let state = if post { PendingState::Posted } else { PendingState::Voided };
        self.put_pending(p.id, PendingRecord { state, timestamp }, changes);
        Ok(Outcome::Created)
    }

    /// The pending transfer a post or void names, after the checks of the request's own fields.
    fn pending_of(&self, t: &NewTransfer) -> Result<Transfer, TransferError> {
        let f = t.flags;
        let both = f.contains(TransferFlags::POST_PENDING) && f.contains(TransferFlags::VOID_PENDING);
        let others = [
            TransferFlags::PENDING,
            TransferFlags::BALANCING_DEBIT,
            TransferFlags::BALANCING_CREDIT,
            TransferFlags::CLOSING_DEBIT,
            TransferFlags::CLOSING_CREDIT,
        ];
        if both || others.iter().any(|o| f.contains(*o)) {
            return Err(E::FlagsAreMutuallyExclusive);
        }
        if t.pending_id == 0 {
            return Err(E::PendingIdMustNotBeZero);
        }
        if t.pending_id == u128::MAX {
            return Err(E::PendingIdMustNotBeIntMax);
        }
        if t.pending_id == t.id {
            return Err(E::PendingIdMustBeDifferent);
        }
        if t.timeout_s != 0 {
            return Err(E::TimeoutReservedForPendingTransfer);
        }
        let p = *self.transfers.get(&t.pending_id).ok_or(E::PendingTransferNotFound)?;
        if !p.flags.contains(TransferFlags::PENDING) {
            return Err(E::PendingTransferNotPending);
        }
        if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
            return Err(E::PendingTransferHasDifferentDebitAccountId);
        }
        if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
            return Err(E::PendingTransferHasDifferentCreditAccountId);
        }
        if t.currency.is_some_and(|c| c != p.currency) {
            return Err(E::PendingTransferHasDifferentCurrency);
        }
        if t.code != 0 && t.code != p.code {
            return Err(E::PendingTransferHasDifferentCode);
        }
        Ok(p)
    }

    /// A retry of a committed transfer: `exists`, or the first field that differs, in TigerBeetle's order.
    fn transfer_exists(&self, t: &NewTransfer, e: &Transfer) -> TransferResult {
        if t.flags != e.flags {
            return Err(E::ExistsWithDifferentFlags);
        }
        if t.pending_id != e.pending_id {
            return Err(E::ExistsWithDifferentPendingId);
        }
        if t.timeout_s != e.timeout_s {
            return Err(E::ExistsWithDifferentTimeout);
        }
        if t.flags.contains(TransferFlags::POST_PENDING) || t.flags.contains(TransferFlags::VOID_PENDING) {
            let p = self.transfers.get(&t.pending_id).expect("a committed resolution's pending transfer is loaded with it");
            return resolution_exists(t, e, p);
        }
        let balancing = t.flags.contains(TransferFlags::BALANCING_DEBIT) || t.flags.contains(TransferFlags::BALANCING_CREDIT);
        if t.debit_account_id != e.debit_account_id {
            Err(E::ExistsWithDifferentDebitAccountId)
        } else if t.credit_account_id != e.credit_account_id {
            Err(E::ExistsWithDifferentCreditAccountId)
        } else if if balancing { t.amount < e.amount } else { t.amount != e.amount } {
            Err(E::ExistsWithDifferentAmount)
        } else if t.user_data != e.user_data {
            Err(E::ExistsWithDifferentUserData)
        } else if t.currency != Some(e.currency) {
            Err(E::ExistsWithDifferentCurrency)
        } else if t.code != e.code {
            Err(E::ExistsWithDifferentCode)
        } else {
            Ok(Outcome::Exists)
        }
    }
}

/// The request's own fields of a plain or pending transfer.
fn check_fields(t: &NewTransfer) -> Result<(), TransferError> {
    if t.debit_account_id == 0 {
        return Err(E::DebitAccountIdMustNotBeZero);
    }
    if t.debit_account_id == u128::MAX {
        return Err(E::DebitAccountIdMustNotBeIntMax);
    }
    if t.credit_account_id == 0 {
        return Err(E::CreditAccountIdMustNotBeZero);
    }
    if t.credit_account_id == u128::MAX {
        return Err(E::CreditAccountIdMustNotBeIntMax);
    }
    if t.credit_account_id == t.debit_account_id {
        return Err(E::AccountsMustBeDifferent);
    }
    if t.pending_id != 0 {
        return Err(E::PendingIdMustBeZero);
    }
    if !t.flags.contains(TransferFlags::PENDING) {
        if t.timeout_s != 0 {
            return Err(E::TimeoutReservedForPendingTransfer);
        }
        if t.flags.contains(TransferFlags::CLOSING_DEBIT) || t.flags.contains(TransferFlags::CLOSING_CREDIT) {
            return Err(E::ClosingTransferMustBePending);
        }
    }
    if t.currency.is_none() {
        return Err(E::CurrencyMustNotBeNone);
    }
    if t.code == 0 {
        return Err(E::CodeMustNotBeZero);
    }
    Ok(())
}

/// What a transfer moves: its amount, or for a balancing transfer at most what the account has.
fn balanced_amount(t: &NewTransfer, dr: &Account, cr: &Account) -> u64 {
    let mut amount = t.amount;
    if t.flags.contains(TransferFlags::BALANCING_DEBIT) {
        amount = amount.min(dr.credits_posted.saturating_sub(dr.debits_posted + dr.debits_pending));
    }
    if t.flags.contains(TransferFlags::BALANCING_CREDIT) {
        amount = amount.min(cr.debits_posted.saturating_sub(cr.credits_posted + cr.credits_pending));
    }
    amount
}

/// Overflows (against the cap), the timeout, then the accounts' limits.
fn check_balances(t: &NewTransfer, dr: &Account, cr: &Account, amount: u64, timestamp: u64) -> Result<(), TransferError> {
    if t.flags.contains(TransferFlags::PENDING) {
        add(amount, dr.debits_pending).ok_or(E::OverflowsDebitsPending)?;
        add(amount, cr.credits_pending).ok_or(E::OverflowsCreditsPending)?;
    }
    add(amount, dr.debits_posted).ok_or(E::OverflowsDebitsPosted)?;
    add(amount, cr.credits_posted).ok_or(E::OverflowsCreditsPosted)?;
    add(dr.debits_pending + dr.debits_posted, amount).ok_or(E::OverflowsDebits)?;
    add(cr.credits_pending + cr.credits_posted, amount).ok_or(E::OverflowsCredits)?;
    add(timestamp, u64::from(t.timeout_s).saturating_mul(1_000_000_000)).ok_or(E::OverflowsTimeout)?;
    if dr.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) && dr.debits_pending + dr.debits_posted + amount > dr.credits_posted
    {
        return Err(E::ExceedsCredits);
    }
    if cr.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) && cr.credits_pending + cr.credits_posted + amount > cr.debits_posted
    {
        return Err(E::ExceedsDebits);
    }
    Ok(())
}

/// What a post or void moves: a void always the whole pending amount (0 names it); a post what it says
/// ([`AMOUNT_ALL`] names the whole), at most the pending amount.
fn resolved_amount(t: &NewTransfer, p: &Transfer) -> u64 {
    let void = t.flags.contains(TransferFlags::VOID_PENDING);
    match (void, t.amount) {
        (true, 0) | (false, AMOUNT_ALL) => p.amount,
        (_, amount) => amount,
    }
}

/// A committed post or void: the pending transfer's accounts, currency and code; the request's
/// user_data, or the pending transfer's when the request leaves it 0.
fn resolution_of(t: &NewTransfer, p: &Transfer, amount: u64, timestamp: u64) -> Transfer {
    Transfer {
        id: t.id,
        debit_account_id: p.debit_account_id,
        credit_account_id: p.credit_account_id,
        amount,
        pending_id: p.id,
        currency: p.currency,
        code: p.code,
        flags: t.flags,
        timeout_s: 0,
        user_data: if t.user_data != 0 { t.user_data } else { p.user_data },
        timestamp,
    }
}

/// A retry of a committed post or void: fields the request leaves unset are those of the pending
/// transfer `p`, as they were when `e` was committed.
fn resolution_exists(t: &NewTransfer, e: &Transfer, p: &Transfer) -> TransferResult {
    let same_amount = resolved_amount(t, p) == e.amount;
    let user_data = if t.user_data == 0 { p.user_data } else { t.user_data };
    if t.debit_account_id != 0 && t.debit_account_id != e.debit_account_id {
        Err(E::ExistsWithDifferentDebitAccountId)
    } else if t.credit_account_id != 0 && t.credit_account_id != e.credit_account_id {
        Err(E::ExistsWithDifferentCreditAccountId)
    } else if !same_amount {
        Err(E::ExistsWithDifferentAmount)
    } else if user_data != e.user_data {
        Err(E::ExistsWithDifferentUserData)
    } else if t.currency.is_some_and(|c| c != e.currency) {
        Err(E::ExistsWithDifferentCurrency)
    } else if t.code != 0 && t.code != e.code {
        Err(E::ExistsWithDifferentCode)
    } else {
        Ok(Outcome::Exists)
    }
}
