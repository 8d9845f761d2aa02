//! People: registration with a phone number and password, sessions, the payment PIN.

use crate::crypto;
use crate::{Platform, PlatformError, Result, ids};
use ledger::{AccountFlags, NewAccount};
use serde::Serialize;
use store::params;

#[derive(Debug, Clone, Serialize)]
pub struct Person {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub phone: String,
    pub display_name: String,
    pub region: String,
    pub kyc_tier: i64,
    pub pin_set: bool,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub token: String,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub person_id: i64,
    pub expires_at_ms: i64,
}

/// E.164: '+', then 8 to 15 digits, the first not 0.
pub fn parse_phone(text: &str) -> Result<String> {
    let digits =
        text.strip_prefix('+').ok_or_else(|| PlatformError::invalid("phone", "use the international E.164 form, e.g. +8613800138000"))?;
    let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if !ok {
        return Err(PlatformError::invalid("phone", "use the international E.164 form: + and 8 to 15 digits, e.g. +8613800138000"));
    }
    Ok(text.to_string())
}

pub(crate) fn parse_name(field: &'static str, text: &str, chars_max: usize) -> Result<String> {
    let trimmed = text.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > chars_max || trimmed.chars().any(char::is_control) {
        return Err(PlatformError::invalid(field, format!("1 to {chars_max} characters, no control characters")));
    }
    Ok(trimmed.to_string())
}

fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if !(8..=128).contains(&n) {
        return Err(PlatformError::invalid("password", "8 to 128 characters"));
    }
    Ok(())
}

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

/// What one PIN check decided; its bookkeeping commits whatever the verdict.
enum PinVerdict {
    Right,
    Wrong { attempts_left: u32 },
    Locked { until_ms: i64 },
    NotSet,
}

fn person_from(row: &store::Row) -> Result<Person> {
    Ok(Person {
        id: row.int(0)?,
        phone: row.text(1)?,
        display_name: row.text(2)?,
        region: row.text(3)?,
        kyc_tier: row.int(4)?,
        pin_set: row.opt_bytes(5)?.is_some(),
        created_at_ms: row.int(6)?,
    })
}

const PERSON_COLUMNS: &str = "id, phone, display_name, region, kyc_tier, pin_hmac, created_at";

impl Platform {
    pub(crate) async fn create_system_accounts(&self) -> Result<()> {
        let accounts: Vec<NewAccount> = self
            .config
            .currencies()
            .into_iter()
            .flat_map(|c| {
                // Rails (mirror accounts of the outside world) and the source and sink of limit units.
                [
                    ids::account::CARD_RAIL,
                    ids::account::BANK_RAIL,
                    crate::kyc::LIMIT_SOURCE,
                    crate::kyc::LIMIT_SINK,
                    ids::account::FEE_REVENUE,
                    ids::account::SETTLEMENT_CLEARING,
                ]
                .map(|kind| NewAccount {
                    id: ids::system_account(kind, c.numeric()),
                    currency: c,
                    code: kind,
                    flags: AccountFlags::empty(),
                    user_data: 0,
                })
            })
            .collect();
        self.create_accounts(accounts).await
    }

    pub(crate) async fn create_accounts(&self, accounts: Vec<NewAccount>) -> Result<()> {
        let results = self.ledger.create_accounts(accounts).await?;
        if let Some(e) = results.iter().find_map(|r| r.err()) {
            return Err(PlatformError::Internal(format!("creating ledger accounts: {}", e.code())));
        }
        Ok(())
    }

    /// Register a person; their wallets (one ledger account per currency of the region) open at once.
    pub async fn register(&self, phone: &str, password: &str, region: &str, display_name: &str) -> Result<Person> {
        let phone = parse_phone(phone)?;
        check_password(password)?;
        let display_name = parse_name("display_name", display_name, self.config.name_chars_max)?;
        let region = self.config.region(region).ok_or_else(|| {
            let known: Vec<&str> = self.config.regions.iter().map(|r| r.code.as_str()).collect();
            PlatformError::invalid("region", format!("one of {known:?}"))
        })?;
        let now = self.now_ms();
        let id = ids::object_id(now);
        // Wallet accounts first: their ids derive from the person's, so a failed registration leaves at
        // most empty accounts nobody can reach, never a person without wallets.
        let wallets = region
            .currencies
            .iter()
            .map(|c| NewAccount {
                id: ids::wallet(id, c.numeric()),
                currency: *c,
                code: ids::account::WALLET,
                flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                user_data: id as u128,
            })
            .collect();
        self.create_accounts(wallets).await?;
        let memory = self.config.password_memory_kib;
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || crypto::hash_password(&password, memory))
            .await
            .map_err(|e| PlatformError::Internal(e.to_string()))?;
        let region_code = region.code.clone();
        let (p, n, r) = (phone.clone(), display_name.clone(), region_code.clone());
        self.blocking(move |db| {
            db.with(|c| {
                c.execute(
                    "INSERT INTO people (id, phone, password_hash, region, display_name, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    params![id, p.as_str(), hash.as_str(), r.as_str(), n.as_str(), now],
                )
            })
            .map_err(|e| match e {
                store::StoreError::Duplicate(_) => PlatformError::conflict("PHONE_TAKEN", "this phone number is already registered"),
                other => other.into(),
            })
        })
        .await?;
        Ok(Person { id, phone, display_name, region: region_code, kyc_tier: 0, pin_set: false, created_at_ms: now })
    }

    /// Sign in: a new bearer session. The same answer for an unknown phone and a wrong password.
    pub async fn sign_in(&self, phone: &str, password: &str) -> Result<Session> {
        let phone = parse_phone(phone)?;
        let found = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query_one("SELECT id, password_hash FROM people WHERE phone = $1", params![phone.as_str()]))?)
            })
            .await?;
        let password = password.to_string();
        let person_id = tokio::task::spawn_blocking(move || {
            // Hash even for an unknown phone, so timing does not tell which phones are registered.
            let (id, stored) = match &found {
                Some(row) => (row.int(0).ok(), row.text(1).unwrap_or_default()),
                None => (None, crypto::hash_password("no such person", 64)),
            };
            crypto::verify_password(&password, &stored).then_some(id).flatten()
        })
        .await
        .map_err(|e| PlatformError::Internal(e.to_string()))?
        .ok_or_else(|| PlatformError::conflict("SIGN_IN_FAILED", "phone number or password is wrong"))?;
        let token = format!("qb_{}", crypto::hex(&crypto::random_bytes::<32>()));
        let now = self.now_ms();
        let expires = now + i64::try_from(self.config.session_ttl_s * 1000).unwrap_or(i64::MAX / 2);
        let hash = crypto::sha256(token.as_bytes());
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "INSERT INTO sessions (token_hash, person_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
                    params![hash, person_id, expires, now],
                )
            })?)
        })
        .await?;
        Ok(Session { token, person_id, expires_at_ms: expires })
    }

    /// The person a bearer token belongs to, if the session is live.
    pub async fn authenticate(&self, token: &str) -> Result<i64> {
        if !token.starts_with("qb_") || token.len() != 67 {
            return Err(PlatformError::Unauthorized);
        }
        let hash = crypto::sha256(token.as_bytes());
        let now = self.now_ms();
        if let Some((person, expires_at)) = self.caches.sessions.get(&hash) {
            return if expires_at > now { Ok(person) } else { Err(PlatformError::Unauthorized) };
        }
        let key = hash.clone();
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query_one("SELECT person_id, expires_at FROM sessions WHERE token_hash = $1", params![key]))?)
            })
            .await?;
        match row {
            Some(r) if r.int(1)? > now => {
                self.caches.sessions.put(hash, (r.int(0)?, r.int(1)?));
                Ok(r.int(0)?)
            }
            _ => Err(PlatformError::Unauthorized),
        }
    }

    pub async fn sign_out(&self, token: &str) -> Result<()> {
        let hash = crypto::sha256(token.as_bytes());
        self.caches.sessions.forget(&hash);
        self.blocking(move |db| Ok(db.with(|c| c.execute("DELETE FROM sessions WHERE token_hash = $1", params![hash]))?)).await?;
        Ok(())
    }

    pub async fn person(&self, id: i64) -> Result<Person> {
        if let Some(person) = self.caches.people.get(&id) {
            return Ok(person);
        }
        let row = self
            .blocking(move |db| Ok(db.with(|c| c.query_one(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = $1"), params![id]))?))
            .await?
            .ok_or(PlatformError::NotFound("person"))?;
        let person = person_from(&row)?;
        self.caches.people.put(id, person.clone());
        Ok(person)
    }

    pub async fn person_by_phone(&self, phone: &str) -> Result<Person> {
        let phone = parse_phone(phone)?;
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query_one(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE phone = $1"), params![phone.as_str()]))?)
            })
            .await?
            .ok_or(PlatformError::NotFound("person"))?;
        person_from(&row)
    }

    fn pin_mac(&self, person: i64, pin: &str) -> Vec<u8> {
        let mut message = person.to_be_bytes().to_vec();
        message.extend_from_slice(pin.as_bytes());
        crypto::hmac_sha256(&self.secret, &message)
    }

    /// Set the payment PIN; changing it needs the current one.
    pub async fn set_pin(&self, person: i64, pin: &str, current: Option<&str>) -> Result<()> {
        check_pin(pin)?;
        if self.person(person).await?.pin_set {
            let current = current.ok_or_else(|| PlatformError::invalid("current_pin", "changing the PIN needs the current one"))?;
            self.verify_pin(person, current).await?;
        }
        let mac = self.pin_mac(person, pin);
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute("UPDATE people SET pin_hmac = $1, pin_failures = 0, pin_locked_until = 0 WHERE id = $2", params![mac, person])
            })?)
        })
        .await?;
        self.caches.people.forget(&person);
        Ok(())
    }

    /// Check a PIN: after `pin_attempts_max` wrong ones in a row, payments lock for `pin_lockout_s`.
    pub async fn verify_pin(&self, person: i64, pin: &str) -> Result<()> {
        let candidate = self.pin_mac(person, pin);
        let now = self.now_ms();
        let (attempts_max, lockout_ms) =
            (self.config.pin_attempts_max, i64::try_from(self.config.pin_lockout_s * 1000).unwrap_or(i64::MAX / 2));
        let verdict = self
            .blocking(move |db| {
                // The common case first, without a write: the right PIN, no failures on record, not locked.
                let quick =
                    db.with(|c| c.query_one("SELECT pin_hmac, pin_failures, pin_locked_until FROM people WHERE id = $1", params![person]))?;
                if let Some(row) = &quick
                    && let Some(stored) = row.opt_bytes(0)?
                    && row.int(1)? == 0
                    && row.int(2)? <= now
                    && crypto::constant_time_eq(&stored, &candidate)
                {
                    return Ok(PinVerdict::Right);
                }
                // Otherwise count (or clear) failures in a write transaction.
                Ok(db.transaction(|c| {
                    let row = c.query_one("SELECT pin_hmac, pin_failures, pin_locked_until FROM people WHERE id = $1", params![person])?;
                    let Some(row) = row else { return Ok(PinVerdict::NotSet) };
                    let Some(stored) = row.opt_bytes(0)? else { return Ok(PinVerdict::NotSet) };
                    let (failures, locked_until) = (row.int(1)?, row.int(2)?);
                    if locked_until > now {
                        return Ok(PinVerdict::Locked { until_ms: locked_until });
                    }
                    if crypto::constant_time_eq(&stored, &candidate) {
                        if failures != 0 {
                            c.execute("UPDATE people SET pin_failures = 0 WHERE id = $1", params![person])?;
                        }
                        return Ok(PinVerdict::Right);
                    }
                    let failures = failures + 1;
                    if failures >= i64::from(attempts_max) {
                        let until = now + lockout_ms;
                        c.execute("UPDATE people SET pin_failures = 0, pin_locked_until = $1 WHERE id = $2", params![until, person])?;
                        return Ok(PinVerdict::Locked { until_ms: until });
                    }
                    c.execute("UPDATE people SET pin_failures = $1 WHERE id = $2", params![failures, person])?;
                    Ok(PinVerdict::Wrong { attempts_left: attempts_max - failures as u32 })
                })?)
            })
            .await?;
        match verdict {
            PinVerdict::Right => Ok(()),
            PinVerdict::Wrong { attempts_left } => Err(PlatformError::PinWrong { attempts_left }),
            PinVerdict::Locked { until_ms } => Err(PlatformError::PinLocked { until_ms }),
            PinVerdict::NotSet => Err(PlatformError::conflict("PIN_NOT_SET", "set a payment PIN first")),
        }
    }

    /// A payment of `amount_minor` may go ahead: above the no-PIN threshold the PIN must be right.
    pub(crate) async fn authorize_payment(&self, person: i64, amount_minor: i64, pin: Option<&str>) -> Result<()> {
        if amount_minor <= self.config.no_pin_threshold_minor {
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
    fn phones_must_be_e164() {
        assert!(parse_phone("+8613800138000").is_ok());
        assert!(parse_phone("+85291234567").is_ok());
        for bad in ["13800138000", "+0123456789", "+86 138", "+1234567", "+1234567890123456", "+86138001380a0", ""] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pins_are_six_digits_and_not_trivial() {
        assert!(check_pin("358291").is_ok());
        for bad in ["12345", "1234567", "12a456", "111111", "123456", "654321", "０１２３４５"] {
            assert!(check_pin(bad).is_err(), "{bad}");
        }
    }
}
