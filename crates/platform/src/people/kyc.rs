//! KYC tiers. Tier 0: phone only. Tier 1: legal name and an identity document whose checksum is valid
//! (mainland resident ID, Hong Kong ID, passport), one document per wallet, sealed at rest. Tier 2:
//! verified by an operator. Every change of tier starts a new KYC version, and with it fresh limit
//! periods (see `limits`).

use super::limits::KYC_VERSIONS_MAX;
use super::{People, parse_name, store};
use crate::{Conflict, PersonId, PlatformError, Result};

/// Mainland resident identity card: 17 digits and an ISO 7064 MOD 11-2 check character (0-9 or X).
pub fn valid_cn_resident_id(number: &str) -> bool {
    let b = number.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    b[17].to_ascii_uppercase() == check
}

/// Hong Kong identity card: one or two letters, six digits, a check digit (0-9 or A), as `A123456(3)`
/// or `A1234563`.
pub fn valid_hk_id(number: &str) -> bool {
    let cleaned: String = number.chars().filter(|c| *c != '(' && *c != ')').collect::<String>().to_ascii_uppercase();
    let b = cleaned.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if !(1..=2).contains(&letters) || b.len() != letters + 7 || !b[letters..letters + 6].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let value = |c: u8| if c.is_ascii_digit() { u32::from(c - b'0') } else { u32::from(c - b'A') + 10 };
    let mut chars: Vec<u32> = if letters == 1 { vec![36] } else { vec![] };
    chars.extend(b[..letters + 6].iter().map(|c| value(*c)));
    let sum: u32 = chars.iter().zip((2..=9).rev()).map(|(v, w)| v * w).sum();
    let check = match b[letters + 6] {
        b'A' => 10,
        c if c.is_ascii_digit() => u32::from(c - b'0'),
        _ => return false,
    };
    (sum + check).is_multiple_of(11)
}

/// A document as one string: its type and its number, normalised (`hk_id:A1234563`).
fn document_text(document_type: &str, number: &str) -> Result<String> {
    let number: String = number.trim().to_ascii_uppercase().chars().filter(|c| *c != '(' && *c != ')').collect();
    let valid = match document_type {
        "cn_resident_id" => valid_cn_resident_id(&number),
        "hk_id" => valid_hk_id(&number),
        "passport" => (6..=20).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_alphanumeric()),
        _ => return Err(PlatformError::invalid("document_type", "cn_resident_id, hk_id or passport")),
    };
    if !valid {
        return Err(PlatformError::invalid("document_number", "not a valid document number (check digit wrong)"));
    }
    Ok(format!("{document_type}:{number}"))
}

/// What a person gave for KYC: the legal name and the identity document (`type:number`), unsealed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KycRecord {
    pub legal_name: Option<String>,
    pub document: Option<String>,
}

impl People {
    /// People who gave a legal name, a page at a time in id order (for screening them again).
    pub async fn legal_names(&self, after: i64, limit: i64) -> Result<Vec<(PersonId, String)>> {
        self.core.read(move |c| store::legal_names(c, after, limit)).await
    }

    /// The people waiting for an operator to verify them (tier 1, a legal name given), oldest first,
    /// `limit` at most (1 to 200): (id, display name, legal name, phone).
    pub async fn kyc_queue(&self, limit: i64) -> Result<Vec<(PersonId, String, String, String)>> {
        let limit = limit.clamp(1, 200);
        self.core.read(move |c| store::kyc_queue(c, limit)).await
    }

    /// A person's own KYC record (for their data export): the document unsealed.
    pub async fn kyc_record(&self, person: PersonId) -> Result<KycRecord> {
        let (legal_name, sealed) = self.core.read(move |c| store::kyc_record(c, person)).await?;
        let document = match sealed {
            Some(s) => Some(String::from_utf8_lossy(&self.core.unseal(&s)?).into_owned()),
            None => None,
        };
        Ok(KycRecord { legal_name, document })
    }

    /// Tier 1: legal name and a checksum-valid identity document that verifies no other wallet.
    pub async fn submit_kyc(&self, person: PersonId, legal_name: &str, document_type: &str, document_number: &str) -> Result<i64> {
        let legal_name = parse_name("legal_name", legal_name, self.core.config.name_chars_max)?;
        let document = document_text(document_type, document_number)?;
        self.check_versions(person).await?;
        let (sealed, mac) = (self.core.seal(document.as_bytes()), self.core.mac("kyc-document", document.as_bytes()));
        let accepted = self.core.transaction(move |c| store::set_kyc(c, person, &legal_name, sealed.clone(), mac.clone())).await?;
        if !accepted {
            return Err(PlatformError::conflict(Conflict::DocumentInUse, "this identity document already verifies another wallet"));
        }
        self.forget_everywhere(person).await;
        Ok(self.person(person).await?.kyc_tier)
    }

    /// Tier 2 (or a downgrade): an operator has verified the person. A downgrade's lower limits hold at
    /// once, for what is left of the day and year.
    pub async fn set_kyc_tier(&self, person: PersonId, tier: i64) -> Result<i64> {
        self.set_tier_with(person, tier, None).await
    }

    /// An operator's change of a person's tier, in one transaction with its audit row.
    pub async fn set_kyc_tier_audited(&self, person: PersonId, tier: i64, audit: ::store::Effect) -> Result<i64> {
        self.set_tier_with(person, tier, Some(audit)).await
    }

    async fn set_tier_with(&self, person: PersonId, tier: i64, audit: Option<::store::Effect>) -> Result<i64> {
        if !(0..=2).contains(&tier) {
            return Err(PlatformError::invalid("tier", "0, 1 or 2"));
        }
        self.check_versions(person).await?;
        let set = self.core.transaction(move |c| {
            let set = store::set_tier(c, person, tier)?;
            if let (true, Some(audit)) = (set, &audit) {
                c.execute(audit.sql, &audit.params)?;
            }
            Ok(set)
        });
        if !set.await? {
            return Err(PlatformError::NotFound("person"));
        }
        self.forget_everywhere(person).await;
        Ok(tier)
    }

    async fn check_versions(&self, person: PersonId) -> Result<()> {
        self.forget(person);
        if self.person(person).await?.kyc_version >= KYC_VERSIONS_MAX {
            return Err(PlatformError::invalid(
                "tier",
                format!("this person's tier has changed {KYC_VERSIONS_MAX} times, the most it may"),
            ));
        }
        Ok(())
    }

    /// Seal identity documents older releases stored in clear (run at start, a bounded batch at a time).
    pub async fn seal_plain_documents(&self) -> Result<usize> {
        let mut sealed = 0;
        loop {
            let batch = self.core.read(|c| store::plain_documents(c, 500)).await?;
            if batch.is_empty() {
                return Ok(sealed);
            }
            for (person, document) in batch {
                let (s, m) = (self.core.seal(document.as_bytes()), self.core.mac("kyc-document", document.as_bytes()));
                self.core.transaction(move |c| store::seal_document(c, person, s.clone(), m.clone())).await?;
                sealed += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainland_resident_ids_check_their_last_character() {
        assert!(valid_cn_resident_id("11010519491231002X"));
        assert!(!valid_cn_resident_id("110105194912310029"));
        assert!(valid_cn_resident_id("440524188001010014"));
        assert!(!valid_cn_resident_id("44052418800101001"));
        assert!(!valid_cn_resident_id("4405241880010100AA"));
    }

    #[test]
    fn hong_kong_ids_check_their_last_character() {
        assert!(valid_hk_id("A123456(3)"));
        assert!(valid_hk_id("a1234563"));
        assert!(!valid_hk_id("A123456(4)"));
        assert!(!valid_hk_id("123456(3)"));
        assert!(!valid_hk_id("ABC123456(3)"));
    }

    #[test]
    fn documents_normalise_so_the_same_one_is_recognised() {
        assert_eq!(document_text("hk_id", " a123456(3) ").unwrap(), "hk_id:A1234563");
        assert!(document_text("cn_resident_id", "110105194912310029").is_err());
        assert!(document_text("licence", "x").is_err());
    }
}
