//! Linked cards: Luhn-checked, brand from the number, not expired; only the rail's token, the brand and
//! the last four digits are kept.

use super::{Card, Wallet, store};
use crate::{PersonId, PlatformError, Result, ids};

/// The brands accepted, as stored.
pub(crate) const BRANDS: &[&str] = &["visa", "mastercard", "amex", "jcb", "unionpay"];

/// Luhn check over ASCII digits.
pub fn luhn_valid(number: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in number.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// The card brand from the number's prefix (IIN ranges).
pub fn card_brand(number: &str) -> Option<&'static str> {
    let prefix = |n: usize| number.get(..n).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    let len = number.len();
    match () {
        _ if number.starts_with('4') && matches!(len, 13 | 16 | 19) => Some("visa"),
        _ if ((51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4))) && len == 16 => Some("mastercard"),
        _ if matches!(prefix(2), 34 | 37) && len == 15 => Some("amex"),
        _ if (3528..=3589).contains(&prefix(4)) && (16..=19).contains(&len) => Some("jcb"),
        _ if number.starts_with("62") && (16..=19).contains(&len) => Some("unionpay"),
        _ => None,
    }
}

impl Wallet {
    pub async fn add_card(&self, person: PersonId, number: &str, exp_month: i64, exp_year: i64) -> Result<Card> {
        let number: String = number.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PlatformError::invalid("number", "12 to 19 digits"));
        }
        if !luhn_valid(&number) {
            return Err(PlatformError::invalid("number", "not a valid card number (Luhn check failed)"));
        }
        let brand = card_brand(&number)
            .ok_or_else(|| PlatformError::invalid("number", "card brand not accepted (Visa, Mastercard, UnionPay, AmEx, JCB)"))?;
        if !(1..=12).contains(&exp_month) {
            return Err(PlatformError::invalid("exp_month", "1 to 12"));
        }
        let (year, month) = super::civil_year_month(self.core.now_ms());
        if !(2000..=2100).contains(&exp_year) || (exp_year, exp_month) < (year, month) {
            return Err(PlatformError::invalid("exp_year", "the card has expired"));
        }
        let last4 = number[number.len() - 4..].to_string();
        let token = self.rail(move |r| r.tokenize(&number)).await?;
        let now = self.core.now_ms();
        let card = Card { id: ids::object_id(now), brand, last4, exp_month, exp_year };
        let stored = card.clone();
        self.core.write(move |c| store::insert_card(c, person, &stored, &token, now)).await?;
        Ok(card)
    }

    pub async fn cards(&self, person: PersonId) -> Result<Vec<Card>> {
        self.core.read(move |c| store::cards(c, person)).await
    }

    /// Remove a linked card: it is never charged again, and a monthly donation it paid lapses at its next
    /// charge (its donor is told by the donation's state).
    pub async fn remove_card(&self, person: PersonId, card: i64) -> Result<()> {
        let now = self.core.now_ms();
        if !self.core.write(move |c| store::remove_card(c, person, card, now)).await? {
            return Err(PlatformError::NotFound("card"));
        }
        Ok(())
    }

    /// The rail token of a person's card to charge, unless the card is frozen (`CARD_FROZEN`).
    pub(crate) async fn card_token(&self, person: PersonId, card: i64) -> Result<String> {
        let token = self.core.read(move |c| store::card_token(c, person, card)).await?.ok_or(PlatformError::NotFound("card"))?;
        let frozen = crate::risk::freezes::FreezeKind::Card;
        crate::risk::freezes::refuse_if_frozen(&self.core, frozen, card.to_string(), crate::risk::Flow::Out).await?;
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_typos() {
        for (n, _) in crate::wallet::TestCard::NUMBERS {
            assert!(luhn_valid(n), "{n}");
        }
        assert!(!luhn_valid("4242424242424241"));
    }

    #[test]
    fn brands_come_from_the_prefix() {
        assert_eq!(card_brand("4242424242424242"), Some("visa"));
        assert_eq!(card_brand("5555555555554444"), Some("mastercard"));
        assert_eq!(card_brand("2223003122003222"), Some("mastercard"));
        assert_eq!(card_brand("378282246310005"), Some("amex"));
        assert_eq!(card_brand("3530111333300000"), Some("jcb"));
        assert_eq!(card_brand("6200000000000005"), Some("unionpay"));
        assert_eq!(card_brand("9999999999999995"), None);
    }
}
