//! What a merchant's EMV QR codes say about it: its QR profile (the Latin name and city that ids 59 and
//! 60 carry in printable ASCII, the postal code, and the local-language name and city of template 64),
//! and the national schemes the operator registered it on (their merchant account templates go beside
//! Qianbao's own in its static codes, so one sticker serves several networks).

use super::{Merchants, store};
use crate::{PlatformError, Result};
use emvqr::Scheme;

/// What ids 59, 60, 61 and 64 say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QrProfile {
    pub name: String,
    pub city: String,
    pub postal_code: Option<String>,
    /// ISO 639-1, lower case: the language of `local_name` and `local_city`.
    pub language: Option<String>,
    pub local_name: Option<String>,
    pub local_city: Option<String>,
}

/// `ans` fields: printable ASCII, 1 to `max` characters.
fn ascii(field: &'static str, text: &str, max: usize) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(PlatformError::invalid(field, format!("1 to {max} printable ASCII characters (the EMV QR specification's limit)")));
    }
    Ok(text.to_string())
}

fn local(field: &'static str, text: &str, max: usize) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(PlatformError::invalid(field, format!("1 to {max} characters, no control characters")));
    }
    Ok(text.to_string())
}

impl QrProfile {
    /// The profile as an operator gives it, held to the specification's limits.
    pub fn parse(
        name: &str,
        city: &str,
        postal_code: Option<&str>,
        language: Option<&str>,
        local_name: Option<&str>,
        local_city: Option<&str>,
    ) -> Result<QrProfile> {
        let language = match language {
            Some(l) if l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()) => Some(l.to_string()),
            Some(_) => return Err(PlatformError::invalid("language", "an ISO 639-1 code of two lower-case letters, such as zh")),
            None => None,
        };
        if language.is_some() != local_name.is_some() || (local_city.is_some() && local_name.is_none()) {
            return Err(PlatformError::invalid("local_name", "a local name comes with its language (and a local city only with them)"));
        }
        Ok(QrProfile {
            name: ascii("name", name, 25)?,
            city: ascii("city", city, 15)?,
            postal_code: postal_code.map(|p| ascii("postal_code", p, 10)).transpose()?,
            language,
            local_name: local_name.map(|n| local("local_name", n, 25)).transpose()?,
            local_city: local_city.map(|c| local("local_city", c, 15)).transpose()?,
        })
    }
}

text_enum! {
    /// The national schemes a merchant can be registered on, by their EMV identifiers.
    pub enum SchemeKind {
        Fps => "fps",
        PayNow => "paynow",
        PromptPay => "promptpay",
        Pix => "pix",
        Qris => "qris",
    }
}

impl SchemeKind {
    /// The country whose merchants the scheme serves.
    fn country(self) -> &'static str {
        match self {
            SchemeKind::Fps => "HK",
            SchemeKind::PayNow => "SG",
            SchemeKind::PromptPay => "TH",
            SchemeKind::Pix => "BR",
            SchemeKind::Qris => "ID",
        }
    }
}

/// A scheme's fields as the operator gives them (strings by name), checked and made a template.
fn scheme_from(kind: SchemeKind, fields: &serde_json::Map<String, serde_json::Value>) -> Result<Scheme> {
    let known: &[&str] = match kind {
        SchemeKind::Fps => &["clearing_code", "fps_id", "mobile", "email"],
        SchemeKind::PayNow => &["proxy_type", "proxy_value", "amount_editable", "expiry"],
        SchemeKind::PromptPay => &["mobile", "national_id", "e_wallet"],
        SchemeKind::Pix => &["key", "description"],
        SchemeKind::Qris => &["merchant_id", "criteria"],
    };
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(PlatformError::invalid("fields", format!("{unknown} is not a field of {kind}; its fields are {}", known.join(", "))));
    }
    let text = |name: &'static str| -> Result<Option<String>> {
        match fields.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => ascii(name, s, 64).map(Some),
            Some(_) => Err(PlatformError::invalid(name, "a string")),
        }
    };
    let one_of = |names: &[&'static str]| -> Result<()> {
        let given = names.iter().filter(|n| fields.contains_key(**n)).count();
        if given != 1 {
            return Err(PlatformError::invalid(names[0], format!("exactly one of {}", names.join(", "))));
        }
        Ok(())
    };
    let scheme = match kind {
        SchemeKind::Fps => {
            one_of(&["fps_id", "mobile", "email"])?;
            let clearing_code = text("clearing_code")?;
            if clearing_code.as_ref().is_some_and(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_digit())) {
                return Err(PlatformError::invalid("clearing_code", "the bank's three-digit clearing code"));
            }
            Scheme::Fps { clearing_code, fps_id: text("fps_id")?, mobile: text("mobile")?, email: text("email")? }
        }
        SchemeKind::PayNow => {
            let proxy_type = text("proxy_type")?;
            if !matches!(proxy_type.as_deref(), Some("0" | "2")) {
                return Err(PlatformError::invalid("proxy_type", "0 (mobile) or 2 (UEN)"));
            }
            let amount_editable = match fields.get("amount_editable") {
                None => true,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(_) => return Err(PlatformError::invalid("amount_editable", "true or false")),
            };
            let proxy_value = text("proxy_value")?.ok_or_else(|| PlatformError::invalid("proxy_value", "the mobile number or UEN"))?;
            Scheme::PayNow { proxy_type, proxy_value: Some(proxy_value), amount_editable, expiry: text("expiry")? }
        }
        SchemeKind::PromptPay => {
            one_of(&["mobile", "national_id", "e_wallet"])?;
            Scheme::PromptPay { mobile: text("mobile")?, national_id: text("national_id")?, e_wallet: text("e_wallet")? }
        }
        SchemeKind::Pix => Scheme::Pix {
            key: Some(text("key")?.ok_or_else(|| PlatformError::invalid("key", "the Pix key"))?),
            description: text("description")?,
            url: None,
        },
        SchemeKind::Qris => Scheme::Qris {
            merchant_id: Some(text("merchant_id")?.ok_or_else(|| PlatformError::invalid("merchant_id", "the national merchant id"))?),
            criteria: text("criteria")?,
        },
    };
    Ok(scheme)
}

/// The templates of one code are at most this many (ids 27 to 51 after Qianbao's own at 26).
pub const SCHEMES_PER_MERCHANT_MAX: usize = 5;

impl Merchants {
    /// Set what a merchant's EMV codes say about it.
    pub async fn set_qr_profile(&self, mchid: &str, profile: QrProfile, audit: Option<::store::Effect>) -> Result<()> {
        let merchant = self.merchant(mchid).await?.merchant.id;
        let now = self.core.now_ms();
        let set = self.core.transaction(move |c| {
            store::upsert_qr_profile(c, merchant, &profile, now)?;
            crate::audit::with_audit(c, true, &audit)
        });
        set.await.map(|_| ())
    }

    pub async fn qr_profile(&self, merchant: crate::MerchantId) -> Result<Option<QrProfile>> {
        self.core.read(move |c| store::qr_profile(c, merchant)).await
    }

    /// Register a merchant on a national scheme (replacing an earlier registration on it); answers the
    /// template that its static codes will carry.
    pub async fn register_scheme(
        &self,
        mchid: &str,
        scheme: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
        audit: Option<::store::Effect>,
    ) -> Result<String> {
        let kind = SchemeKind::parse(scheme).ok_or_else(|| PlatformError::invalid("scheme", "fps, paynow, promptpay, pix or qris"))?;
        let merchant = self.merchant(mchid).await?.merchant.clone();
        if merchant.country != kind.country() {
            return Err(PlatformError::invalid(
                "scheme",
                format!("{kind} serves merchants in {}, not {}", kind.country(), merchant.country),
            ));
        }
        let template = scheme_from(kind, fields)?.template();
        if template.chars().count() > 99 {
            return Err(PlatformError::invalid("fields", "the scheme's template is longer than 99 characters"));
        }
        let (id, t, now) = (merchant.id, template.clone(), self.core.now_ms());
        let registered = self.core.transaction(move |c| {
            let registered = store::upsert_scheme(c, id, kind, &t, SCHEMES_PER_MERCHANT_MAX, now)?;
            crate::audit::with_audit(c, registered, &audit)
        });
        let registered = registered.await?;
        if !registered {
            return Err(PlatformError::invalid(
                "scheme",
                format!("a merchant is registered on at most {SCHEMES_PER_MERCHANT_MAX} schemes"),
            ));
        }
        Ok(template)
    }

    /// The merchant's scheme templates, by scheme name.
    pub async fn scheme_templates(&self, merchant: crate::MerchantId) -> Result<Vec<(String, String)>> {
        self.core.read(move |c| store::schemes(c, merchant)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn an_fps_registration_needs_exactly_one_proxy() {
        let both = fields(serde_json::json!({"clearing_code": "004", "mobile": "+852-61234567", "email": "a@b.hk"}));
        assert!(scheme_from(SchemeKind::Fps, &both).is_err());
        let one = fields(serde_json::json!({"clearing_code": "004", "mobile": "+852-61234567"}));
        assert_eq!(scheme_from(SchemeKind::Fps, &one).unwrap().template(), "0012hk.com.hkicl01030040313+852-61234567");
    }

    #[test]
    fn a_field_the_scheme_does_not_have_is_named_in_the_refusal() {
        let err = scheme_from(SchemeKind::Pix, &fields(serde_json::json!({"key": "a@b.br", "iban": "x"}))).unwrap_err();
        assert!(err.to_string().contains("iban"), "{err}");
    }

    #[test]
    fn a_profile_refuses_a_name_the_ascii_fields_cannot_carry() {
        assert!(QrProfile::parse("最佳运输", "Beijing", None, None, None, None).is_err());
        let p = QrProfile::parse("Best Transport", "Beijing", None, Some("zh"), Some("最佳运输"), Some("北京")).unwrap();
        assert_eq!(p.local_city.as_deref(), Some("北京"));
        assert!(QrProfile::parse("Best Transport", "Beijing", None, None, Some("最佳运输"), None).is_err());
    }
}
