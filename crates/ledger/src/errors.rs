//! One result code per way an event can fail, as TigerBeetle does: a caller can always tell
//! "insufficient funds" (`exceeds_credits`) from "account closed" (`debit_account_already_closed`).

use serde::Serialize;

macro_rules! codes {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $code:literal, $text:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant,)* }

        impl $name {
            /// Every code, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// Parse a stored code back (codes are stable; stored as text, never by position).
            pub fn from_code(code: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|c| c.code() == code)
            }

            /// The stable snake_case code used on the wire and in metrics.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self { $($name::$variant => f.write_str($text),)* }
            }
        }

        impl std::error::Error for $name {}

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }
    };
}

codes! {
    /// Why an account was not created.
    AccountError {
        LinkedEventFailed => "linked_event_failed", "another event in this linked chain failed";
        LinkedEventChainOpen => "linked_event_chain_open", "the last event of the batch has the linked flag: the chain is never closed";
        IdMustNotBeZero => "id_must_not_be_zero", "id 0 is reserved";
        IdMustNotBeIntMax => "id_must_not_be_int_max", "id 2^128-1 is reserved";
        FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive", "debits_must_not_exceed_credits and credits_must_not_exceed_debits cannot both be set";
        FlagsReserved => "flags_reserved", "unknown flag bits";
        CodeMustNotBeZero => "code_must_not_be_zero", "code 0 is reserved";
        CurrencyMustBeMoney => "currency_must_be_money", "the currency has no minor unit (XAU, XDR, XTS ...) and cannot hold money";
        ExistsWithDifferentFlags => "exists_with_different_flags", "an account with this id exists with different flags";
        ExistsWithDifferentUserData => "exists_with_different_user_data", "an account with this id exists with different user_data";
        ExistsWithDifferentCurrency => "exists_with_different_currency", "an account with this id exists in a different currency";
        ExistsWithDifferentCode => "exists_with_different_code", "an account with this id exists with a different code";
    }
}

codes! {
    /// Why a transfer was not committed.
    TransferError {
        LinkedEventFailed => "linked_event_failed", "another event in this linked chain failed";
        LinkedEventChainOpen => "linked_event_chain_open", "the last event of the batch has the linked flag: the chain is never closed";
        IdMustNotBeZero => "id_must_not_be_zero", "id 0 is reserved";
        IdMustNotBeIntMax => "id_must_not_be_int_max", "id 2^128-1 is reserved";
        IdAlreadyFailed => "id_already_failed", "a different transfer with this id failed before (an account missing or closed, not enough money, no such pending transfer): use a new id";
        FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive", "a post or void takes no other flag than linked";
        FlagsReserved => "flags_reserved", "unknown flag bits";
        DebitAccountIdMustNotBeZero => "debit_account_id_must_not_be_zero", "debit_account_id is required";
        DebitAccountIdMustNotBeIntMax => "debit_account_id_must_not_be_int_max", "debit_account_id 2^128-1 is reserved";
        CreditAccountIdMustNotBeZero => "credit_account_id_must_not_be_zero", "credit_account_id is required";
        CreditAccountIdMustNotBeIntMax => "credit_account_id_must_not_be_int_max", "credit_account_id 2^128-1 is reserved";
        AccountsMustBeDifferent => "accounts_must_be_different", "debit and credit account are the same";
        PendingIdMustBeZero => "pending_id_must_be_zero", "pending_id is only for post_pending_transfer and void_pending_transfer";
        PendingIdMustNotBeZero => "pending_id_must_not_be_zero", "post and void need the pending transfer's id";
        PendingIdMustNotBeIntMax => "pending_id_must_not_be_int_max", "pending_id 2^128-1 is reserved";
        PendingIdMustBeDifferent => "pending_id_must_be_different", "a transfer cannot post or void itself";
        TimeoutReservedForPendingTransfer => "timeout_reserved_for_pending_transfer", "timeout_s is only for pending transfers";
        ClosingTransferMustBePending => "closing_transfer_must_be_pending", "closing_debit and closing_credit need the pending flag";
        CurrencyMustNotBeNone => "currency_must_not_be_none", "currency is required";
        CodeMustNotBeZero => "code_must_not_be_zero", "code is required";
        DebitAccountNotFound => "debit_account_not_found", "no account with debit_account_id";
        CreditAccountNotFound => "credit_account_not_found", "no account with credit_account_id";
        AccountsMustHaveTheSameCurrency => "accounts_must_have_the_same_currency", "debit and credit accounts hold different currencies";
        TransferMustHaveTheSameCurrencyAsAccounts => "transfer_must_have_the_same_currency_as_accounts", "the transfer's currency is not the accounts' currency";
        PendingTransferNotFound => "pending_transfer_not_found", "no transfer with pending_id";
        PendingTransferNotPending => "pending_transfer_not_pending", "the transfer at pending_id is not a pending transfer";
        PendingTransferHasDifferentDebitAccountId => "pending_transfer_has_different_debit_account_id", "debit_account_id differs from the pending transfer's";
        PendingTransferHasDifferentCreditAccountId => "pending_transfer_has_different_credit_account_id", "credit_account_id differs from the pending transfer's";
        PendingTransferHasDifferentCurrency => "pending_transfer_has_different_currency", "currency differs from the pending transfer's";
        PendingTransferHasDifferentCode => "pending_transfer_has_different_code", "code differs from the pending transfer's";
        ExceedsPendingTransferAmount => "exceeds_pending_transfer_amount", "a post or void cannot be larger than its pending transfer";
        PendingTransferHasDifferentAmount => "pending_transfer_has_different_amount", "a void must name 0 or the full pending amount";
        PendingTransferAlreadyPosted => "pending_transfer_already_posted", "the pending transfer was already posted";
        PendingTransferAlreadyVoided => "pending_transfer_already_voided", "the pending transfer was already voided";
        PendingTransferExpired => "pending_transfer_expired", "the pending transfer timed out";
        ExistsWithDifferentFlags => "exists_with_different_flags", "a transfer with this id exists with different flags";
        ExistsWithDifferentPendingId => "exists_with_different_pending_id", "a transfer with this id exists with a different pending_id";
        ExistsWithDifferentTimeout => "exists_with_different_timeout", "a transfer with this id exists with a different timeout";
        ExistsWithDifferentDebitAccountId => "exists_with_different_debit_account_id", "a transfer with this id exists with a different debit account";
        ExistsWithDifferentCreditAccountId => "exists_with_different_credit_account_id", "a transfer with this id exists with a different credit account";
        ExistsWithDifferentAmount => "exists_with_different_amount", "a transfer with this id exists with a different amount";
        ExistsWithDifferentUserData => "exists_with_different_user_data", "a transfer with this id exists with different user_data";
        ExistsWithDifferentCurrency => "exists_with_different_currency", "a transfer with this id exists in a different currency";
        ExistsWithDifferentCode => "exists_with_different_code", "a transfer with this id exists with a different code";
        OverflowsDebitsPending => "overflows_debits_pending", "the debit account's pending debits would overflow";
        OverflowsCreditsPending => "overflows_credits_pending", "the credit account's pending credits would overflow";
        OverflowsDebitsPosted => "overflows_debits_posted", "the debit account's posted debits would overflow";
        OverflowsCreditsPosted => "overflows_credits_posted", "the credit account's posted credits would overflow";
        OverflowsDebits => "overflows_debits", "the debit account's debits (pending + posted) would overflow";
        OverflowsCredits => "overflows_credits", "the credit account's credits (pending + posted) would overflow";
        OverflowsTimeout => "overflows_timeout", "timestamp + timeout overflows";
        ExceedsCredits => "exceeds_credits", "insufficient funds: the debit account's debits would exceed its credits";
        ExceedsDebits => "exceeds_debits", "the credit account's credits would exceed its debits";
        DebitAccountAlreadyClosed => "debit_account_already_closed", "the debit account is closed";
        CreditAccountAlreadyClosed => "credit_account_already_closed", "the credit account is closed";
    }
}

impl TransferError {
    /// Whether the failure depends on the ledger's state at the time rather than on the request alone
    /// (TigerBeetle's `transient()`): such a failure is recorded, so the id can never succeed later.
    pub fn is_transient(self) -> bool {
        use TransferError as E;
        matches!(
            self,
            E::DebitAccountNotFound
                | E::CreditAccountNotFound
                | E::PendingTransferNotFound
                | E::ExceedsCredits
                | E::ExceedsDebits
                | E::DebitAccountAlreadyClosed
                | E::CreditAccountAlreadyClosed
        )
    }
}
