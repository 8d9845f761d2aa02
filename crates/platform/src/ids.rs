//! Ids. Platform objects get time-ordered 63-bit ids, or, when a client's `Idempotency-Key` names the
//! request, an id *derived* from the key (so the same request can only ever make the same object, however
//! late it is retried). The ledger accounts and transfers an object causes get ids derived from it (see
//! [`crate::chart`]), so creating them again is always the same request (answered `exists`).

use crate::{PlatformError, Result};

/// `(ms since epoch) << 20 | 20 random bits`: ordered by creation, unique in practice (the database's
/// primary keys catch the one-in-a-million same-millisecond clash). Within one process ids strictly
/// increase, even when the clock stands still (a manual clock) or steps back.
pub fn object_id(now_ms: i64) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let random = crate::crypto::random_u64() & 0xF_FFFF;
    assert!(now_ms > 0 && now_ms < (1 << 43), "clock within 1970..2248");
    let candidate = (now_ms << 20) | random as i64;
    let previous = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(candidate.max(last + 1)))
        .expect("fetch_update with Some never fails");
    candidate.max(previous + 1)
}

/// The id of the object a keyed request makes: 63 bits of a MAC over who asked, what for and the key.
/// The same request makes the same id forever (after its key's stored answer expired too); different
/// people's keys never meet.
pub(crate) fn keyed_object_id(mac: &[u8]) -> i64 {
    let bytes: [u8; 8] = mac[..8].try_into().expect("a MAC has at least 8 bytes");
    let id = (u64::from_be_bytes(bytes) >> 1) as i64;
    id.max(1)
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            /// From a stored or derived value (positive).
            pub fn new(id: i64) -> $name {
                assert!(id > 0, concat!("a ", $what, " id is positive"));
                $name(id)
            }

            pub fn get(self) -> i64 {
                self.0
            }

            /// From the wire: a positive decimal.
            pub fn parse(field: &'static str, text: &str) -> Result<$name> {
                parse(field, text).map($name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        /// Ids exceed 2^53, so on the wire they are decimal strings (JavaScript numbers would round them).
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.0.to_string())
            }
        }

        impl From<$name> for ::store::Value {
            fn from(id: $name) -> ::store::Value {
                ::store::Value::Int(id.0)
            }
        }
    };
}

id_type!(
    /// A person (a wallet holder).
    PersonId,
    "person"
);
id_type!(
    /// A merchant (direct, service provider or sub-merchant); never on the merchant API's wire (mchid is).
    MerchantId,
    "merchant"
);
id_type!(
    /// A merchant order.
    OrderId,
    "order"
);

/// Ids exceed 2^53, so on the wire they are decimal strings.
pub fn as_string<S: serde::Serializer>(id: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

pub fn opt_as_string<S: serde::Serializer>(id: &Option<i64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&id.to_string()),
        None => s.serialize_none(),
    }
}

pub fn vec_as_string<S: serde::Serializer, T: std::fmt::Display>(ids: &[T], s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(ids.len()))?;
    for id in ids {
        seq.serialize_element(&id.to_string())?;
    }
    seq.end()
}

/// Parse an id from the wire: a positive decimal i64.
pub fn parse(field: &'static str, text: &str) -> Result<i64> {
    text.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| PlatformError::invalid(field, format!("{text:?} is not an id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_increase_even_when_the_clock_stands_still() {
        let a = object_id(1_700_000_000_000);
        let b = object_id(1_700_000_000_000);
        assert!(b > a);
    }

    #[test]
    fn keyed_ids_are_positive_and_stable() {
        let mac = crate::crypto::sha256(b"x");
        assert_eq!(keyed_object_id(&mac), keyed_object_id(&mac));
        assert!(keyed_object_id(&[0xff; 32]) > 0 && keyed_object_id(&[0; 32]) > 0);
    }
}
