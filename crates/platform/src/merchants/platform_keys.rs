//! Qianbao's own signing keys: a platform certificate (serial = the certificate's) and a public key
//! (`PUB_KEY_ID_...`); two certificates may be valid at once during a rotation.

use super::{Merchants, PlatformKeyKind, store};
use crate::{PlatformError, Result, crypto};
use std::sync::Arc;

/// Platform certificates are valid this long; a rotation starts a new one before the old one ends.
const PLATFORM_KEY_VALIDITY_S: i64 = 5 * 365 * 86_400;

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

/// Makes an audit row of what an action produced (a new key's serial), to commit with it.
pub type AuditOf = Box<dyn FnOnce(&str) -> ::store::Effect + Send>;

impl Merchants {
    /// Qianbao's signing keys, created on first use (and by a rotation).
    pub async fn platform_keys(&self) -> Result<Arc<PlatformKeys>> {
        if let Some(keys) = self.platform_keys.read().expect("platform keys").as_ref() {
            return Ok(keys.clone());
        }
        self.load_platform_keys(false, None).await
    }

    /// Start a new platform certificate now. The old one stays valid (and listed at
    /// `/v3/certificates`) until it expires or is retired, so merchants can switch over.
    /// `audit` makes the audit row of the new certificate's serial: it commits with the new key.
    pub async fn rotate_platform_certificate(&self, audit: AuditOf) -> Result<Arc<PlatformKeys>> {
        self.load_platform_keys(true, Some(audit)).await
    }

    /// Retire a platform certificate at once (after a rotation, when merchants have switched).
    pub async fn retire_platform_key(&self, serial: &str, audit: Option<::store::Effect>) -> Result<Arc<PlatformKeys>> {
        let keys = self.platform_keys().await?;
        if keys.certificates.len() < 2 || !keys.certificates.iter().any(|k| k.serial == serial) {
            return Err(PlatformError::invalid("serial_no", "not a valid platform certificate, or the only one (rotate first)"));
        }
        let (serial, now) = (serial.to_string(), self.core.now_ms());
        self.core
            .transaction(move |c| {
                store::retire_platform_key(c, &serial, now)?;
                crate::audit::with_audit(c, true, &audit)
            })
            .await?;
        self.load_platform_keys(false, None).await
    }

    async fn load_platform_keys(&self, rotate: bool, audit: Option<AuditOf>) -> Result<Arc<PlatformKeys>> {
        let now = self.core.now_ms();
        let stored = self.core.read(move |c| store::platform_keys(c, now)).await?;
        let has = |kind: PlatformKeyKind| stored.iter().any(|k| k.kind == kind);
        // A new key takes effect after every existing one, even when the clock stands still (manual).
        let effective_at = stored.iter().map(|k| k.effective_at_ms).max().map_or(now, |latest| now.max(latest + 1));
        let mut fresh = Vec::new();
        if rotate || !has(PlatformKeyKind::Certificate) {
            let key = wxpay::SigningKey::generate();
            let mut serial = crypto::random_bytes::<20>();
            serial[0] = 0x10 + serial[0] % 0x60; // positive, and 40 hex digits without a leading zero
            let certificate =
                wxpay::certificate(&key, &serial, "Qianbao platform certificate", now / 1000 - 60, now / 1000 + PLATFORM_KEY_VALIDITY_S);
            let serial_hex: String = serial.iter().map(|b| format!("{b:02X}")).collect();
            fresh.push((serial_hex, PlatformKeyKind::Certificate, key, Some(certificate)));
        }
        if !has(PlatformKeyKind::PublicKey) {
            let id = format!("PUB_KEY_ID_0114{:012}{:012}", crypto::random_in(0, 999_999_999_999), crypto::random_in(0, 999_999_999_999));
            fresh.push((id, PlatformKeyKind::PublicKey, wxpay::SigningKey::generate(), None));
        }
        let audit = match (audit, fresh.iter().find(|k| k.1 == PlatformKeyKind::Certificate)) {
            (Some(audit), Some(new)) => Some(audit(&new.0)),
            _ => None,
        };
        if !fresh.is_empty() {
            let rows: Vec<store::StoredKey> = fresh
                .into_iter()
                .map(|(serial, kind, key, certificate)| store::StoredKey {
                    serial,
                    kind,
                    sealed: self.core.seal(&key.to_pkcs8_der()),
                    certificate,
                    effective_at_ms: effective_at,
                    expires_at_ms: effective_at + PLATFORM_KEY_VALIDITY_S * 1000,
                })
                .collect();
            self.core
                .transaction(move |c| {
                    rows.iter().try_for_each(|k| store::insert_platform_key(c, k))?;
                    crate::audit::with_audit(c, true, &audit)
                })
                .await?;
        }
        // Read back: instances starting together each added keys; all agree on the oldest as signer.
        let stored = self.core.read(move |c| store::platform_keys(c, now)).await?;
        let mut certificates = Vec::new();
        let mut public_key = None;
        for k in stored {
            let der = self.core.unseal(&k.sealed)?;
            let key = PlatformKey {
                serial: k.serial,
                key: wxpay::SigningKey::from_pkcs8_der(&der).map_err(|e| PlatformError::Internal(e.to_string()))?,
                certificate: k.certificate,
                effective_at_ms: k.effective_at_ms,
                expires_at_ms: k.expires_at_ms,
            };
            match k.kind {
                PlatformKeyKind::Certificate => certificates.push(key),
                PlatformKeyKind::PublicKey if public_key.is_none() => public_key = Some(key),
                PlatformKeyKind::PublicKey => {}
            }
        }
        let keys = Arc::new(PlatformKeys {
            certificates,
            public_key: public_key.ok_or_else(|| PlatformError::Internal("no platform public key".into()))?,
        });
        assert!(!keys.certificates.is_empty(), "a platform certificate exists after loading");
        *self.platform_keys.write().expect("platform keys") = Some(keys.clone());
        Ok(keys)
    }
}
