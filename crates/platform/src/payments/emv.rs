//! Qianbao's codes as EMVCo merchant-presented payloads, so that a wallet of any network reads them:
//! a static code (the person enters the amount; point of initiation 11) carries Qianbao's template and
//! the merchant's national-scheme templates; a Native order's code (12) carries the amount and
//! Qianbao's template only (the order is Qianbao's: another scheme's wallet paying it directly would
//! pay outside the order). Qianbao's template (id 26) holds the GUID, the mchid, and the code's token
//! (02 static, 03 order) with the order's expiry (04, YYYYMMDDhhmmss UTC). The token is the same as the
//! `code_url`'s and carries the MAC that protects it: reading a payload back, only the token counts
//! (the mchid and expiry are for other networks' wallets to show), so nobody can make one for another
//! order. A template holds 99 characters: with a long mchid the expiry, then the mchid, are left out.

use super::{Order, Payments};
use crate::merchants::MerchantAuth;
use crate::merchants::qr::QrProfile;
use crate::{PlatformError, Result};
use emvqr::Payload;

/// Qianbao's merchant account template id (the first of 26–51; national schemes follow from 27).
pub const QIANBAO_TEMPLATE_ID: u8 = 26;

impl Payments {
    /// The EMV payload of a Native order's `code_url` or of a static code.
    pub async fn emv_payload(&self, code_url: &str) -> Result<String> {
        if Payments::is_static_code(code_url) {
            let (merchant, _) = self.static_code(code_url).await?;
            let token = code_url.rsplit('=').next().unwrap_or_default();
            return self.static_payload(&merchant, token).await;
        }
        let order = self.order(self.order_of_code_url(code_url)?).await?;
        if !order.trade_state.open() {
            return Err(PlatformError::invalid("code_url", "this order is no longer open"));
        }
        let merchant = self.merchants.by_id(order.merchant_id).await?;
        self.dynamic_payload(&merchant, &order, code_url.rsplit('=').next().unwrap_or_default()).await
    }

    async fn profile(&self, merchant: &MerchantAuth) -> Result<QrProfile> {
        self.merchants.qr_profile(merchant.merchant.id).await?.ok_or_else(|| {
            PlatformError::invalid(
                "mchid",
                "this merchant has no QR profile yet (the Latin name and city its EMV codes carry): the operator sets it",
            )
        })
    }

    async fn static_payload(&self, merchant: &MerchantAuth, token: &str) -> Result<String> {
        let profile = self.profile(merchant).await?;
        let mut p = base(merchant, &profile, "11", &self.core.config.qr_guid, &[(2, token)]);
        for (index, (_, template)) in self.merchants.scheme_templates(merchant.merchant.id).await?.into_iter().enumerate() {
            p.set(QIANBAO_TEMPLATE_ID + 1 + index as u8, Some(template));
        }
        Ok(p.build())
    }

    async fn dynamic_payload(&self, merchant: &MerchantAuth, order: &Order, token: &str) -> Result<String> {
        let profile = self.profile(merchant).await?;
        let t = wxpay::time::civil(order.expires_at_ms / 1000);
        let expiry = format!("{:04}{:02}{:02}{:02}{:02}{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second);
        let mut p = base(merchant, &profile, "12", &self.core.config.qr_guid, &[(3, token), (4, &expiry)]);
        p.set(53, Some(format!("{:03}", order.currency.numeric())));
        p.set(54, Some(crate::wallet::decimal(order.total_minor, order.currency)));
        if order.out_trade_no.len() <= 25 {
            p.set(62, Some(emvqr::template(&[(1, &order.out_trade_no)])));
        }
        Ok(p.build())
    }

    /// The Qianbao code (`code_url`) a scanned text stands for: a Qianbao `code_url` as it is, or an EMV
    /// payload carrying Qianbao's template. `None` when it is neither.
    pub fn qianbao_code(&self, scanned: &str) -> Option<String> {
        if scanned.starts_with("weixin://") {
            return Some(scanned.to_string());
        }
        let payload = emvqr::parse(scanned).ok()?;
        self.code_in(&payload)
    }

    /// The `code_url` inside a payload's Qianbao template, if it has one.
    pub fn code_in(&self, payload: &Payload) -> Option<String> {
        let ours = (26..=51u8)
            .filter_map(|id| payload.template(id))
            .find(|t| t.first().is_some_and(|o| o.id == 0 && o.value.eq_ignore_ascii_case(&self.core.config.qr_guid)))?;
        let get = |id: u8| ours.iter().find(|o| o.id == id).map(|o| o.value.clone());
        match (get(2), get(3)) {
            (Some(token), None) => Some(self.static_code_url_of_token(&token)),
            (None, Some(token)) => Some(self.code_url_of_token(&token)),
            _ => None,
        }
    }
}

/// The objects every Qianbao code has: format, initiation, Qianbao's template, MCC, currency,
/// country, the profile's name, city, postal code and language template.
fn base(merchant: &MerchantAuth, profile: &QrProfile, initiation: &str, guid: &str, token: &[(u8, &str)]) -> Payload {
    let m = &merchant.merchant;
    let mut ours = vec![(0u8, guid), (1, m.mchid.as_str())];
    ours.extend_from_slice(token);
    // The token (02 or 03) is what the code is; what else fits in 99 characters goes with it.
    let length = |objects: &[(u8, &str)]| objects.iter().map(|(_, v)| 4 + v.chars().count()).sum::<usize>();
    for optional in [4u8, 1] {
        if length(&ours) > 99 {
            ours.retain(|(id, _)| *id != optional);
        }
    }
    assert!(length(&ours) <= 99, "a GUID of at most 32 characters and a 32-character token fit a template");
    let mut p = Payload::default();
    p.set(0, Some("01".into()));
    p.set(1, Some(initiation.into()));
    p.set(QIANBAO_TEMPLATE_ID, Some(emvqr::template(&ours)));
    p.set(52, Some(m.mcc.clone()));
    p.set(53, Some(format!("{:03}", m.settlement_currency.numeric())));
    p.set(58, Some(m.country.clone()));
    p.set(59, Some(profile.name.clone()));
    p.set(60, Some(profile.city.clone()));
    p.set(61, profile.postal_code.clone());
    if let (Some(language), Some(name)) = (&profile.language, &profile.local_name) {
        let mut local = vec![(0u8, language.as_str()), (1, name.as_str())];
        if let Some(city) = &profile.local_city {
            local.push((2, city));
        }
        p.set(64, Some(emvqr::template(&local)));
    }
    p
}
