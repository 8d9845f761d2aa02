//! Rails: the card acquirers and banks money comes in from and goes out to, behind one trait. The sandbox
//! behaves like an acquirer's test mode: documented test card numbers approve, decline, or answer later.

use crate::crypto;
use money::Currency;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use store::Clock;

/// What the rail said about a charge.
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
    /// The current answer for a charge or payout that was pending.
    fn status(&self, reference: &str) -> RailOutcome;
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
/// Every behaviour must be in `TestCard::ALL` (the tokens name them).
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

    const ALL: [TestCard; 6] = [
        TestCard::Approve,
        TestCard::Decline,
        TestCard::InsufficientFunds,
        TestCard::ApproveLater,
        TestCard::TimeOut,
        TestCard::BankRejects,
    ];

    fn from_tag(tag: &str) -> Option<TestCard> {
        TestCard::ALL.into_iter().find(|b| b.tag() == tag)
    }
}

/// The sandbox acquirer. Its token carries the test behaviour (as a test-mode token may), so it keeps
/// working across restarts; pending charges are remembered in memory.
pub struct SandboxRail {
    clock: Arc<dyn Clock>,
    confirm_after_ms: u64,
    charges: Mutex<HashMap<String, (RailOutcome, TestCard, u64)>>,
    /// Per approved charge: (amount charged, amount refunded so far).
    amounts: Mutex<HashMap<String, (i64, i64)>>,
}

impl SandboxRail {
    pub fn new(clock: Arc<dyn Clock>, confirm_after_ms: u64) -> SandboxRail {
        SandboxRail { clock, confirm_after_ms, charges: Mutex::new(HashMap::new()), amounts: Mutex::new(HashMap::new()) }
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ns() / 1_000_000
    }
}

impl RailConnector for SandboxRail {
    fn tokenize(&self, number: &str) -> String {
        format!("tok_sbx_{}_{}", TestCard::of(number).tag(), crypto::hex(&crypto::random_bytes::<12>()))
    }

    fn charge(&self, token: &str, _currency: Currency, amount_minor: i64, idempotency_key: &str) -> RailOutcome {
        let mut charges = self.charges.lock().expect("sandbox lock");
        if let Some((outcome, _, _)) = charges.get(idempotency_key) {
            return outcome.clone();
        }
        let behaviour = token.strip_prefix("tok_sbx_").and_then(|rest| rest.split('_').next()).and_then(TestCard::from_tag);
        let reference = format!("sbx_{idempotency_key}");
        let outcome = match behaviour {
            None => RailOutcome::Declined { reason: "unknown card token".into() },
            Some(_) if amount_minor <= 0 => RailOutcome::Declined { reason: "invalid amount".into() },
            Some(TestCard::Approve) => RailOutcome::Approved { reference: reference.clone() },
            Some(TestCard::Decline) => RailOutcome::Declined { reason: "card_declined".into() },
            Some(TestCard::InsufficientFunds) => RailOutcome::Declined { reason: "insufficient_funds".into() },
            Some(TestCard::ApproveLater | TestCard::TimeOut | TestCard::BankRejects) => {
                RailOutcome::Pending { reference: reference.clone() }
            }
        };
        charges.insert(reference.clone(), (outcome.clone(), behaviour.unwrap_or(TestCard::Decline), self.now_ms()));
        if matches!(outcome, RailOutcome::Approved { .. }) {
            self.amounts.lock().expect("sandbox lock").insert(reference.clone(), (amount_minor, 0));
        }
        charges.insert(idempotency_key.to_string(), (outcome.clone(), behaviour.unwrap_or(TestCard::Decline), self.now_ms()));
        outcome
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
        let mut charges = self.charges.lock().expect("sandbox lock");
        if let Some((outcome, _, _)) = charges.get(idempotency_key) {
            return outcome.clone();
        }
        let outcome = match charges.get(reference) {
            Some((RailOutcome::Approved { .. } | RailOutcome::Pending { .. }, _, _)) => {
                RailOutcome::Approved { reference: format!("{reference}_refund") }
            }
            Some(_) => RailOutcome::Declined { reason: "nothing to refund".into() },
            None => RailOutcome::Declined { reason: "unknown_charge".into() },
        };
        // The charge is now given back: asking about it says so.
        if matches!(outcome, RailOutcome::Approved { .. }) {
            charges.insert(reference.to_string(), (RailOutcome::Declined { reason: "refunded".into() }, TestCard::Decline, self.now_ms()));
        }
        charges.insert(idempotency_key.to_string(), (outcome.clone(), TestCard::Approve, self.now_ms()));
        outcome
    }

    fn refund_amount(&self, reference: &str, amount_minor: i64, idempotency_key: &str) -> RailOutcome {
        let mut charges = self.charges.lock().expect("sandbox lock");
        if let Some((outcome, _, _)) = charges.get(idempotency_key) {
            return outcome.clone();
        }
        let mut amounts = self.amounts.lock().expect("sandbox lock");
        let outcome = match amounts.get_mut(reference) {
            Some((charged, refunded)) if amount_minor > 0 && *refunded + amount_minor <= *charged => {
                *refunded += amount_minor;
                RailOutcome::Approved { reference: format!("{reference}_refund_{idempotency_key}") }
            }
            Some(_) => RailOutcome::Declined { reason: "more than is left of the charge".into() },
            None => RailOutcome::Declined { reason: "unknown_charge".into() },
        };
        charges.insert(idempotency_key.to_string(), (outcome.clone(), TestCard::Approve, self.now_ms()));
        outcome
    }

    fn status(&self, reference: &str) -> RailOutcome {
        let charges = self.charges.lock().expect("sandbox lock");
        match charges.get(reference) {
            Some((RailOutcome::Pending { reference }, behaviour, at)) if self.now_ms() >= at + self.confirm_after_ms => match behaviour {
                TestCard::TimeOut => RailOutcome::Declined { reason: "issuer_timeout".into() },
                TestCard::BankRejects => RailOutcome::Declined { reason: "account_closed".into() },
                _ => RailOutcome::Approved { reference: reference.clone() },
            },
            Some((outcome, _, _)) => outcome.clone(),
            // The sandbox forgot (restart): a real acquirer would know; say what a timed-out issuer says.
            None => RailOutcome::Declined { reason: "unknown_charge".into() },
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
