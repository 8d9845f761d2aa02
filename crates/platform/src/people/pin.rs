//! The 6-digit payment PIN. A slow hash cannot protect a space of 10^6, so it is a keyed HMAC under the
//! server secret plus a hard lockout after a few wrong tries (as banks protect PINs), which also keeps
//! the payment path fast. Each check's bookkeeping commits whatever the verdict, one check at a time.

use super::{People, store};
use crate::{Conflict, PersonId, PlatformError, Result, crypto};

/// Six digits, and not one a thief tries first (all the same digit, or a run up or down).
fn check_pin(pin: &str) -> Result<()> {
    let digits: Vec<u8> = pin.bytes().collect();
    if digits.len() != 6 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(PlatformError::invalid("pin", "exactly 6 digits"));
    }
    let all_same = digits.iter().all(|d| *d == digits[0]);
    let run = |step: i16| digits.windows(2).all(|w| i16::from(w[1]) - i16::from(w[0]) == step);
    if all_same || run(1) || run(-1) {
        return Err(PlatformError::invalid("pin", "too easy to guess (repeated or consecutive digits)"));
    }
    Ok(())
}

/// What one PIN check decided.
enum Verdict {
    Right,
    Wrong { attempts_left: u32 },
    Locked { until_ms: i64 },
    NotSet,
}

impl People {
    fn pin_mac(&self, person: PersonId, pin: &str) -> Vec<u8> {
        // hmac(secret, person id bytes ‖ pin): the stored PINs' form.
        let mut message = person.get().to_be_bytes().to_vec();
        message.extend_from_slice(pin.as_bytes());
        self.core.mac_raw(&message)
    }

    /// Set the payment PIN; changing it needs the current one.
    pub async fn set_pin(&self, person: PersonId, pin: &str, current: Option<&str>) -> Result<()> {
        check_pin(pin)?;
        if self.person(person).await?.pin_set {
            let current = current.ok_or_else(|| PlatformError::invalid("current_pin", "changing the PIN needs the current one"))?;
            self.verify_pin(person, current).await?;
        }
        let mac = self.pin_mac(person, pin);
        self.core.write(move |c| store::set_pin(c, person, mac)).await?;
        self.forget_everywhere(person).await;
        Ok(())
    }

    /// Check a PIN: after `pin_attempts_max` wrong ones in a row, payments lock for `pin_lockout_s`.
    pub async fn verify_pin(&self, person: PersonId, pin: &str) -> Result<()> {
        let candidate = self.pin_mac(person, pin);
        let now = self.core.now_ms();
        let attempts_max = i64::from(self.core.config.pin_attempts_max);
        let lockout_ms = i64::try_from(self.core.config.pin_lockout_s * 1000).unwrap_or(i64::MAX / 2);
        // The common case without a write: the right PIN, no failures on record, not locked. A right PIN
        // is right whatever runs beside it; wrong ones are counted in a transaction, one at a time.
        if self.clean_pin(person, now).await?.is_some_and(|stored| crypto::constant_time_eq(&stored, &candidate)) {
            return Ok(());
        }
        let verdict = self
            .core
            .transaction(move |c| {
                let Some(state) = store::pin_state(c, person, true)? else { return Ok(Verdict::NotSet) };
                let Some(stored) = state.mac else { return Ok(Verdict::NotSet) };
                if state.locked_until_ms > now {
                    return Ok(Verdict::Locked { until_ms: state.locked_until_ms });
                }
                if crypto::constant_time_eq(&stored, &candidate) {
                    if state.failures != 0 {
                        store::record_pin(c, person, 0, 0)?;
                    }
                    return Ok(Verdict::Right);
                }
                let failures = state.failures + 1;
                if failures >= attempts_max {
                    store::record_pin(c, person, 0, now + lockout_ms)?;
                    return Ok(Verdict::Locked { until_ms: now + lockout_ms });
                }
                store::record_pin(c, person, failures, 0)?;
                Ok(Verdict::Wrong { attempts_left: u32::try_from(attempts_max - failures).unwrap_or(0) })
            })
            .await?;
        if !matches!(verdict, Verdict::Right) {
            // A wrong try or a lock: no instance may take the PIN as clean any more.
            self.forget_everywhere(person).await;
        }
        match verdict {
            Verdict::Right => Ok(()),
            Verdict::Wrong { attempts_left } => Err(PlatformError::PinWrong { attempts_left }),
            Verdict::Locked { until_ms } => Err(PlatformError::PinLocked { until_ms }),
            Verdict::NotSet => Err(PlatformError::conflict(Conflict::PinNotSet, "set a payment PIN first")),
        }
    }

    /// The person's PIN while it stands clean (set, no wrong try on record, not locked), from memory when
    /// this instance read it within `cache::TTL`. A wrong try, a lock, a new PIN and a closed wallet
    /// forget it here and on every instance (`forget_everywhere`), so a lock set on another instance holds
    /// here within the message's delivery, and within the TTL while that channel is down. Only the right
    /// PIN is ever taken on this path; a wrong one is always counted in the table.
    async fn clean_pin(&self, person: PersonId, now_ms: i64) -> Result<Option<Vec<u8>>> {
        if let Some(mac) = self.pins.get(&person) {
            return Ok(Some(mac));
        }
        let ticket = self.pins.ticket();
        let state = self.core.read(move |c| store::pin_state(c, person, false)).await?;
        let clean = state.and_then(|s| s.mac.filter(|_| s.failures == 0 && s.locked_until_ms <= now_ms));
        if let Some(mac) = &clean {
            self.pins.put_read(ticket, person, mac.clone());
        }
        Ok(clean)
    }

    /// Judge an attempt by the risk rules: a declined one is refused (`RISK_DECLINED`); one the rules
    /// step up or hold needs the right PIN whatever its amount; a held one's reason is the answer, for
    /// the caller to hold the money under review.
    pub async fn assess(&self, attempt: &crate::risk::Attempt, pin: Option<&str>) -> Result<Option<crate::risk::engine::Held>> {
        use crate::risk::engine::Judgement;
        let judged = self.risk.check(attempt).await?;
        if judged != Judgement::Allow {
            self.verify_pin(attempt.person, pin.ok_or(PlatformError::PinRequired)?).await?;
        }
        Ok(match judged {
            Judgement::Hold(held) => Some(held),
            Judgement::Allow | Judgement::StepUp => None,
        })
    }

    /// A payment of `amount_minor` may go ahead: above the no-PIN threshold the PIN must be right.
    pub async fn authorize_payment(&self, person: PersonId, amount_minor: i64, pin: Option<&str>) -> Result<()> {
        if amount_minor <= self.core.config.no_pin_threshold_minor {
            return Ok(());
        }
        let pin = pin.ok_or(PlatformError::PinRequired)?;
        self.verify_pin(person, pin).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_six_digits_and_not_trivial() {
        assert!(check_pin("358291").is_ok());
        for bad in ["12345", "1234567", "12a456", "111111", "123456", "654321", "０１２３４５"] {
            assert!(check_pin(bad).is_err(), "{bad}");
        }
    }
}
