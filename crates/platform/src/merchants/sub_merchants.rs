//! An institution (a service provider acquiring abroad) onboards its own sub-merchants through the
//! global API (`POST /v3/global/merchants`). The sub-merchant's country is named by its ISO 3166
//! numeric code and fixes its settlement currency and time zone; what the institution states about it
//! (short name, phone, contact, category, type, business) is kept as its licence data.
//!
//! The request carries no id of its own, so a retried onboarding must not make a second merchant: the
//! sub-merchant's mchid is derived (under the server secret) from the institution and what identifies
//! the business (name and settlement account), and the same request finds the merchant it made.

use super::{MerchantAuth, MerchantKind, MerchantSetup, Merchants, countries};
use crate::{Conflict, PlatformError, Result};

/// What an institution states about a new sub-merchant.
#[derive(Debug, Clone)]
pub struct SubMerchantApplication {
    pub name: String,
    /// ISO 3166-1 numeric ("344" is Hong Kong).
    pub country_numeric: String,
    pub mcc: String,
    pub settlement_account: String,
    /// Everything else the institution stated (shortname, office_phone, contact, business_category,
    /// merchant_type, business), kept as the licence data: a JSON object.
    pub licence: String,
}

/// How many digits a derived sub-merchant mchid has (a collision among 10^16 is not a concern).
const DERIVED_MCHID_DIGITS: usize = 16;

impl Merchants {
    /// Onboard (or, for the same application again, find) an institution's sub-merchant; `true` when it
    /// was made now.
    pub async fn onboard_sub_merchant(
        &self,
        institution: &MerchantAuth,
        application: SubMerchantApplication,
    ) -> Result<(MerchantAuth, bool)> {
        if institution.merchant.kind != MerchantKind::ServiceProvider {
            return Err(PlatformError::Forbidden("only an institution (service provider) onboards sub-merchants".into()));
        }
        let country = countries::by_numeric(&application.country_numeric).ok_or_else(|| {
            PlatformError::invalid(
                "merchant_country_code",
                "the ISO 3166-1 numeric code of a country Qianbao acquires in, such as 344 or 250",
            )
        })?;
        let application = SubMerchantApplication {
            name: application.name.trim().to_string(),
            settlement_account: application.settlement_account.trim().to_string(),
            ..application
        };
        let mchid = self.derived_mchid(institution, &application);
        // The same application again: the merchant it made (nothing is created twice).
        if let Ok(existing) = self.merchant(&mchid).await {
            return Ok((Self::made_by(existing, institution)?, false));
        }
        let setup = MerchantSetup {
            mchid: Some(mchid.clone()),
            kind: MerchantKind::SubMerchant.as_str().into(),
            parent_mchid: Some(institution.merchant.mchid.clone()),
            name: application.name,
            mcc: application.mcc,
            country: country.alpha2.into(),
            settlement_currency: country.currency.into(),
            fee_bps: institution.merchant.fee_bps,
            settlement_account: application.settlement_account,
            public_key_mode: institution.merchant.public_key_mode,
            licence: Some(application.licence),
        };
        match self.onboard(setup).await {
            Ok((_, _apiv3_key)) => Ok(((*self.merchant(&mchid).await?).clone(), true)),
            Err(PlatformError::Conflict { code: Conflict::MchidTaken, .. }) => {
                Ok((Self::made_by(self.merchant(&mchid).await?, institution)?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// A found sub-merchant, which must be this institution's (a collision of derived ids is refused).
    fn made_by(existing: std::sync::Arc<MerchantAuth>, institution: &MerchantAuth) -> Result<MerchantAuth> {
        if existing.merchant.parent_id != Some(institution.merchant.id) {
            return Err(PlatformError::Internal(format!(
                "derived sub-merchant id {} belongs to another merchant",
                existing.merchant.mchid
            )));
        }
        Ok((*existing).clone())
    }

    fn derived_mchid(&self, institution: &MerchantAuth, a: &SubMerchantApplication) -> String {
        let material = format!("sub-merchant\n{}\n{}\n{}\n{}", institution.merchant.mchid, a.country_numeric, a.name, a.settlement_account);
        let mac = self.core.mac_raw(material.as_bytes());
        let mut n = u64::from_be_bytes(mac[..8].try_into().expect("8 bytes")) % 10u64.pow(DERIVED_MCHID_DIGITS as u32 - 2);
        let mut digits = String::with_capacity(DERIVED_MCHID_DIGITS);
        for _ in 0..DERIVED_MCHID_DIGITS - 2 {
            digits.insert(0, char::from(b'0' + (n % 10) as u8));
            n /= 10;
        }
        format!("39{digits}")
    }
}
