//! Merchants and what they authenticate with: onboarding (direct merchants, service providers and their
//! sub-merchants), the APIv3 key, API certificates and public keys by serial, app ids, per-app openids
//! (`keys`), Qianbao's own platform signing keys (`platform_keys`), and the merchant API's replay
//! protection (`nonces`).
//!
//! Secrets at rest (APIv3 keys, platform private keys) are sealed under the server secret.

pub mod countries;
mod keys;
mod nonces;
mod platform_keys;
pub mod qr;
mod store;
mod sub_merchants;
mod users;

pub use keys::{MERCHANT_APPS_MAX, MERCHANT_KEYS_MAX};
pub use nonces::NONCE_WINDOW_S;
pub use platform_keys::{AuditOf, PlatformKey, PlatformKeys};
pub use sub_merchants::SubMerchantApplication;
pub use users::{MERCHANT_USERS_MAX, MerchantRole, MerchantUser, parse_username};

use crate::core::Core;
use crate::{Conflict, MerchantId, PlatformError, Result, crypto, ids};
use ledger::{AccountFlags, NewAccount};
use money::Currency;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How long an instance trusts its cached copy of a merchant's credentials at most. Changes made on
/// other instances are usually seen sooner: `forget_changed` runs every second.
const MERCHANT_CACHE_TTL: Duration = Duration::from_secs(10);

text_enum! {
    pub enum MerchantKind {
        Direct => "direct",
        ServiceProvider => "service_provider",
        SubMerchant => "sub_merchant",
    }
}

text_enum! {
    pub enum AppKind {
        MiniProgram => "mini_program",
        OfficialAccount => "official_account",
        MobileApp => "mobile_app",
        Web => "web",
    }
}

text_enum! {
    pub enum PlatformKeyKind {
        Certificate => "certificate",
        PublicKey => "public_key",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Merchant {
    #[serde(skip)]
    pub id: MerchantId,
    pub mchid: String,
    pub kind: MerchantKind,
    /// For a sub-merchant: its service provider's mchid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_mchid: Option<String>,
    #[serde(skip)]
    pub parent_id: Option<MerchantId>,
    pub name: String,
    pub mcc: String,
    pub country: String,
    pub settlement_currency: Currency,
    pub fee_bps: i64,
    pub settlement_account: String,
    /// Responses and notifications are signed with the platform public key (`PUB_KEY_ID_...`) rather
    /// than a platform certificate (WeChat's mode for merchants since 2024).
    pub public_key_mode: bool,
    pub created_at_ms: i64,
    /// Licence and registration data recorded at onboarding (JSON, as the operator gave it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// The IANA time zone its business day is counted in (its country's): it settles in its own day.
    pub time_zone: String,
}

/// What an operator gives to onboard a merchant.
#[derive(Debug, Clone)]
pub struct MerchantSetup {
    /// Chosen by the platform when absent (10 digits).
    pub mchid: Option<String>,
    pub kind: String,
    pub parent_mchid: Option<String>,
    pub name: String,
    pub mcc: String,
    pub country: String,
    pub settlement_currency: String,
    pub fee_bps: i64,
    pub settlement_account: String,
    pub public_key_mode: bool,
    /// Licence and registration data (a JSON object of at most 4 KiB).
    pub licence: Option<String>,
}

/// A merchant with what it signs and decrypts with, as the merchant API needs it on every request.
#[derive(Clone)]
pub struct MerchantAuth {
    pub merchant: Merchant,
    /// Serial (upper-case hex) → the merchant's API public key.
    pub keys: Vec<(String, wxpay::VerifyingKey)>,
    pub apiv3_key: Vec<u8>,
    pub appids: Vec<String>,
}

impl MerchantAuth {
    pub fn key(&self, serial: &str) -> Option<&wxpay::VerifyingKey> {
        self.keys.iter().find(|(s, _)| s.eq_ignore_ascii_case(serial)).map(|(_, k)| k)
    }
}

/// `[0-9A-Za-z_-]`, 1 to `max` characters: ids chosen by operators and merchants (app ids, mchids).
fn parse_token(field: &'static str, text: &str, max: usize) -> Result<String> {
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(PlatformError::invalid(field, format!("1 to {max} characters of [0-9A-Za-z_-]")));
    }
    Ok(text.to_string())
}

fn parse_text(field: &'static str, text: &str, max: usize) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(PlatformError::invalid(field, format!("1 to {max} characters, no control characters")));
    }
    Ok(text.to_string())
}

pub struct Merchants {
    core: Arc<Core>,
    by_mchid: Mutex<HashMap<String, (Instant, Arc<MerchantAuth>)>>,
    names: Mutex<HashMap<MerchantId, String>>,
    mchids: Mutex<HashMap<MerchantId, String>>,
    platform_keys: RwLock<Option<Arc<PlatformKeys>>>,
    nonces: nonces::Nonces,
    /// Console sign-in failures per merchant user and per address.
    console_throttle: crate::people::throttle::Throttle,
}

impl Merchants {
    pub(crate) fn new(core: Arc<Core>) -> Merchants {
        let console_throttle = crate::people::throttle::Throttle::new(core.config.sign_in_attempts_max, core.config.sign_in_window_s);
        Merchants {
            core,
            by_mchid: Default::default(),
            names: Default::default(),
            mchids: Default::default(),
            platform_keys: Default::default(),
            nonces: Default::default(),
            console_throttle,
        }
    }

    /// Onboard a merchant: its row, its receivable accounts (one per enabled currency) and a fresh APIv3
    /// key, returned this once (it is sealed at rest).
    pub async fn onboard(&self, setup: MerchantSetup) -> Result<(Merchant, String)> {
        self.onboard_audited(setup, |_| None).await
    }

    /// [`Merchants::onboard`], the merchant's row committed with the audit row `audit` makes of it.
    pub async fn onboard_audited(
        &self,
        setup: MerchantSetup,
        audit: impl FnOnce(&Merchant) -> Option<::store::Effect>,
    ) -> Result<(Merchant, String)> {
        let merchant = self.parse(setup).await?;
        // The receivable accounts come first: a crash after them leaves unused accounts, never a
        // merchant that cannot be paid.
        let accounts = self
            .core
            .config
            .currencies()
            .into_iter()
            .map(|c| NewAccount {
                id: crate::chart::merchant_receivable(merchant.id, c),
                currency: c,
                code: crate::chart::account::MERCHANT_RECEIVABLE,
                flags: AccountFlags::empty(),
                user_data: merchant.id.get() as u128,
            })
            .collect();
        self.core.accounts(accounts).await?;
        let apiv3_key = wxpay::random_alphanumeric(32);
        let sealed_apiv3_key = self.core.seal(apiv3_key.as_bytes());
        let (m, audit) = (merchant.clone(), audit(&merchant));
        let inserted = self
            .core
            .transaction(move |c| {
                let inserted = store::insert(c, &store::NewMerchant { merchant: &m, sealed_apiv3_key: sealed_apiv3_key.clone() })?;
                crate::audit::with_audit(c, inserted, &audit)
            })
            .await?;
        if !inserted {
            return Err(PlatformError::conflict(Conflict::MchidTaken, "this mchid is already a merchant"));
        }
        Ok((self.merchant(&merchant.mchid).await?.merchant.clone(), apiv3_key))
    }

    async fn parse(&self, setup: MerchantSetup) -> Result<Merchant> {
        let mchid = match &setup.mchid {
            Some(m) if m.len() >= 8 && m.len() <= 32 && m.bytes().all(|b| b.is_ascii_digit()) => m.clone(),
            Some(_) => return Err(PlatformError::invalid("mchid", "8 to 32 digits")),
            None => format!("19{:08}", crypto::random_in(0, 99_999_999)),
        };
        let kind =
            MerchantKind::parse(&setup.kind).ok_or_else(|| PlatformError::invalid("kind", "direct, service_provider or sub_merchant"))?;
        let parent = match (kind, &setup.parent_mchid) {
            (MerchantKind::SubMerchant, Some(parent)) => {
                let parent = self.merchant(parent).await.map_err(|_| PlatformError::invalid("parent_mchid", "no such service provider"))?;
                if parent.merchant.kind != MerchantKind::ServiceProvider {
                    return Err(PlatformError::invalid("parent_mchid", "a sub-merchant's parent is a service provider"));
                }
                Some((parent.merchant.id, parent.merchant.mchid.clone()))
            }
            (MerchantKind::SubMerchant, None) => {
                return Err(PlatformError::invalid("parent_mchid", "a sub-merchant needs its service provider"));
            }
            (_, Some(_)) => return Err(PlatformError::invalid("parent_mchid", "only sub-merchants have a service provider")),
            (_, None) => None,
        };
        if setup.mcc.len() != 4 || !setup.mcc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PlatformError::invalid("mcc", "a 4-digit merchant category code (ISO 18245)"));
        }
        let country = countries::country(&setup.country).ok_or_else(|| {
            PlatformError::invalid("country", "an ISO 3166-1 alpha-2 code of a country Qianbao acquires in, such as CN or FR")
        })?;
        let currency = crate::wallet::parse_currency(&setup.settlement_currency)?;
        if !self.core.config.currencies().contains(&currency) {
            return Err(PlatformError::invalid("settlement_currency", format!("{currency} is not enabled on this platform")));
        }
        if currency.code() != country.currency {
            return Err(PlatformError::invalid(
                "settlement_currency",
                format!("{} merchants settle in {}", country.alpha2, country.currency),
            ));
        }
        if let Some(l) = &setup.licence
            && (l.len() > 4096 || !serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()))
        {
            return Err(PlatformError::invalid("licence", "a JSON object of at most 4 KiB"));
        }
        if !(0..=10_000).contains(&setup.fee_bps) {
            return Err(PlatformError::invalid("fee_bps", "0 to 10000 basis points"));
        }
        let now = self.core.now_ms();
        Ok(Merchant {
            id: MerchantId::new(ids::object_id(now)),
            mchid,
            kind,
            parent_mchid: parent.as_ref().map(|(_, m)| m.clone()),
            parent_id: parent.map(|(id, _)| id),
            name: parse_text("name", &setup.name, 100)?,
            mcc: setup.mcc,
            country: setup.country,
            settlement_currency: currency,
            fee_bps: setup.fee_bps,
            settlement_account: parse_text("settlement_account", &setup.settlement_account, 64)?,
            public_key_mode: setup.public_key_mode,
            created_at_ms: now,
            licence: setup.licence,
            time_zone: country.time_zone.to_string(),
        })
    }

    /// A merchant with its credentials (cached briefly; see `forget_changed`).
    /// The guard that keeps today's (UTC) takings in `currency` within the merchant's daily cap, if it
    /// has one in that currency.
    pub(crate) async fn cap_guard(&self, merchant: MerchantId, currency: Currency, amount_minor: i64) -> Result<Option<::store::Effect>> {
        let Some((cap_currency, cap_minor)) = self.core.read(move |c| store::daily_cap(c, merchant)).await? else { return Ok(None) };
        if cap_currency != currency.numeric() {
            return Ok(None);
        }
        let day = self.core.now_ms().div_euclid(86_400_000);
        self.core.write(move |c| store::open_cap_day(c, merchant, day)).await?;
        Ok(Some(store::cap_guard(merchant, day, amount_minor, cap_minor)))
    }

    /// Set a merchant's daily cap on takings (UTC day), or remove it (`None`), in one transaction with
    /// its audit row.
    pub async fn set_daily_cap(&self, mchid: &str, cap: Option<(Currency, i64)>, by: &str, audit: ::store::Effect) -> Result<()> {
        let merchant = self.merchant(mchid).await?.merchant.id;
        if cap.is_some_and(|(_, minor)| minor <= 0) {
            return Err(PlatformError::invalid("amount", "a positive amount"));
        }
        let (by, now, cap) = (by.to_string(), self.core.now_ms(), cap.map(|(c, m)| (c.numeric(), m)));
        self.core.transaction(move |c| store::set_daily_cap(c, merchant, cap, &by, now, &audit)).await
    }

    /// Merchants a page at a time in id order: (id, mchid, name) (for screening them again).
    pub async fn names(&self, after: i64, limit: i64) -> Result<Vec<(i64, String, String)>> {
        self.core.read(move |c| store::names(c, after, limit)).await
    }

    pub async fn merchant(&self, mchid: &str) -> Result<Arc<MerchantAuth>> {
        if let Some((at, auth)) = self.by_mchid.lock().expect("merchant cache").get(mchid)
            && at.elapsed() < MERCHANT_CACHE_TTL
        {
            return Ok(auth.clone());
        }
        if mchid.is_empty() || mchid.len() > 32 {
            return Err(PlatformError::NotFound("merchant"));
        }
        let key = mchid.to_string();
        let found = self.core.read(move |c| store::by_mchid(c, &key)).await?.ok_or(PlatformError::NotFound("merchant"))?;
        let keys = found
            .keys
            .iter()
            .map(|(serial, spki)| {
                Ok((serial.clone(), wxpay::VerifyingKey::from_spki_der(spki).map_err(|e| PlatformError::Internal(e.to_string()))?))
            })
            .collect::<Result<Vec<_>>>()?;
        let auth = Arc::new(MerchantAuth {
            apiv3_key: self.core.unseal(&found.sealed_apiv3_key)?,
            merchant: found.merchant,
            keys,
            appids: found.appids,
        });
        self.by_mchid.lock().expect("merchant cache").insert(mchid.to_string(), (Instant::now(), auth.clone()));
        Ok(auth)
    }

    /// A merchant's name by id (for views that show who was paid).
    pub async fn name(&self, id: MerchantId) -> Result<String> {
        if let Some(name) = self.names.lock().expect("names").get(&id) {
            return Ok(name.clone());
        }
        let name = self.by_id(id).await?.merchant.name.clone();
        self.names.lock().expect("names").insert(id, name.clone());
        Ok(name)
    }

    /// A merchant by id.
    pub async fn by_id(&self, id: MerchantId) -> Result<Arc<MerchantAuth>> {
        let mchid = self.mchid(id).await?;
        self.merchant(&mchid).await
    }

    /// A merchant's mchid by id (ids never change their mchid: cached for good).
    pub async fn mchid(&self, id: MerchantId) -> Result<String> {
        if let Some(mchid) = self.mchids.lock().expect("mchids").get(&id) {
            return Ok(mchid.clone());
        }
        let mchid = self.core.read(move |c| store::mchid_of(c, id)).await?.ok_or(PlatformError::NotFound("merchant"))?;
        self.mchids.lock().expect("mchids").insert(id, mchid.clone());
        Ok(mchid)
    }

    fn forget(&self, mchid: &str) {
        self.by_mchid.lock().expect("merchant cache").remove(mchid);
    }

    /// Forget the cached credentials of merchants changed since `since_ms` (by any instance); run every
    /// second, so a revoked key stops working everywhere within about a second.
    pub async fn forget_changed(&self, since_ms: i64) -> Result<()> {
        for mchid in self.core.read(move |c| store::changed_since(c, since_ms)).await? {
            self.forget(&mchid);
        }
        Ok(())
    }

    /// A person's pseudonymous id at one app: the same person has a different openid at every app id, and
    /// no app can work back to the person (an HMAC under the server secret). 28 characters, as WeChat's.
    pub fn openid(&self, appid: &str, person: crate::PersonId) -> String {
        let mac = self.core.mac_raw(format!("openid\n{appid}\n{person}").as_bytes());
        let text = wxpay::base64::encode(&mac).replace('+', "-").replace('/', "_");
        format!("o{}", &text[..27])
    }
}
