//! Rails: the card acquirers and banks money comes in from and goes out to, behind one trait. Every call
//! is idempotent on the caller's key, as an acquirer's API is, and `lookup` answers what the rail did
//! with a key, so an operation interrupted before its answer arrived is finished (or known never to
//! have happened) rather than guessed. Calls block: run them off the async runtime.
//!
//! The sandbox behaves like an acquirer's test mode: documented test card numbers approve, decline, or
//! answer later; it remembers what it was asked in its own table, so its memory outlives a crash of the
//! platform, as a real acquirer's does.

use super::store::{self, SandboxEntry};
use crate::crypto;
use ::store::{Clock, Db};
use money::Currency;
use std::sync::Arc;

/// What the rail said about a charge, a payout or a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RailOutcome {
    Approved {
        reference: String,
    },
    Declined {
        reason: String,
    },
    /// Not decided yet: ask again with [`RailConnector::status`].
    Pending {
        reference: String,
    },
}

pub trait RailConnector: Send + Sync {
    /// Vault a card number with the rail; the platform keeps only the token.
    fn tokenize(&self, number: &str) -> String;
    /// Charge a vaulted card. Idempotent on `idempotency_key`: asking again returns the first answer.
    fn charge(&self, token: &str, currency: Currency, amount_minor: i64, idempotency_key: &str) -> RailOutcome;
    /// The current answer for a charge or payout.
    fn status(&self, reference: &str) -> RailOutcome;
    /// What the rail did with `idempotency_key`, with its current answer; `None` if it never heard of it.
    fn lookup(&self, idempotency_key: &str) -> Option<RailOutcome>;
    /// Give back an approved charge in full (or cancel a pending one). Idempotent on `idempotency_key`.
    fn refund(&self, reference: &str, idempotency_key: &str) -> RailOutcome;
    /// Give back part of an approved charge (several parts add up to at most the charge). Idempotent on
    /// `idempotency_key`.
    fn refund_amount(&self, reference: &str, amount_minor: i64, idempotency_key: &str) -> RailOutcome;
    /// Vault a bank account number with the rail; the platform keeps only the token.
    fn tokenize_bank_account(&self, number: &str) -> String;
    /// Pay out to a vaulted bank account. Banks answer later: the first answer is `Pending`.
    /// Idempotent on `idempotency_key`.
    fn payout(&self, token: &str, currency: Currency, amount_minor: i64, idempotency_key: &str) -> RailOutcome;
}

/// The sandbox's documented test cards (any other Luhn-valid number is approved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestCard {
    Approve,
    Decline,
    InsufficientFunds,
    /// Pending, approved after the confirmation delay.
    ApproveLater,
    /// Pending, then fails after the confirmation delay (a timeout at the issuer).
    TimeOut,
    /// A bank account the bank refuses to pay (the sandbox: account numbers ending in 0000).
    BankRejects,
}

impl TestCard {
    pub const NUMBERS: &'static [(&'static str, TestCard)] = &[
        ("4242424242424242", TestCard::Approve),
        ("5555555555554444", TestCard::Approve),
        ("6200000000000005", TestCard::Approve),
        ("4000000000000002", TestCard::Decline),
        ("4000000000009995", TestCard::InsufficientFunds),
        ("4000000000000259", TestCard::ApproveLater),
        ("4000000000000119", TestCard::TimeOut),
    ];

    const ALL: [TestCard; 6] = [
        TestCard::Approve,
        TestCard::Decline,
        TestCard::InsufficientFunds,
        TestCard::ApproveLater,
        TestCard::TimeOut,
        TestCard::BankRejects,
    ];

    fn of(number: &str) -> TestCard {
        TestCard::NUMBERS.iter().find(|(n, _)| *n == number).map(|(_, b)| *b).unwrap_or(TestCard::Approve)
    }

    fn tag(self) -> &'static str {
        match self {
            TestCard::Approve => "ok",
            TestCard::Decline => "decline",
            TestCard::InsufficientFunds => "nsf",
            TestCard::ApproveLater => "later",
            TestCard::TimeOut => "timeout",
            TestCard::BankRejects => "reject",
        }
    }

    fn from_tag(tag: &str) -> Option<TestCard> {
        TestCard::ALL.into_iter().find(|b| b.tag() == tag)
    }
}

/// The sandbox acquirer and bank. Its token carries the test behaviour (as a test-mode token may).
pub struct SandboxRail {
    clock: Arc<dyn Clock>,
    confirm_after_ms: i64,
    db: Arc<Db>,
}

fn stored(e: &SandboxEntry) -> RailOutcome {
    match e.outcome.as_str() {
        "approved" => RailOutcome::Approved { reference: e.reference.clone() },
        "pending" => RailOutcome::Pending { reference: e.reference.clone() },
        _ => RailOutcome::Declined { reason: e.reason.clone().unwrap_or_default() },
    }
}

fn outcome_text(o: &RailOutcome) -> (&'static str, Option<String>) {
    match o {
        RailOutcome::Approved { .. } => ("approved", None),
        RailOutcome::Pending { .. } => ("pending", None),
        RailOutcome::Declined { reason } => ("declined", Some(reason.clone())),
    }
}

impl SandboxRail {
    pub fn new(clock: Arc<dyn Clock>, confirm_after_ms: u64, db: Arc<Db>) -> SandboxRail {
        SandboxRail { clock, confirm_after_ms: i64::try_from(confirm_after_ms).unwrap_or(i64::MAX / 2), db }
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ns() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// A pending entry's answer now: decided once the confirmation delay has passed.
    fn current(&self, e: &SandboxEntry) -> RailOutcome {
        match stored(e) {
            RailOutcome::Pending { reference } if self.now_ms() >= e.created_at_ms + self.confirm_after_ms => {
                match TestCard::from_tag(&e.behaviour) {
                    Some(TestCard::TimeOut) => RailOutcome::Declined { reason: "issuer_timeout".into() },
                    Some(TestCard::BankRejects) => RailOutcome::Declined { reason: "account_closed".into() },
                    _ => RailOutcome::Approved { reference },
                }
            }
            outcome => outcome,
        }
    }

    /// One call, in one transaction: the answer kept for `key`, or `decide`'s, kept.
    fn once(&self, key: &str, decide: impl Fn(&mut dyn ::store::Conn) -> ::store::Result<SandboxEntry>) -> RailOutcome {
        let result = self.db.transaction(|c| {
            if let Some(e) = store::sandbox_by_key(c, key)? {
                return Ok(stored(&e));
            }
            let entry = decide(c)?;
            store::sandbox_insert(c, &entry)?;
            Ok(stored(&entry))
        });
        result.unwrap_or_else(|e| RailOutcome::Declined { reason: format!("sandbox unavailable: {e}") })
    }

    fn entry(
        &self,
        key: &str,
        operation: &'static str,
        behaviour: &str,
        amount: i64,
        outcome: RailOutcome,
        parent: Option<&str>,
    ) -> SandboxEntry {
        let (text, reason) = outcome_text(&outcome);
        SandboxEntry {
            key: key.to_string(),
            reference: format!("sbx_{key}"),
            operation,
            behaviour: behaviour.to_string(),
            amount_minor: amount,
            refunded_minor: 0,
            outcome: text.to_string(),
            reason,
            parent: parent.map(str::to_string),
            created_at_ms: self.now_ms(),
        }
    }
}

impl RailConnector for SandboxRail {
    fn tokenize(&self, number: &str) -> String {
        format!("tok_sbx_{}_{}", TestCard::of(number).tag(), crypto::hex(&crypto::random_bytes::<12>()))
    }

    fn charge(&self, token: &str, _currency: Currency, amount_minor: i64, idempotency_key: &str) -> RailOutcome {
        let behaviour = token.strip_prefix("tok_sbx_").and_then(|rest| rest.split('_').next()).and_then(TestCard::from_tag);
        let reference = format!("sbx_{idempotency_key}");
        let outcome = match behaviour {
            None => RailOutcome::Declined { reason: "unknown card token".into() },
            Some(_) if amount_minor <= 0 => RailOutcome::Declined { reason: "invalid amount".into() },
            Some(TestCard::Approve) => RailOutcome::Approved { reference },
            Some(TestCard::Decline) => RailOutcome::Declined { reason: "card_declined".into() },
            Some(TestCard::InsufficientFunds) => RailOutcome::Declined { reason: "insufficient_funds".into() },
            Some(TestCard::ApproveLater | TestCard::TimeOut | TestCard::BankRejects) => RailOutcome::Pending { reference },
        };
        let tag = behaviour.map(TestCard::tag).unwrap_or("decline");
        self.once(idempotency_key, |_| Ok(self.entry(idempotency_key, "charge", tag, amount_minor, outcome.clone(), None)))
    }

    fn tokenize_bank_account(&self, number: &str) -> String {
        let behaviour = if number.ends_with("0000") { TestCard::BankRejects } else { TestCard::ApproveLater };
        format!("tok_sbx_{}_{}", behaviour.tag(), crypto::hex(&crypto::random_bytes::<12>()))
    }

    fn payout(&self, token: &str, currency: Currency, amount_minor: i64, idempotency_key: &str) -> RailOutcome {
        // A payout behaves as a charge whose answer comes later (the token says which answer).
        self.charge(token, currency, amount_minor, idempotency_key)
    }

    fn refund(&self, reference: &str, idempotency_key: &str) -> RailOutcome {
        self.once(idempotency_key, |c| {
            let charge = store::sandbox_by_reference(c, reference)?;
            let outcome = match &charge {
                Some(e) if matches!(self.current(e), RailOutcome::Approved { .. } | RailOutcome::Pending { .. }) => {
                    // The charge is given back: asking about it now says so.
                    store::sandbox_update(c, reference, "declined", Some("refunded"), e.amount_minor)?;
                    RailOutcome::Approved { reference: String::new() }
                }
                Some(_) => RailOutcome::Declined { reason: "nothing to refund".into() },
                None => RailOutcome::Declined { reason: "unknown_charge".into() },
            };
            let amount = charge.map_or(0, |e| e.amount_minor - e.refunded_minor);
            Ok(self.entry(idempotency_key, "refund", "ok", amount, outcome, Some(reference)))
        })
    }

    fn refund_amount(&self, reference: &str, amount_minor: i64, idempotency_key: &str) -> RailOutcome {
        self.once(idempotency_key, |c| {
            let charge = store::sandbox_by_reference(c, reference)?;
            let outcome = match &charge {
                Some(e)
                    if matches!(self.current(e), RailOutcome::Approved { .. })
                        && amount_minor > 0
                        && e.refunded_minor + amount_minor <= e.amount_minor =>
                {
                    store::sandbox_update(c, reference, "approved", None, e.refunded_minor + amount_minor)?;
                    RailOutcome::Approved { reference: String::new() }
                }
                Some(_) => RailOutcome::Declined { reason: "more than is left of the charge".into() },
                None => RailOutcome::Declined { reason: "unknown_charge".into() },
            };
            Ok(self.entry(idempotency_key, "refund", "ok", amount_minor, outcome, Some(reference)))
        })
    }

    fn status(&self, reference: &str) -> RailOutcome {
        match self.db.with(|c| store::sandbox_by_reference(c, reference)) {
            Ok(Some(e)) => self.current(&e),
            Ok(None) => RailOutcome::Declined { reason: "unknown_charge".into() },
            // The sandbox's own store is unreachable: undecided, ask again later.
            Err(_) => RailOutcome::Pending { reference: reference.to_string() },
        }
    }

    fn lookup(&self, idempotency_key: &str) -> Option<RailOutcome> {
        match self.db.with(|c| store::sandbox_by_key(c, idempotency_key)) {
            Ok(found) => found.map(|e| self.current(&e)),
            // Unknown is not "never happened": say pending, and the sweep asks again later.
            Err(_) => Some(RailOutcome::Pending { reference: format!("sbx_{idempotency_key}") }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_behaviour_survives_its_token() {
        for b in TestCard::ALL {
            assert_eq!(TestCard::from_tag(b.tag()), Some(b));
        }
    }
}
