//! Creating an account, in TigerBeetle's order of checks (`create_account`): reserved flag bits, the
//! reserved ids, then an existing account with that id (compared field by field), then the request's own
//! fields.

use crate::{Account, AccountError, AccountFlags, AccountResult, Changes, Ledger, NewAccount, Outcome};

impl Ledger {
    pub(crate) fn create_account(&mut self, new: &NewAccount, timestamp: u64, changes: &mut Changes) -> AccountResult {
        use AccountError as E;
        let flags = new.flags;
        if flags.unknown_bits() != 0 {
            return Err(E::FlagsReserved);
        }
        if new.id == 0 {
            return Err(E::IdMustNotBeZero);
        }
        if new.id == u128::MAX {
            return Err(E::IdMustNotBeIntMax);
        }
        if let Some(existing) = self.accounts.get(&new.id) {
            return account_exists(new, existing);
        }
        if flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) && flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) {
            return Err(E::FlagsAreMutuallyExclusive);
        }
        if new.currency.minor_units().is_none() {
            return Err(E::CurrencyMustBeMoney);
        }
        if new.code == 0 {
            return Err(E::CodeMustNotBeZero);
        }
        // Flags are kept as sent (`linked` and `closed` included), as TigerBeetle keeps them.
        self.put_account(Account {
            id: new.id,
            currency: new.currency,
            code: new.code,
            flags,
            user_data: new.user_data,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
            timestamp,
        });
        changes.accounts_created.push(new.id);
        Ok(Outcome::Created)
    }
}

/// A retry of an account: every field as stored, or the first that differs. The stored flags are the
/// account's current ones: a closing transfer's `closed` counts.
fn account_exists(new: &NewAccount, existing: &Account) -> AccountResult {
    use AccountError as E;
    if existing.flags != new.flags {
        Err(E::ExistsWithDifferentFlags)
    } else if existing.user_data != new.user_data {
        Err(E::ExistsWithDifferentUserData)
    } else if existing.currency != new.currency {
        Err(E::ExistsWithDifferentCurrency)
    } else if existing.code != new.code {
        Err(E::ExistsWithDifferentCode)
    } else {
        Ok(Outcome::Exists)
    }
}
