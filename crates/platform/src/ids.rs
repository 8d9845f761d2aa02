//! Ids. Platform objects get time-ordered 63-bit ids; the ledger accounts and transfers a platform object
//! causes get ids *derived* from it, so creating them again is always the same request (answered
//! `exists`), from any instance, after any crash.

/// `(ms since epoch) << 20 | 20 random bits`: ordered by creation, unique in practice (the database's
/// primary keys catch the one-in-a-million same-millisecond clash).
/// Within one process ids strictly increase, even when the clock stands still (a manual clock) or
/// steps back.
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

/// Ledger account kinds (also the account `code`).
pub mod account {
    pub const WALLET: u16 = 1;
    pub const CARD_RAIL: u16 = 2;
    pub const BANK_RAIL: u16 = 3;
    pub const PACKET_ESCROW: u16 = 4;
    /// What a merchant has been paid and not yet settled (per currency); refunds may take it below zero.
    pub const MERCHANT_RECEIVABLE: u16 = 5;
    /// The platform's fee income per currency.
    pub const FEE_REVENUE: u16 = 6;
    /// Money on its way to merchants' settlement bank accounts, per currency.
    pub const SETTLEMENT_CLEARING: u16 = 7;
}

/// Ledger transfer kinds (also the transfer `code`).
pub mod transfer {
    pub const TOP_UP: u16 = 1;
    pub const WITHDRAWAL: u16 = 2;
    pub const WITHDRAWAL_POST: u16 = 3;
    pub const WITHDRAWAL_VOID: u16 = 4;
    pub const CARD_FUND: u16 = 5;
    pub const P2P: u16 = 10;
    pub const P2P_ACCEPT: u16 = 11;
    pub const P2P_DECLINE: u16 = 12;
    pub const PACKET_FUND: u16 = 20;
    pub const PACKET_CLAIM: u16 = 21;
    pub const PACKET_REFUND: u16 = 22;
    pub const ORDER_PAY: u16 = 30;
    pub const ORDER_REFUND: u16 = 31;
    pub const ORDER_CARD_FUND: u16 = 32;
    /// A refund of a card-funded payment leaving the payer's wallet for the card.
    pub const ORDER_REFUND_TO_CARD: u16 = 33;
    /// The card issuer refused that refund: the money comes back to the wallet.
    pub const ORDER_REFUND_TO_BALANCE: u16 = 34;
    pub const SETTLEMENT_FEE: u16 = 40;
    pub const SETTLEMENT_PAYOUT: u16 = 41;
}

/// The ledger id of something `kind` about `object`, with a sub-index (a share number, a currency).
pub fn derived(object: i64, kind: u16, sub: u32) -> u128 {
    assert!(object > 0);
    (u128::from(object as u64) << 64) | (u128::from(kind) << 48) | u128::from(sub)
}

/// The platform's own accounts (rails) per currency: high half 0x5157 ("QW"), never a person's id.
pub fn system_account(kind: u16, currency: u16) -> u128 {
    (0x5157u128 << 64) | (u128::from(kind) << 48) | u128::from(currency)
}

pub fn wallet(person: i64, currency: u16) -> u128 {
    derived(person, account::WALLET, u32::from(currency))
}

/// Ids exceed 2^53, so on the wire they are decimal strings (JavaScript numbers would round them).
pub fn as_string<S: serde::Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

pub fn opt_as_string<S: serde::Serializer>(id: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&id.to_string()),
        None => s.serialize_none(),
    }
}

pub fn vec_as_string<S: serde::Serializer>(ids: &[i64], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(ids.len()))?;
    for id in ids {
        seq.serialize_element(&id.to_string())?;
    }
    seq.end()
}

/// Parse an id from the wire: a positive decimal i64.
pub fn parse(field: &'static str, text: &str) -> crate::Result<i64> {
    text.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| crate::PlatformError::invalid(field, format!("{text:?} is not an id")))
}

pub fn merchant_receivable(merchant: i64, currency: u16) -> u128 {
    derived(merchant, account::MERCHANT_RECEIVABLE, u32::from(currency))
}
