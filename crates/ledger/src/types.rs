//! Accounts, transfers and their flags.

use money::Currency;
use serde::{Deserialize, Serialize};

/// Account and transfer ids. Zero and `u128::MAX` are reserved (never valid ids), so a default value or a
/// sentinel can never be mistaken for a real object.
pub type Id = u128;

/// Every balance and amount is at most this many minor units, so it fits a signed 64-bit database
/// column (SQLite INTEGER, PostgreSQL BIGINT) on every backend. 9.2 × 10^18 fen is 92 quadrillion yuan.
pub const AMOUNT_MAX: u64 = i64::MAX as u64;

/// As a post's amount: the whole pending amount. As a balancing transfer's amount: as much as the
/// account can give. (TigerBeetle's `AMOUNT_MAX`, 2^128−1, plays this part there.)
pub const AMOUNT_ALL: u64 = u64::MAX;

macro_rules! flags {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $flag:ident = $bit:expr, $label:literal;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u16);

        impl $name {
            $($(#[$fmeta])* pub const $flag: $name = $name($bit);)*
            const ALL: &'static [($name, &'static str)] = &[$(($name::$flag, $label)),*];

            pub const fn empty() -> $name { $name(0) }
            pub const fn contains(self, other: $name) -> bool { self.0 & other.0 == other.0 && other.0 != 0 }
            pub const fn union(self, other: $name) -> $name { $name(self.0 | other.0) }
            pub const fn without(self, other: $name) -> $name { $name(self.0 & !other.0) }
            /// Bits no flag uses.
            pub const fn unknown_bits(self) -> u16 { self.0 & !($($bit)|*) }

            /// The flags' names, for JSON and logs.
            pub fn names(self) -> Vec<&'static str> {
                Self::ALL.iter().filter(|(f, _)| self.contains(*f)).map(|(_, n)| *n).collect()
            }

            /// Parse a list of flag names; unknown names are an error naming the culprit.
            pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<$name, String> {
                let mut flags = $name::empty();
                for name in names {
                    let name = name.as_ref();
                    let flag = Self::ALL.iter().find(|(_, n)| *n == name).ok_or_else(|| format!("unknown flag {name:?}"))?;
                    flags = flags.union(flag.0);
                }
                Ok(flags)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", self.names())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.names().serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let names = Vec::<String>::deserialize(d)?;
                $name::from_names(&names).map_err(serde::de::Error::custom)
            }
        }
    };
}

flags! {
    /// Account flags, kept as sent (`linked` included, as TigerBeetle keeps them); `closed` also changes
    /// with closing transfers.
    AccountFlags {
        /// This account and the next one in the batch succeed or fail together.
        LINKED = 1 << 0, "linked";
        /// debits (pending + posted) may never exceed posted credits: a wallet cannot go negative.
        DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1, "debits_must_not_exceed_credits";
        /// credits (pending + posted) may never exceed posted debits: an external rail's mirror account.
        CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2, "credits_must_not_exceed_debits";
        /// No transfer may debit or credit the account (other than voiding a pending one). Set by a
        /// closing pending transfer and cleared when it is voided or expires; an account may also be
        /// created closed (it then stays closed).
        CLOSED = 1 << 3, "closed";
    }
}

flags! {
    /// Transfer flags, as in TigerBeetle.
    TransferFlags {
        /// This transfer and the next one in the batch succeed or fail together.
        LINKED = 1 << 0, "linked";
        /// Reserve the amount (pending balances) until posted, voided, or timed out.
        PENDING = 1 << 1, "pending";
        /// Post (fully or partly) the pending transfer `pending_id`.
        POST_PENDING = 1 << 2, "post_pending_transfer";
        /// Void the pending transfer `pending_id`, releasing its reservation.
        VOID_PENDING = 1 << 3, "void_pending_transfer";
        /// (pending only) close the debit account while this transfer is pending.
        CLOSING_DEBIT = 1 << 4, "closing_debit";
        /// (pending only) close the credit account while this transfer is pending.
        CLOSING_CREDIT = 1 << 5, "closing_credit";
        /// Move at most what the debit account holds (posted credits − posted debits − pending debits):
        /// `amount` is an upper bound, the committed transfer records what actually moved (maybe 0).
        BALANCING_DEBIT = 1 << 6, "balancing_debit";
        /// Move at most what the credit account may still take (posted debits − posted credits − pending
        /// credits), as `balancing_debit` does on the other side.
        BALANCING_CREDIT = 1 << 7, "balancing_credit";
    }
}

/// An account as the caller asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    pub id: Id,
    pub currency: Currency,
    /// What kind of account (wallet, merchant receivable, escrow ...); chosen by the platform. Non-zero.
    pub code: u16,
    pub flags: AccountFlags,
    /// A reference to the owning business object (0 = none).
    pub user_data: u128,
}

/// An account as the ledger holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: Id,
    pub currency: Currency,
    pub code: u16,
    pub flags: AccountFlags,
    pub user_data: u128,
    pub debits_pending: u64,
    pub debits_posted: u64,
    pub credits_pending: u64,
    pub credits_posted: u64,
    /// Nanoseconds since the Unix epoch, unique across all events.
    pub timestamp: u64,
}

impl Account {
    /// Posted credits minus posted debits (what a wallet holder may spend, before pending debits).
    pub fn net_credit_posted(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted)
    }

    /// What may still be debited under `debits_must_not_exceed_credits`.
    pub fn available(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted) - i128::from(self.debits_pending)
    }
}

/// A transfer as the caller asks for it.
///
/// For `post_pending_transfer` and `void_pending_transfer`, the debit and credit accounts, currency and
/// code may be left unset (0 / `None`): they are taken from the pending transfer, and must match it if set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTransfer {
    /// Also the idempotency key: a retry with the same id and fields is answered `exists`.
    pub id: Id,
    pub debit_account_id: Id,
    pub credit_account_id: Id,
    /// Minor units. For a post, at most the pending amount (a partial post releases the rest); for a void,
    /// 0 or the pending amount; 0 is otherwise allowed only on a closing transfer.
    pub amount: u64,
    pub pending_id: Id,
    pub currency: Option<Currency>,
    /// Why the money moved (top-up, red-packet claim ...); chosen by the platform. Non-zero.
    pub code: u16,
    pub flags: TransferFlags,
    /// Seconds after which a pending transfer is voided automatically (0 = never).
    pub timeout_s: u32,
    /// A reference to the business object (order, red packet ...).
    pub user_data: u128,
}

/// A committed transfer: immutable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub id: Id,
    pub debit_account_id: Id,
    pub credit_account_id: Id,
    pub amount: u64,
    pub pending_id: Id,
    pub currency: Currency,
    pub code: u16,
    pub flags: TransferFlags,
    pub timeout_s: u32,
    pub user_data: u128,
    pub timestamp: u64,
}

impl Transfer {
    /// When a pending transfer with a timeout expires (nanoseconds), if it does.
    pub fn expires_at(&self) -> Option<u64> {
        (self.flags.contains(TransferFlags::PENDING) && self.timeout_s > 0)
            .then(|| self.timestamp.saturating_add(u64::from(self.timeout_s) * 1_000_000_000))
    }
}

/// Where a pending transfer stands. Changes at most once, from `Pending` to one of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingState {
    Pending,
    Posted,
    Voided,
    Expired,
}

impl PendingState {
    pub fn as_u8(self) -> u8 {
        match self {
            PendingState::Pending => 0,
            PendingState::Posted => 1,
            PendingState::Voided => 2,
            PendingState::Expired => 3,
        }
    }

    pub fn from_u8(v: u8) -> Option<PendingState> {
        Some(match v {
            0 => PendingState::Pending,
            1 => PendingState::Posted,
            2 => PendingState::Voided,
            3 => PendingState::Expired,
            _ => return None,
        })
    }
}
