//! ISO 4217 currencies, loaded once from `data/iso4217.tsv`.

use crate::MoneyError;
use std::fmt;
use std::sync::LazyLock;

/// One row of the ISO 4217 table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyInfo {
    pub code: &'static str,
    pub numeric: u16,
    /// `None` for units that are not money (XAU, XDR, XTS, XXX ...).
    pub minor_units: Option<u8>,
    pub name: &'static str,
}

struct Table {
    by_code: Vec<CurrencyInfo>,
    /// Index into `by_code` for every numeric code 0..=999, `u16::MAX` when unassigned.
    by_numeric: Vec<u16>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| parse_table(include_str!("../data/iso4217.tsv")));

fn parse_table(text: &'static str) -> Table {
    let mut by_code = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let fields: Vec<&'static str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "iso4217.tsv: bad line {line:?}");
        let code = fields[0];
        assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()), "iso4217.tsv: bad code {code:?}");
        let numeric: u16 = fields[1].parse().expect("iso4217.tsv: numeric code");
        assert!(numeric <= 999);
        let minor_units = match fields[2] {
            "-" => None,
            digits => Some(digits.parse::<u8>().expect("iso4217.tsv: minor units")),
        };
        by_code.push(CurrencyInfo { code, numeric, minor_units, name: fields[3] });
    }
    by_code.sort_by_key(|c| c.code);
    let mut by_numeric = vec![u16::MAX; 1000];
    for (index, info) in by_code.iter().enumerate() {
        assert_eq!(by_numeric[usize::from(info.numeric)], u16::MAX, "iso4217.tsv: duplicate numeric {}", info.numeric);
        by_numeric[usize::from(info.numeric)] = index as u16;
    }
    assert!(by_code.windows(2).all(|w| w[0].code < w[1].code), "iso4217.tsv: duplicate code");
    Table { by_code, by_numeric }
}

/// A handle on an active ISO 4217 currency: two bytes (its numeric code), `Copy`, and always valid,
/// because the only ways to make one look it up in the table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(u16);

impl Currency {
    /// Look up an alphabetic code ("CNY"). Case-sensitive, as ISO codes are upper case.
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        let table = &*TABLE;
        table
            .by_code
            .binary_search_by(|c| c.code.cmp(code))
            .map(|i| Currency(table.by_code[i].numeric))
            .map_err(|_| MoneyError::UnknownCurrency(code.chars().take(8).collect()))
    }

    /// Look up a numeric code (156 for CNY).
    pub fn from_numeric(numeric: u16) -> Result<Currency, MoneyError> {
        match TABLE.by_numeric.get(usize::from(numeric)) {
            Some(&index) if index != u16::MAX => Ok(Currency(numeric)),
            _ => Err(MoneyError::UnknownCurrency(format!("{numeric:03}"))),
        }
    }

    pub fn info(self) -> &'static CurrencyInfo {
        let table = &*TABLE;
        &table.by_code[usize::from(table.by_numeric[usize::from(self.0)])]
    }

    pub fn code(self) -> &'static str {
        self.info().code
    }

    pub fn numeric(self) -> u16 {
        self.0
    }

    /// ISO 4217 exponent: 2 for CNY, 0 for JPY, 3 for KWD, 4 for CLF, `None` for XAU.
    pub fn minor_units(self) -> Option<u8> {
        self.info().minor_units
    }

    /// Every currency in the table, in alphabetical order.
    pub fn all() -> impl Iterator<Item = Currency> {
        TABLE.by_code.iter().map(|c| Currency(c.numeric))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_exponents_match_iso_4217() {
        for (code, numeric, units) in [
            ("CNY", 156, Some(2)),
            ("HKD", 344, Some(2)),
            ("JPY", 392, Some(0)),
            ("KRW", 410, Some(0)),
            ("KWD", 414, Some(3)),
            ("BHD", 48, Some(3)),
            ("CLF", 990, Some(4)),
            ("UYW", 927, Some(4)),
            ("VND", 704, Some(0)),
            ("XAU", 959, None),
            ("XCG", 532, Some(2)),
        ] {
            let c = Currency::from_code(code).unwrap();
            assert_eq!((c.numeric(), c.minor_units()), (numeric, units), "{code}");
            assert_eq!(Currency::from_numeric(numeric).unwrap(), c);
        }
    }

    #[test]
    fn the_table_covers_the_active_list() {
        assert!(Currency::all().count() >= 175);
        let wechat_settlement = "GBP HKD USD JPY CAD AUD EUR NZD KRW THB SGD RUB CHF SEK DKK NOK AED TRY MOP TWD CZK MYR PHP IDR MNT QAR HUF KHR ISK PLN RON VND KZT AZN KGS FJD AMD";
        for code in wechat_settlement.split(' ') {
            assert!(Currency::from_code(code).unwrap().minor_units().is_some(), "{code}");
        }
    }

    #[test]
    fn unknown_and_withdrawn_codes_are_rejected() {
        for code in ["", "cny", "CNYY", "ABC", "HRK", "ZWL", "元"] {
            assert!(matches!(Currency::from_code(code), Err(MoneyError::UnknownCurrency(_))), "{code}");
        }
        assert!(Currency::from_numeric(0).is_err());
        assert!(Currency::from_numeric(1000).is_err());
    }
}
