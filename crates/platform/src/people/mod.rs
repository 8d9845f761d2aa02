//! People: registration with a phone number and password, sessions, sign-in throttling, the payment
//! PIN (`pin`), KYC tiers (`kyc`) and the payment limits that go with them (`limits`).

mod kyc;
mod limits;
mod pin;
mod store;
pub(crate) mod throttle;

pub use kyc::{KycRecord, valid_cn_resident_id, valid_hk_id};
pub(crate) use limits::{Direction, LimitedPayment, leg_ids, legs_of};
pub use limits::{TierLimits, default_limits, default_limits_cross_border, default_limits_in};

use crate::cache::TimedCache;
use crate::core::Core;
use crate::invalidation::Topic;
use crate::{Conflict, PersonId, PlatformError, Result, crypto, ids};
use ledger::{AccountFlags, NewAccount};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub id: PersonId,
    pub phone: String,
    pub display_name: String,
    pub region: String,
    pub kyc_tier: i64,
    /// Bumped by every tier change: it keys the limit periods.
    #[serde(skip)]
    pub kyc_version: i64,
    pub pin_set: bool,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub token: String,
    pub person_id: PersonId,
    pub expires_at_ms: i64,
}

/// The PIN's stored state.
pub(crate) struct PinState {
    pub mac: Option<Vec<u8>>,
    pub failures: i64,
    pub locked_until_ms: i64,
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

/// A name a person types: trimmed, 1 to `chars_max` characters, no control characters.
pub fn parse_name(field: &'static str, text: &str, chars_max: usize) -> Result<String> {
    let trimmed = text.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > chars_max || trimmed.chars().any(char::is_control) {
        return Err(PlatformError::invalid(field, format!("1 to {chars_max} characters, no control characters")));
    }
    Ok(trimmed.to_string())
}

pub(crate) fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if !(8..=128).contains(&n) {
        return Err(PlatformError::invalid("password", "8 to 128 characters"));
    }
    Ok(())
}

/// Session tokens: `qb_` and 64 hex characters; only their SHA-256 is stored.
const TOKEN_CHARS: usize = 67;

/// `cached` forgets a person when any instance announces a change of their row (`Topic::Person`).
fn forget_on_change<V: Clone + Send + 'static>(core: &Core, cached: Arc<TimedCache<PersonId, V>>) {
    core.invalidations.on(Topic::Person, move |key| match key {
        Some(id) => id.parse().map(PersonId::new).iter().for_each(|p| cached.forget(p)),
        None => cached.clear(),
    });
}

pub struct People {
    core: Arc<Core>,
    /// SHA-256 of a session token → (person, expires_at_ms), briefly (see `cache`).
    sessions: Arc<TimedCache<Vec<u8>, (PersonId, i64)>>,
    people: Arc<TimedCache<PersonId, Person>>,
    /// A person's PIN (its HMAC) while it stands clean: no wrong try on record, not locked (see `pin`).
    pins: Arc<TimedCache<PersonId, Vec<u8>>>,
    throttle: throttle::Throttle,
    opened: limits::Opened,
    /// What an unknown phone's sign-in is checked against: a hash with the real parameters, so the two
    /// cost the same and timing tells no one which phones are registered.
    dummy_hash: OnceLock<String>,
    /// The risk engine every movement of money a person starts is judged by.
    pub risk: Arc<crate::risk::Engine>,
}

impl People {
    pub(crate) fn new(core: Arc<Core>) -> People {
        let risk = Arc::new(crate::risk::Engine::new(core.clone()));
        let throttle = throttle::Throttle::new(core.config.sign_in_attempts_max, core.config.sign_in_window_s);
        let (sessions, people) = (Arc::new(TimedCache::default()), Arc::new(TimedCache::default()));
        let pins: Arc<TimedCache<PersonId, Vec<u8>>> = Arc::new(TimedCache::default());
        let cached = sessions.clone();
        core.invalidations.on(Topic::Session, move |key| match key {
            Some(hash) => crypto::unhex(hash).iter().for_each(|h| cached.forget(h)),
            None => cached.clear(),
        });
        forget_on_change(&core, people.clone());
        forget_on_change(&core, pins.clone());
        People { core, sessions, people, pins, throttle, opened: Default::default(), dummy_hash: OnceLock::new(), risk }
    }

    /// Register a person; their wallets (one ledger account per currency of the region) open at once.
    pub async fn register(&self, phone: &str, password: &str, region: &str, display_name: &str) -> Result<Person> {
        let phone = parse_phone(phone)?;
        check_password(password)?;
        let display_name = parse_name("display_name", display_name, self.core.config.name_chars_max)?;
        let region = self.core.config.region(region).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.core.config.regions.iter().map(|r| r.code.as_str()).collect();
            PlatformError::invalid("region", format!("one of {known:?}"))
        })?;
        let now = self.core.now_ms();
        let id = PersonId::new(ids::object_id(now));
        // Wallet accounts first: their ids derive from the person's, so a failed registration leaves at
        // most empty accounts nobody can reach, never a person without wallets.
        let wallets = region
            .currencies
            .iter()
            .map(|c| NewAccount {
                id: crate::chart::wallet(id, *c),
                currency: *c,
                code: crate::chart::account::WALLET,
                flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                user_data: id.get() as u128,
            })
            .collect();
        self.core.accounts(wallets).await?;
        let hash = self.hash(password.to_string()).await?;
        let (p, r, n) = (phone.clone(), region.code.clone(), display_name.clone());
        let inserted = self
            .core
            .write(move |c| {
                store::insert(c, &store::NewPerson { id, phone: &p, password_hash: &hash, region: &r, display_name: &n, now_ms: now })
            })
            .await?;
        if !inserted {
            return Err(PlatformError::conflict(Conflict::PhoneTaken, "this phone number is already registered"));
        }
        Ok(Person { id, phone, display_name, region: region.code, kyc_tier: 0, kyc_version: 0, pin_set: false, created_at_ms: now })
    }

    async fn hash(&self, password: String) -> Result<String> {
        let memory = self.core.config.password_memory_kib;
        self.core.blocking(move || crypto::hash_password(&password, memory)).await
    }

    /// Sign in: a new bearer session. The same answer, in the same time, for an unknown phone and a
    /// wrong password; too many failures from one phone or one address wait out the window.
    pub async fn sign_in(&self, phone: &str, password: &str, client: Option<IpAddr>) -> Result<Session> {
        let phone = parse_phone(phone)?;
        self.throttle.check(&phone, client)?;
        let key = phone.clone();
        let found = self.core.read(move |c| store::credentials(c, &key)).await?;
        let memory = self.core.config.password_memory_kib;
        let dummy = self.dummy_hash.get().cloned();
        let password = password.to_string();
        let (person, dummy) = self
            .core
            .blocking(move || {
                let dummy = dummy.unwrap_or_else(|| crypto::hash_password("no such person", memory));
                let stored = found.as_ref().map(|(_, h)| h.as_str()).unwrap_or(&dummy);
                let right = crypto::verify_password(&password, stored);
                (found.filter(|_| right).map(|(id, _)| id), dummy)
            })
            .await?;
        let _ = self.dummy_hash.set(dummy);
        let Some(person) = person else {
            self.throttle.failed(&phone, client);
            return Err(PlatformError::conflict(Conflict::SignInFailed, "phone number or password is wrong"));
        };
        self.throttle.succeeded(&phone);
        let token = format!("qb_{}", crypto::hex(&crypto::random_bytes::<32>()));
        debug_assert_eq!(token.len(), TOKEN_CHARS);
        let now = self.core.now_ms();
        let expires = now + i64::try_from(self.core.config.session_ttl_s * 1000).unwrap_or(i64::MAX / 2);
        let hash = crypto::sha256(token.as_bytes());
        self.core.write(move |c| store::insert_session(c, hash, person, expires, now)).await?;
        Ok(Session { token, person_id: person, expires_at_ms: expires })
    }

    /// The person a bearer token belongs to, if the session is live.
    pub async fn authenticate(&self, token: &str) -> Result<PersonId> {
        if !token.starts_with("qb_") || token.len() != TOKEN_CHARS {
            return Err(PlatformError::Unauthorized);
        }
        let hash = crypto::sha256(token.as_bytes());
        let now = self.core.now_ms();
        let found = match self.sessions.get(&hash) {
            Some(found) => Some(found),
            None => {
                let (key, ticket) = (hash.clone(), self.sessions.ticket());
                let found = self.core.read(move |c| store::session(c, key)).await?;
                if let Some(session) = found {
                    self.sessions.put_read(ticket, hash, session);
                }
                found
            }
        };
        match found {
            Some((person, expires_at)) if expires_at > now => Ok(person),
            _ => Err(PlatformError::Unauthorized),
        }
    }

    /// Close a person's wallet (see `privacy::Privacy::close`): their sessions end (on other instances
    /// within the session cache's bound) and sign-in is refused; the personal data is erased after
    /// `retention_ms`. `false` when it was closed already.
    pub(crate) async fn close(&self, person: PersonId, retention_ms: i64) -> Result<bool> {
        let now = self.core.now_ms();
        let closed = self.core.transaction(move |c| store::close(c, person, now, now + retention_ms)).await?;
        self.sessions.clear();
        self.core.announce(Topic::Session, None).await;
        self.forget_everywhere(person).await;
        Ok(closed)
    }

    /// Erase closed wallets' personal data past retention, a bounded number per call.
    pub(crate) async fn erase_closed(&self, limit: i64) -> Result<u64> {
        let now = self.core.now_ms();
        let erased = self.core.write(move |c| store::erase_closed(c, now, limit)).await?;
        if erased > 0 {
            self.people.clear();
            self.pins.clear();
            self.core.announce(Topic::Person, None).await;
        }
        Ok(erased)
    }

    pub async fn sign_out(&self, token: &str) -> Result<()> {
        let hash = crypto::sha256(token.as_bytes());
        self.sessions.forget(&hash);
        let key = crypto::hex(&hash);
        self.core.write(move |c| store::delete_session(c, hash)).await?;
        self.core.announce(Topic::Session, Some(&key)).await;
        Ok(())
    }

    /// Money may go from `sender` to `receiver` between people: the sender's region allows the
    /// receiver's (rule `p2p_regions`; the mainland's and Hong Kong's wallets cannot pay each other).
    pub(crate) async fn require_p2p_allowed(&self, sender: PersonId, receiver: PersonId) -> Result<()> {
        let (from, to) = (self.person(sender).await?.region, self.person(receiver).await?.region);
        if self.core.config.region(&from).is_some_and(|r| r.p2p_regions.contains(&to)) {
            return Ok(());
        }
        Err(PlatformError::conflict(
            crate::Conflict::RegionRule,
            format!("region {from}'s rule p2p_regions does not allow money to wallets of region {to}"),
        ))
    }

    pub async fn person(&self, id: PersonId) -> Result<Person> {
        if let Some(person) = self.people.get(&id) {
            return Ok(person);
        }
        let ticket = self.people.ticket();
        let person = self.core.read(move |c| store::by_id(c, id)).await?.ok_or(PlatformError::NotFound("person"))?;
        self.people.put_read(ticket, id, person.clone());
        Ok(person)
    }

    pub async fn person_by_phone(&self, phone: &str) -> Result<Person> {
        let phone = parse_phone(phone)?;
        self.core.read(move |c| store::by_phone(c, &phone)).await?.ok_or(PlatformError::NotFound("person"))
    }

    /// Delete expired sessions, a bounded number per call.
    pub(crate) async fn purge_sessions(&self, limit: i64) -> Result<u64> {
        let now = self.core.now_ms();
        self.core.write(move |c| store::purge_sessions(c, now, limit)).await
    }

    fn forget(&self, person: PersonId) {
        self.people.forget(&person);
        self.pins.forget(&person);
    }

    /// Forget a person's row here and on every other instance: after a change to it committed.
    async fn forget_everywhere(&self, person: PersonId) {
        self.forget(person);
        self.core.announce(Topic::Person, Some(&person.to_string())).await;
    }
}
