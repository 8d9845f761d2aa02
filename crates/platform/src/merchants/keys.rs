//! A merchant's API certificates and public keys (by serial), and its app ids.

use super::{AppKind, Merchants, parse_text, parse_token, store};
use crate::{Conflict, PlatformError, Result};

pub const MERCHANT_KEYS_MAX: usize = 10;
pub const MERCHANT_APPS_MAX: usize = 100;

impl Merchants {
    /// Register a merchant's API certificate (its serial comes from it) or public key (with the serial
    /// the merchant will send). Returns the serial.
    pub async fn register_key(&self, mchid: &str, pem: &str, serial: Option<&str>) -> Result<String> {
        self.register_key_audited(mchid, pem, serial, |_| None).await
    }

    /// [`Merchants::register_key`], in one transaction with the audit row `audit` makes of the serial.
    pub async fn register_key_audited(
        &self,
        mchid: &str,
        pem: &str,
        serial: Option<&str>,
        audit: impl FnOnce(&str) -> Option<::store::Effect>,
    ) -> Result<String> {
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
        let (merchant, s, now, audit) = (auth.merchant.id, serial.clone(), self.core.now_ms(), audit(&serial));
        let inserted = self.core.transaction(move |c| {
            let inserted = store::insert_key(c, merchant, &s, spki.clone(), now)?;
            crate::audit::with_audit(c, inserted, &audit)
        });
        let inserted = inserted.await?;
        self.forget(mchid);
        if !inserted {
            return Err(PlatformError::conflict(Conflict::SerialTaken, "this serial number is already registered"));
        }
        Ok(serial)
    }

    /// Revoke a key, in one transaction with its audit row when given.
    pub async fn revoke_key(&self, mchid: &str, serial: &str, audit: Option<::store::Effect>) -> Result<()> {
        let auth = self.merchant(mchid).await?;
        let (merchant, s, now) = (auth.merchant.id, serial.to_ascii_uppercase(), self.core.now_ms());
        let revoked = self.core.transaction(move |c| {
            let revoked = store::revoke_key(c, merchant, &s, now)?;
            crate::audit::with_audit(c, revoked, &audit)
        });
        let revoked = revoked.await?;
        self.forget(mchid);
        if !revoked {
            return Err(PlatformError::NotFound("key"));
        }
        Ok(())
    }

    /// Bind an app id (mini-program, official account, mobile app, web site) to a merchant.
    pub async fn register_app(&self, mchid: &str, appid: &str, kind: &str, name: &str, audit: Option<::store::Effect>) -> Result<()> {
        let auth = self.merchant(mchid).await?;
        let appid = parse_token("appid", appid, 32)?;
        let kind =
            AppKind::parse(kind).ok_or_else(|| PlatformError::invalid("kind", "mini_program, official_account, mobile_app or web"))?;
        let name = parse_text("name", name, 100)?;
        if auth.appids.len() >= MERCHANT_APPS_MAX {
            return Err(PlatformError::invalid("appid", format!("at most {MERCHANT_APPS_MAX} app ids per merchant")));
        }
        let (merchant, now) = (auth.merchant.id, self.core.now_ms());
        let inserted = self.core.transaction(move |c| {
            let inserted = store::insert_app(c, merchant, &appid, kind, &name, now)?;
            crate::audit::with_audit(c, inserted, &audit)
        });
        let inserted = inserted.await?;
        self.forget(mchid);
        if !inserted {
            return Err(PlatformError::conflict(Conflict::AppidTaken, "this app id is already registered"));
        }
        Ok(())
    }
}
