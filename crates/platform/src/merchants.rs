//! Merchants and what they authenticate with: onboarding (direct merchants, service providers and their
//! sub-merchants), the APIv3 key, API certificates and public keys by serial, app ids, per-app openids,
//! and Qianbao's own platform signing keys (certificate and public-key mode, with rotation).
//!
//! Secrets at rest (APIv3 keys, platform private keys) are sealed under the server secret.

use crate::{Platform, PlatformError, Result, crypto, ids};
use ledger::{AccountFlags, NewAccount};
use money::Currency;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use store::params;

/// How long a merchant's credentials are cached by an instance: a key registered or revoked on another
/// instance takes effect here within this time.
const MERCHANT_CACHE_TTL: Duration = Duration::from_secs(10);
/// Platform certificates are valid this long; a rotation starts a new one before the old one ends.
const PLATFORM_KEY_VALIDITY_S: i64 = 5 * 365 * 86_400;
pub const MERCHANT_KEYS_MAX: usize = 10;
pub const MERCHANT_APPS_MAX: usize = 100;

#[derive(Debug, Clone, Serialize)]
pub struct Merchant {
    #[serde(skip)]
    pub id: i64,
    pub mchid: String,
    /// direct, service_provider, sub_merchant
    pub kind: String,
    /// For a sub-merchant: its service provider's mchid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_mchid: Option<String>,
    #[serde(skip)]
    pub parent_id: Option<i64>,
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

/// One of Qianbao's signing keys.
pub struct PlatformKey {
    /// The certificate's serial (upper-case hex), or `PUB_KEY_ID_...`.
    pub serial: String,
    pub key: wxpay::SigningKey,
    /// DER, for a certificate key.
    pub certificate: Option<Vec<u8>>,
    pub effective_at_ms: i64,
    pub expires_at_ms: i64,
}

/// Qianbao's signing keys: every valid platform certificate (newest signs), and the public key.
pub struct PlatformKeys {
    pub certificates: Vec<PlatformKey>,
    pub public_key: PlatformKey,
}

impl PlatformKeys {
    /// The key that signs responses and notifications: the public-key pair when the merchant asked for
    /// it (a request's `Wechatpay-Serial: PUB_KEY_ID_...`), else the newest certificate.
    pub fn signer(&self, public_key_mode: bool) -> &PlatformKey {
        if public_key_mode { &self.public_key } else { self.certificates.last().expect("at least one platform certificate") }
    }
}

/// A platform key as stored: serial, kind, sealed PKCS#8, certificate.
type SealedKey = (String, &'static str, Vec<u8>, Option<Vec<u8>>);

#[derive(Default)]
pub(crate) struct MerchantCache {
    by_mchid: Mutex<HashMap<String, (Instant, Arc<MerchantAuth>)>>,
    pub(crate) platform_keys: RwLock<Option<Arc<PlatformKeys>>>,
}

const MERCHANT_COLUMNS: &str = "m.id, m.mchid, m.kind, m.parent_id, p.mchid, m.name, m.mcc, m.country, m.settlement_currency, m.fee_bps, m.settlement_account, m.created_at, m.public_key_mode";

fn merchant_from(r: &store::Row) -> Result<Merchant> {
    Ok(Merchant {
        id: r.int(0)?,
        mchid: r.text(1)?,
        kind: r.text(2)?,
        parent_id: r.opt_int(3)?,
        parent_mchid: r.opt_text(4)?,
        name: r.text(5)?,
        mcc: r.text(6)?,
        country: r.text(7)?,
        settlement_currency: Currency::from_numeric(r.int(8)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?,
        fee_bps: r.int(9)?,
        settlement_account: r.text(10)?,
        created_at_ms: r.int(11)?,
        public_key_mode: r.int(12)? != 0,
    })
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

impl Platform {
    /// Onboard a merchant: its row, its receivable accounts (one per enabled currency) and a fresh APIv3
    /// key, returned this once (it is sealed at rest).
    pub async fn onboard_merchant(&self, setup: MerchantSetup) -> Result<(Merchant, String)> {
        let mchid = match &setup.mchid {
            Some(m) if m.len() >= 8 && m.len() <= 32 && m.bytes().all(|b| b.is_ascii_digit()) => m.clone(),
            Some(_) => return Err(PlatformError::invalid("mchid", "8 to 32 digits")),
            None => format!("19{:08}", crypto::random_in(0, 99_999_999)),
        };
        let kind = match setup.kind.as_str() {
            "direct" | "service_provider" | "sub_merchant" => setup.kind.clone(),
            _ => return Err(PlatformError::invalid("kind", "direct, service_provider or sub_merchant")),
        };
        let parent_id = match (&kind[..], &setup.parent_mchid) {
            ("sub_merchant", Some(parent)) => {
                let parent = self.merchant(parent).await.map_err(|_| PlatformError::invalid("parent_mchid", "no such service provider"))?;
                if parent.merchant.kind != "service_provider" {
                    return Err(PlatformError::invalid("parent_mchid", "a sub-merchant's parent is a service provider"));
                }
                Some(parent.merchant.id)
            }
            ("sub_merchant", None) => return Err(PlatformError::invalid("parent_mchid", "a sub-merchant needs its service provider")),
            (_, Some(_)) => return Err(PlatformError::invalid("parent_mchid", "only sub-merchants have a service provider")),
            (_, None) => None,
        };
        let name = parse_text("name", &setup.name, 100)?;
        if setup.mcc.len() != 4 || !setup.mcc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PlatformError::invalid("mcc", "a 4-digit merchant category code (ISO 18245)"));
        }
        if setup.country.len() != 2 || !setup.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(PlatformError::invalid("country", "an ISO 3166-1 alpha-2 code such as CN"));
        }
        let currency = crate::wallets::parse_currency(&setup.settlement_currency)?;
        if !self.config.currencies().contains(&currency) {
            return Err(PlatformError::invalid("settlement_currency", format!("{currency} is not enabled on this platform")));
        }
        if !(0..=10_000).contains(&setup.fee_bps) {
            return Err(PlatformError::invalid("fee_bps", "0 to 10000 basis points"));
        }
        let settlement_account = parse_text("settlement_account", &setup.settlement_account, 64)?;
        let now = self.now_ms();
        let id = ids::object_id(now);
        // The receivable accounts come first: a crash after them leaves unused accounts, never a
        // merchant that cannot be paid.
        let accounts = self
            .config
            .currencies()
            .into_iter()
            .map(|c| NewAccount {
                id: ids::merchant_receivable(id, c.numeric()),
                currency: c,
                code: ids::account::MERCHANT_RECEIVABLE,
                flags: AccountFlags::empty(),
                user_data: id as u128,
            })
            .collect();
        self.create_accounts(accounts).await?;
        let apiv3_key = wxpay::random_alphanumeric(32);
        let sealed = crypto::seal(&self.secret, apiv3_key.as_bytes());
        let (mchid_w, kind_w, mcc, country) = (mchid.clone(), kind.clone(), setup.mcc.clone(), setup.country.clone());
        let (name_w, account_w, fee_bps, numeric) = (name.clone(), settlement_account.clone(), setup.fee_bps, currency.numeric());
        let public_key_mode = i64::from(setup.public_key_mode);
        self.blocking(move |db| {
            db.with(|c| {
                c.execute(
                    "INSERT INTO merchants (id, mchid, kind, parent_id, name, mcc, country, settlement_currency, fee_bps, settlement_account, apiv3_key, created_at, public_key_mode) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    params![id, mchid_w.as_str(), kind_w.as_str(), parent_id, name_w.as_str(), mcc.as_str(), country.as_str(), numeric, fee_bps, account_w.as_str(), sealed, now, public_key_mode],
                )
            })
            .map_err(|e| match e {
                store::StoreError::Duplicate(_) => PlatformError::conflict("MCHID_TAKEN", "this mchid is already a merchant"),
                e => e.into(),
            })
        })
        .await?;
        let merchant = self.merchant(&mchid).await?.merchant.clone();
        Ok((merchant, apiv3_key))
    }

    /// A merchant with its credentials (cached briefly).
    pub async fn merchant(&self, mchid: &str) -> Result<Arc<MerchantAuth>> {
        if let Some((at, auth)) = self.merchants.by_mchid.lock().expect("merchant cache").get(mchid)
            && at.elapsed() < MERCHANT_CACHE_TTL
        {
            return Ok(auth.clone());
        }
        if mchid.is_empty() || mchid.len() > 32 {
            return Err(PlatformError::NotFound("merchant"));
        }
        let key = mchid.to_string();
        let secret = self.secret.clone();
        let auth = self
            .blocking(move |db| {
                db.with(|c| {
                    let Some(row) = c.query_one(
                        &format!("SELECT {MERCHANT_COLUMNS}, m.apiv3_key FROM merchants m LEFT JOIN merchants p ON p.id = m.parent_id WHERE m.mchid = $1"),
                        params![key.as_str()],
                    )?
                    else {
                        return Ok(None);
                    };
                    let keys = c.query(
                        "SELECT serial_no, public_key FROM merchant_keys WHERE merchant_id = $1 AND revoked_at IS NULL ORDER BY created_at",
                        params![row.int(0)?],
                    )?;
                    let apps = c.query("SELECT appid FROM merchant_apps WHERE merchant_id = $1 ORDER BY appid", params![row.int(0)?])?;
                    Ok(Some((row, keys, apps)))
                })
                .map_err(PlatformError::from)
                .and_then(|found| {
                    let Some((row, keys, apps)) = found else { return Ok(None) };
                    let merchant = merchant_from(&row)?;
                    let apiv3_key = crypto::unseal(&secret, &row.bytes(13)?)
                        .ok_or_else(|| PlatformError::Internal("an APIv3 key does not unseal: is QIANBAO_SECRET the one it was sealed with?".into()))?;
                    let keys = keys
                        .iter()
                        .map(|k| {
                            let key = wxpay::VerifyingKey::from_spki_der(&k.bytes(1)?).map_err(|e| PlatformError::Internal(e.to_string()))?;
                            Ok((k.text(0)?, key))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let appids = apps.iter().map(|a| a.text(0)).collect::<store::Result<Vec<_>>>()?;
                    Ok(Some(MerchantAuth { merchant, keys, apiv3_key, appids }))
                })
            })
            .await?
            .ok_or(PlatformError::NotFound("merchant"))?;
        let auth = Arc::new(auth);
        self.merchants.by_mchid.lock().expect("merchant cache").insert(mchid.to_string(), (Instant::now(), auth.clone()));
        Ok(auth)
    }

    fn forget_merchant(&self, mchid: &str) {
        self.merchants.by_mchid.lock().expect("merchant cache").remove(mchid);
    }

    /// Register a merchant's API certificate (its serial comes from it) or public key (with the serial
    /// the merchant will send). Returns the serial.
    pub async fn register_merchant_key(&self, mchid: &str, pem: &str, serial: Option<&str>) -> Result<String> {
        let auth = self.merchant(mchid).await?;
        if pem.len() > 8192 {
            return Err(PlatformError::invalid("pem", "at most 8 KiB"));
        }
        let (_, spki, certificate_serial) = wxpay::VerifyingKey::from_pem(pem).map_err(|e| PlatformError::invalid("pem", e.to_string()))?;
        let serial = match (certificate_serial, serial) {
            (Some(s), None) => s,
            (Some(s), Some(given)) if s.eq_ignore_ascii_case(given) => s,
            (Some(_), Some(_)) => return Err(PlatformError::invalid("serial_no", "differs from the certificate's serial number")),
            (None, Some(given)) => parse_token("serial_no", given, 64)?.to_ascii_uppercase(),
            (None, None) => return Err(PlatformError::invalid("serial_no", "a public key needs the serial number the merchant will send")),
        };
        if auth.keys.len() >= MERCHANT_KEYS_MAX {
            return Err(PlatformError::invalid("pem", format!("at most {MERCHANT_KEYS_MAX} keys per merchant: revoke one first")));
        }
        let (merchant_id, serial_w, now) = (auth.merchant.id, serial.clone(), self.now_ms());
        self.blocking(move |db| {
            db.with(|c| {
                c.execute(
                    "INSERT INTO merchant_keys (merchant_id, serial_no, public_key, created_at) VALUES ($1, $2, $3, $4)",
                    params![merchant_id, serial_w.as_str(), spki, now],
                )
            })
            .map_err(|e| match e {
                store::StoreError::Duplicate(_) => PlatformError::conflict("SERIAL_TAKEN", "this serial number is already registered"),
                e => e.into(),
            })
        })
        .await?;
        self.forget_merchant(mchid);
        Ok(serial)
    }

    pub async fn revoke_merchant_key(&self, mchid: &str, serial: &str) -> Result<()> {
        let auth = self.merchant(mchid).await?;
        let (merchant_id, serial_w, now) = (auth.merchant.id, serial.to_ascii_uppercase(), self.now_ms());
        let changed = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.execute(
                        "UPDATE merchant_keys SET revoked_at = $3 WHERE merchant_id = $1 AND serial_no = $2 AND revoked_at IS NULL",
                        params![merchant_id, serial_w.as_str(), now],
                    )
                })?)
            })
            .await?;
        self.forget_merchant(mchid);
        if changed == 0 {
            return Err(PlatformError::NotFound("key"));
        }
        Ok(())
    }

    /// Bind an app id (mini-program, official account, mobile app, web site) to a merchant.
    pub async fn register_app(&self, mchid: &str, appid: &str, kind: &str, name: &str) -> Result<()> {
        let auth = self.merchant(mchid).await?;
        let appid = parse_token("appid", appid, 32)?;
        if !["mini_program", "official_account", "mobile_app", "web"].contains(&kind) {
            return Err(PlatformError::invalid("kind", "mini_program, official_account, mobile_app or web"));
        }
        let name = parse_text("name", name, 100)?;
        if auth.appids.len() >= MERCHANT_APPS_MAX {
            return Err(PlatformError::invalid("appid", format!("at most {MERCHANT_APPS_MAX} app ids per merchant")));
        }
        let (merchant_id, kind, now) = (auth.merchant.id, kind.to_string(), self.now_ms());
        self.blocking(move |db| {
            db.with(|c| {
                c.execute(
                    "INSERT INTO merchant_apps (appid, merchant_id, kind, name, created_at) VALUES ($1, $2, $3, $4, $5)",
                    params![appid.as_str(), merchant_id, kind.as_str(), name.as_str(), now],
                )
            })
            .map_err(|e| match e {
                store::StoreError::Duplicate(_) => PlatformError::conflict("APPID_TAKEN", "this app id is already registered"),
                e => e.into(),
            })
        })
        .await?;
        self.forget_merchant(mchid);
        Ok(())
    }

    /// A person's pseudonymous id at one app: the same person has a different openid at every app id, and
    /// no app can work back to the person (an HMAC under the server secret). 28 characters, as WeChat's.
    pub fn openid(&self, appid: &str, person: i64) -> String {
        let mac = crypto::hmac_sha256(&self.secret, format!("openid\n{appid}\n{person}").as_bytes());
        let text = wxpay::base64::encode(&mac).replace('+', "-").replace('/', "_");
        format!("o{}", &text[..27])
    }

    /// Qianbao's signing keys, created on first use (and by a rotation).
    pub async fn platform_keys(&self) -> Result<Arc<PlatformKeys>> {
        if let Some(keys) = self.merchants.platform_keys.read().expect("platform keys").as_ref() {
            return Ok(keys.clone());
        }
        self.load_platform_keys(false).await
    }

    /// Start a new platform certificate now. The old one stays valid (and listed at
    /// `/v3/certificates`) until it expires or is retired, so merchants can switch over.
    pub async fn rotate_platform_certificate(&self) -> Result<Arc<PlatformKeys>> {
        self.load_platform_keys(true).await
    }

    /// Retire a platform certificate at once (after a rotation, when merchants have switched).
    pub async fn retire_platform_key(&self, serial: &str) -> Result<Arc<PlatformKeys>> {
        let keys = self.platform_keys().await?;
        if keys.certificates.len() < 2 || !keys.certificates.iter().any(|k| k.serial == serial) {
            return Err(PlatformError::invalid("serial_no", "not a valid platform certificate, or the only one (rotate first)"));
        }
        let (serial, now) = (serial.to_string(), self.now_ms());
        self.blocking(move |db| {
            Ok(db.with(|c| c.execute("UPDATE platform_keys SET expires_at = $2 WHERE serial_no = $1", params![serial.as_str(), now]))?)
        })
        .await?;
        self.load_platform_keys(false).await
    }

    async fn load_platform_keys(&self, rotate: bool) -> Result<Arc<PlatformKeys>> {
        let now = self.now_ms();
        let read = move |db: &store::Db| -> Result<Vec<store::Row>> {
            Ok(db.with(|c| {
                c.query(
                    "SELECT serial_no, kind, private_key, certificate, effective_at, expires_at FROM platform_keys WHERE expires_at > $1 ORDER BY effective_at, serial_no",
                    params![now],
                )
            })?)
        };
        let rows = self.blocking(move |db| read(db)).await?;
        let has = |kind: &str| rows.iter().any(|r| r.text(1).is_ok_and(|k| k == kind));
        // A new key takes effect after every existing one, even when the clock stands still (manual).
        let effective_at = rows.iter().filter_map(|r| r.int(4).ok()).max().map_or(now, |latest| now.max(latest + 1));
        let mut fresh = Vec::new();
        if rotate || !has("certificate") {
            let key = wxpay::SigningKey::generate();
            let mut serial = crypto::random_bytes::<20>();
            serial[0] = 0x10 + serial[0] % 0x60; // positive, and 40 hex digits without a leading zero
            let certificate =
                wxpay::certificate(&key, &serial, "Qianbao platform certificate", now / 1000 - 60, now / 1000 + PLATFORM_KEY_VALIDITY_S);
            let serial_hex: String = serial.iter().map(|b| format!("{b:02X}")).collect();
            fresh.push((serial_hex, "certificate", key, Some(certificate)));
        }
        if !has("public_key") {
            let id = format!("PUB_KEY_ID_0114{:012}{:012}", crypto::random_in(0, 999_999_999_999), crypto::random_in(0, 999_999_999_999));
            fresh.push((id, "public_key", wxpay::SigningKey::generate(), None));
        }
        if !fresh.is_empty() {
            let secret = self.secret.clone();
            let rows: Vec<SealedKey> =
                fresh.into_iter().map(|(s, k, key, cert)| (s, k, crypto::seal(&secret, &key.to_pkcs8_der()), cert)).collect();
            self.blocking(move |db| {
                for (serial, kind, sealed, certificate) in &rows {
                    db.with(|c| {
                        c.execute(
                            "INSERT INTO platform_keys (serial_no, kind, private_key, certificate, effective_at, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $5)",
                            params![serial.as_str(), *kind, sealed.clone(), certificate.clone(), effective_at, effective_at + PLATFORM_KEY_VALIDITY_S * 1000],
                        )
                    })?;
                }
                Ok(())
            })
            .await?;
        }
        // Read back: instances starting together each added keys; all agree on the oldest as signer.
        let rows = self.blocking(move |db| read(db)).await?;
        let mut certificates = Vec::new();
        let mut public_key = None;
        for r in rows {
            let der = crypto::unseal(&self.secret, &r.bytes(2)?).ok_or_else(|| {
                PlatformError::Internal("a platform key does not unseal: is QIANBAO_SECRET the one it was sealed with?".into())
            })?;
            let key = PlatformKey {
                serial: r.text(0)?,
                key: wxpay::SigningKey::from_pkcs8_der(&der).map_err(|e| PlatformError::Internal(e.to_string()))?,
                certificate: r.opt_bytes(3)?,
                effective_at_ms: r.int(4)?,
                expires_at_ms: r.int(5)?,
            };
            match r.text(1)?.as_str() {
                "certificate" => certificates.push(key),
                _ if public_key.is_none() => public_key = Some(key),
                _ => {}
            }
        }
        let keys = Arc::new(PlatformKeys {
            certificates,
            public_key: public_key.ok_or_else(|| PlatformError::Internal("no platform public key".into()))?,
        });
        assert!(!keys.certificates.is_empty(), "a platform certificate exists after loading");
        *self.merchants.platform_keys.write().expect("platform keys") = Some(keys.clone());
        Ok(keys)
    }
}
