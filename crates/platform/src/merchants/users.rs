//! The merchant console's users: people who work for a merchant sign in with the merchant's mchid,
//! their own username and password (argon2id), and get a session (stored hashed, like a person's).
//! An owner may do everything the console offers, refunds included; a cashier sees orders and takes
//! payments. Sign-in is throttled per merchant user and per address, as the wallet's is.

use super::{Merchants, store};
use crate::{Conflict, MerchantId, PlatformError, Result, crypto, ids};
use std::net::IpAddr;

text_enum! {
    pub enum MerchantRole {
        /// Everything the console offers, refunds included.
        Owner => "owner",
        /// Orders and payments; no refunds.
        Cashier => "cashier",
    }
}

/// Users per merchant at most.
pub const MERCHANT_USERS_MAX: i64 = 100;
/// A console session lasts this long.
const CONSOLE_SESSION_TTL_MS: i64 = 12 * 3_600 * 1_000;
const CONSOLE_TOKEN_PREFIX: &str = "qbm_";
const CONSOLE_TOKEN_CHARS: usize = 4 + 64;

/// A signed-in console user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MerchantUser {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    #[serde(skip)]
    pub merchant_id: MerchantId,
    pub mchid: String,
    pub username: String,
    pub role: MerchantRole,
}

/// 3 to 32 characters of `a-z 0-9 . _ -`, starting with a letter.
pub fn parse_username(text: &str) -> Result<String> {
    let ok = (3..=32).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(PlatformError::invalid("username", "3 to 32 of a-z, 0-9, '.', '_', '-', starting with a letter"))
    }
}

impl Merchants {
    /// Add a console user to a merchant (the operator does this; an owner adds cashiers the same way).
    /// Add a console user, in one transaction with the audit row when given.
    pub async fn create_user(
        &self,
        mchid: &str,
        username: &str,
        password: &str,
        role: MerchantRole,
        audit: Option<::store::Effect>,
    ) -> Result<MerchantUser> {
        let merchant = self.merchant(mchid).await?;
        let username = parse_username(username)?;
        crate::people::check_password(password)?;
        let memory = self.core.config.password_memory_kib;
        let password = password.to_string();
        let hash = self.core.blocking(move || crypto::hash_password(&password, memory)).await?;
        let id = ids::object_id(self.core.now_ms());
        let (m, u, now) = (merchant.merchant.id, username.clone(), self.core.now_ms());
        let created = self.core.transaction(move |c| {
            let created = store::insert_user(c, id, m, &u, &hash, role.as_str(), now, MERCHANT_USERS_MAX)?;
            crate::audit::with_audit(c, created, &audit)
        });
        let created = created.await?;
        if !created {
            return Err(PlatformError::conflict(
                Conflict::UsernameTaken,
                format!("{mchid} already has a user {username:?} or {MERCHANT_USERS_MAX} users"),
            ));
        }
        Ok(MerchantUser { id, merchant_id: merchant.merchant.id, mchid: mchid.to_string(), username, role })
    }

    /// Sign a console user in: their session token (shown once) and who they are.
    pub async fn console_sign_in(
        &self,
        mchid: &str,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<(String, MerchantUser)> {
        let who = format!("{mchid}/{username}");
        self.console_throttle.check(&who, client)?;
        let refused = || {
            self.console_throttle.failed(&who, client);
            PlatformError::Unauthorized
        };
        let Ok(merchant) = self.merchant(mchid).await else { return Err(refused()) };
        let (m, u) = (merchant.merchant.id, username.to_string());
        let Some((user, hash)) = self.core.read(move |c| store::user_by_name(c, m, &u)).await? else { return Err(refused()) };
        let password = password.to_string();
        if !self.core.blocking(move || crypto::verify_password(&password, &hash)).await? {
            return Err(refused());
        }
        self.console_throttle.succeeded(&who);
        let token = format!("{CONSOLE_TOKEN_PREFIX}{}", crypto::hex(&crypto::random_bytes::<32>()));
        debug_assert_eq!(token.len(), CONSOLE_TOKEN_CHARS);
        let now = self.core.now_ms();
        let (hash, id) = (crypto::sha256(token.as_bytes()), user.id);
        self.core.write(move |c| store::insert_console_session(c, hash, id, now + CONSOLE_SESSION_TTL_MS, now)).await?;
        Ok((token, user))
    }

    /// The user a console session belongs to, if it is live.
    pub async fn console_user(&self, token: &str) -> Result<MerchantUser> {
        if !token.starts_with(CONSOLE_TOKEN_PREFIX) || token.len() != CONSOLE_TOKEN_CHARS {
            return Err(PlatformError::Unauthorized);
        }
        let (hash, now) = (crypto::sha256(token.as_bytes()), self.core.now_ms());
        self.core.read(move |c| store::console_session(c, hash, now)).await?.ok_or(PlatformError::Unauthorized)
    }

    /// Delete expired console sessions, a bounded number per call.
    pub(crate) async fn purge_console_sessions(&self, limit: i64) -> Result<u64> {
        let now = self.core.now_ms();
        self.core.write(move |c| store::purge_console_sessions(c, now, limit)).await
    }

    pub async fn console_sign_out(&self, token: &str) -> Result<()> {
        let hash = crypto::sha256(token.as_bytes());
        self.core.write(move |c| store::delete_console_session(c, hash)).await
    }
}
