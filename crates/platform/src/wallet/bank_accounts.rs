//! Linked bank accounts: a token from the rail's vault and the last four characters, never the number.

use super::{BankAccount, Wallet, store};
use crate::people::parse_name;
use crate::{PersonId, PlatformError, Result, ids};

impl Wallet {
    pub async fn add_bank_account(&self, person: PersonId, bank: &str, holder_name: &str, number: &str) -> Result<BankAccount> {
        let bank = parse_name("bank", bank, self.core.config.name_chars_max)?;
        let holder_name = parse_name("holder_name", holder_name, self.core.config.name_chars_max)?;
        let number: String = number.chars().filter(|c| *c != ' ' && *c != '-').collect::<String>().to_ascii_uppercase();
        if !(6..=34).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(PlatformError::invalid("number", "6 to 34 letters and digits (a bank account number or IBAN)"));
        }
        let last4 = number[number.len() - 4..].to_string();
        let token = self.rail(move |r| r.tokenize_bank_account(&number)).await?;
        let now = self.core.now_ms();
        let account = BankAccount { id: ids::object_id(now), bank, holder_name, last4 };
        let stored = account.clone();
        self.core.write(move |c| store::insert_bank_account(c, person, &stored, &token, now)).await?;
        Ok(account)
    }

    pub async fn bank_accounts(&self, person: PersonId) -> Result<Vec<BankAccount>> {
        self.core.read(move |c| store::bank_accounts(c, person)).await
    }
}
