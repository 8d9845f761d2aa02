//! Operators: the people who run the platform, by name, with roles. The bootstrap token creates the
//! first admin and nothing else; from then on every operator signs in with a username, a password
//! (argon2id) and, once enrolled, a TOTP code (RFC 6238), and gets a session (stored hashed). What an
//! operator may do is their roles'; what they did is in the audit log, written in the same transaction
//! as the change, with the reason they gave. Dangerous actions wait for a second operator
//! ([`approvals`]).

pub mod approvals;
mod store;
pub mod totp;

use crate::audit::Audit;
use crate::core::Core;
use crate::{Conflict, PlatformError, Result, crypto, ids};
use std::net::IpAddr;
use std::sync::Arc;

text_enum! {
    /// What an operator may do. An endpoint names the roles that may call it.
    pub enum Role {
        /// Operator users and their roles.
        Admin => "admin",
        /// Merchants, their keys and apps, platform keys, notifications.
        Operator => "operator",
        /// KYC reviews, freezes, risk rules, the audit log.
        Risk => "risk",
        /// Settlement, rates and markups, reports, ledger corrections.
        Finance => "finance",
        /// Reads people and payments (masked); changes nothing.
        Support => "support",
    }
}

/// Operator accounts at most (a bound on the table and on the list page).
pub const OPERATORS_MAX: i64 = 1_000;
/// An operator session lasts this long (a working day); signing in again starts a new one.
pub const OPERATOR_SESSION_TTL_MS: i64 = 10 * 3_600 * 1_000;
/// Operators' passwords are longer than people's: they guard everyone's money.
pub const OPERATOR_PASSWORD_CHARS_MIN: usize = 12;
const TOKEN_PREFIX: &str = "qbo_";
const TOKEN_CHARS: usize = 4 + 64;
/// The issuer shown in authenticator apps.
const TOTP_ISSUER: &str = "Qianbao";

/// An operator account as the API shows it (no password hash, no TOTP secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OperatorUser {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub username: String,
    pub roles: Vec<Role>,
    /// A second factor is enrolled: signing in needs a TOTP code.
    pub totp: bool,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub created_by: String,
}

impl OperatorUser {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// How the audit log names this operator.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.username)
    }
}

/// Who asks for a change and why: what the audit log records with it.
#[derive(Debug, Clone)]
pub struct Acting<'a> {
    pub by: &'a OperatorUser,
    pub reason: &'a str,
}

/// Roles from their names: at least one, each known, sorted, no repeats.
pub fn parse_roles(names: &[String]) -> Result<Vec<Role>> {
    let mut roles = names
        .iter()
        .map(|n| {
            Role::parse(n)
                .ok_or_else(|| PlatformError::invalid("roles", format!("unknown role {n:?}: admin, operator, risk, finance or support")))
        })
        .collect::<Result<Vec<_>>>()?;
    roles.sort_by_key(|r| Role::ALL.iter().position(|x| x == r));
    roles.dedup();
    if roles.is_empty() {
        return Err(PlatformError::invalid("roles", "at least one role"));
    }
    Ok(roles)
}

fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if !(OPERATOR_PASSWORD_CHARS_MIN..=128).contains(&n) {
        return Err(PlatformError::invalid("password", format!("{OPERATOR_PASSWORD_CHARS_MIN} to 128 characters")));
    }
    Ok(())
}

pub struct Operators {
    core: Arc<Core>,
    audit: Arc<Audit>,
    throttle: crate::people::throttle::Throttle,
    pub approvals: approvals::Approvals,
}

impl Operators {
    pub(crate) fn new(core: Arc<Core>, audit: Arc<Audit>) -> Operators {
        let throttle = crate::people::throttle::Throttle::new(core.config.sign_in_attempts_max, core.config.sign_in_window_s);
        let approvals = approvals::Approvals::new(core.clone(), audit.clone());
        Operators { core, audit, throttle, approvals }
    }

    async fn hash(&self, password: &str) -> Result<String> {
        check_password(password)?;
        let (password, memory) = (password.to_string(), self.core.config.password_memory_kib);
        self.core.blocking(move || crypto::hash_password(&password, memory)).await
    }

    /// The first admin, by the bootstrap token: refused once any operator exists.
    pub async fn create_first_admin(&self, username: &str, password: &str, reason: &str) -> Result<OperatorUser> {
        let user = self.new_user(username, vec![Role::Admin], "bootstrap")?;
        let hash = self.hash(password).await?;
        let audit = self.audit.effect("bootstrap", "operators.create_first_admin", &format!("operator:{username}"), "roles admin", reason);
        let u = user.clone();
        let created = self.core.transaction(move |c| store::insert_first(c, &u, &hash, &audit)).await?;
        if !created {
            return Err(PlatformError::Forbidden("operators exist: the bootstrap token only creates the first admin".into()));
        }
        Ok(user)
    }

    fn new_user(&self, username: &str, roles: Vec<Role>, created_by: &str) -> Result<OperatorUser> {
        let username = crate::merchants::parse_username(username)?;
        let now = self.core.now_ms();
        Ok(OperatorUser {
            id: ids::object_id(now),
            username,
            roles,
            totp: false,
            disabled: false,
            created_at_ms: now,
            created_by: created_by.into(),
        })
    }

    /// An admin adds an operator.
    pub async fn create(&self, acting: Acting<'_>, username: &str, password: &str, roles: Vec<Role>) -> Result<OperatorUser> {
        let user = self.new_user(username, roles, &acting.by.actor())?;
        let hash = self.hash(password).await?;
        let detail = format!("roles {}", names(&user.roles));
        let audit = self.audit.effect(&acting.by.actor(), "operators.create", &user.actor(), &detail, acting.reason);
        let u = user.clone();
        if !self.core.transaction(move |c| store::insert(c, &u, &hash, OPERATORS_MAX, &audit)).await? {
            return Err(PlatformError::conflict(
                Conflict::UsernameTaken,
                format!("an operator {username:?} exists, or {OPERATORS_MAX} do"),
            ));
        }
        Ok(user)
    }

    pub async fn list(&self) -> Result<Vec<OperatorUser>> {
        self.core.read(|c| store::list(c, OPERATORS_MAX)).await
    }

    pub async fn by_name(&self, username: &str) -> Result<OperatorUser> {
        let u = username.to_string();
        self.core.read(move |c| store::by_name(c, &u)).await?.map(|(user, _)| user).ok_or(PlatformError::NotFound("operator"))
    }

    /// An admin changes another operator's roles (never their own: an admin cannot lock everyone out).
    pub async fn set_roles(&self, acting: Acting<'_>, username: &str, roles: Vec<Role>) -> Result<OperatorUser> {
        let before = self.by_name(username).await?;
        if before.id == acting.by.id {
            return Err(PlatformError::Forbidden("an operator cannot change their own roles".into()));
        }
        let detail = format!("roles {} → {}", names(&before.roles), names(&roles));
        let audit = self.audit.effect(&acting.by.actor(), "operators.set_roles", &before.actor(), &detail, acting.reason);
        let (id, text) = (before.id, names(&roles));
        self.core.transaction(move |c| store::set_roles(c, id, &text, &audit)).await?;
        Ok(OperatorUser { roles, ..before })
    }

    /// An admin disables (or enables again) another operator; disabling ends their sessions at once.
    pub async fn set_disabled(&self, acting: Acting<'_>, username: &str, disabled: bool) -> Result<OperatorUser> {
        let before = self.by_name(username).await?;
        if before.id == acting.by.id {
            return Err(PlatformError::Forbidden("an operator cannot disable themselves".into()));
        }
        let action = if disabled { "operators.disable" } else { "operators.enable" };
        let audit = self.audit.effect(&acting.by.actor(), action, &before.actor(), "", acting.reason);
        let id = before.id;
        self.core.transaction(move |c| store::set_disabled(c, id, disabled, &audit)).await?;
        Ok(OperatorUser { disabled, ..before })
    }

    /// Sign in: the session token (shown once), its expiry and who it is. Wrong name, password or code
    /// are one answer (`Unauthorized`), throttled per name and per address; a right password without the
    /// enrolled second factor is `TotpRequired`.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<(String, i64, OperatorUser)> {
        let who = format!("operator:{username}");
        self.throttle.check(&who, client)?;
        let refused = || {
            self.throttle.failed(&who, client);
            PlatformError::Unauthorized
        };
        let u = username.to_string();
        let Some((user, secrets)) = self.core.read(move |c| store::by_name(c, &u)).await? else { return Err(refused()) };
        let (password, hash) = (password.to_string(), secrets.password_hash.clone());
        if user.disabled || !self.core.blocking(move || crypto::verify_password(&password, &hash)).await? {
            return Err(refused());
        }
        if let Some(sealed) = &secrets.totp_secret {
            let Some(code) = code else {
                return Err(PlatformError::conflict(
                    Conflict::TotpRequired,
                    "this operator has a second factor: send its six-digit code as totp",
                ));
            };
            if !self.use_totp(user.id, sealed, code).await? {
                return Err(refused());
            }
        }
        self.throttle.succeeded(&who);
        let token = format!("{TOKEN_PREFIX}{}", crypto::hex(&crypto::random_bytes::<32>()));
        debug_assert_eq!(token.len(), TOKEN_CHARS);
        let now = self.core.now_ms();
        let expires = now + OPERATOR_SESSION_TTL_MS;
        let audit =
            self.audit.effect(&user.actor(), "operators.sign_in", &user.actor(), &client.map(|a| a.to_string()).unwrap_or_default(), "");
        let (hash, id) = (crypto::sha256(token.as_bytes()), user.id);
        self.core.transaction(move |c| store::insert_session(c, &hash, id, expires, now, &audit)).await?;
        Ok((token, expires, user))
    }

    /// A code is good once: its step must be later than the last one used (a replayed code fails).
    async fn use_totp(&self, id: i64, sealed: &[u8], code: &str) -> Result<bool> {
        let secret = self.core.unseal(sealed)?;
        let Some(step) = totp::matching_step(&secret, code, self.core.now_ms().div_euclid(1_000)) else { return Ok(false) };
        self.core.write(move |c| store::use_totp_step(c, id, step)).await
    }

    /// The operator a session belongs to, if it is live and the operator is not disabled.
    pub async fn session(&self, token: &str) -> Result<OperatorUser> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_CHARS {
            return Err(PlatformError::Unauthorized);
        }
        let (hash, now) = (crypto::sha256(token.as_bytes()), self.core.now_ms());
        self.core.read(move |c| store::session(c, &hash, now)).await?.ok_or(PlatformError::Unauthorized)
    }

    pub async fn sign_out(&self, token: &str) -> Result<()> {
        let hash = crypto::sha256(token.as_bytes());
        self.core.write(move |c| store::delete_session(c, &hash)).await
    }

    /// Start enrolling a second factor: a new secret, shown once as base32 and as an `otpauth://` URI.
    /// It takes effect when [`confirm_totp`](Self::confirm_totp) sees a code from it.
    pub async fn begin_totp(&self, user: &OperatorUser) -> Result<(String, String)> {
        let secret = crypto::random_bytes::<{ totp::SECRET_BYTES }>();
        let (id, sealed) = (user.id, self.core.seal(&secret));
        self.core.write(move |c| store::set_totp_pending(c, id, &sealed)).await?;
        Ok((data_encoding::BASE32_NOPAD.encode(&secret), totp::provisioning_uri(TOTP_ISSUER, &user.username, &secret)))
    }

    /// Finish enrolling: a right code from the pending secret makes it the operator's second factor.
    pub async fn confirm_totp(&self, user: &OperatorUser, code: &str) -> Result<()> {
        let id = user.id;
        let pending = self.core.read(move |c| store::totp_pending(c, id)).await?;
        let Some(sealed) = pending else {
            return Err(PlatformError::invalid("totp", "no enrolment started: POST /admin/api/operators/me/totp first"));
        };
        let secret = self.core.unseal(&sealed)?;
        let Some(step) = totp::matching_step(&secret, code, self.core.now_ms().div_euclid(1_000)) else {
            return Err(PlatformError::invalid("totp", "the code does not match the new secret"));
        };
        let audit = self.audit.effect(&user.actor(), "operators.enrol_totp", &user.actor(), "", "second factor enrolled");
        self.core.transaction(move |c| store::confirm_totp(c, id, step, &audit)).await
    }

    /// Delete expired operator sessions, a bounded number per call.
    pub(crate) async fn purge_sessions(&self, limit: i64) -> Result<u64> {
        let now = self.core.now_ms();
        self.core.write(move |c| store::purge_sessions(c, now, limit)).await
    }
}

/// `admin,finance`: roles as stored and as the audit log shows them.
pub fn names(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}
