//! The countries Qianbao acquires merchants in: each with its ISO 3166 codes, the one currency its
//! merchants settle in, and the time zone their business day is counted in (IANA names, resolved by
//! `jiff`'s bundled time-zone database).

/// A country merchants may be onboarded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    pub alpha2: &'static str,
    /// ISO 3166-1 numeric, as WeChat Pay's global onboarding names countries ("344").
    pub numeric: &'static str,
    /// ISO 4217: the settlement currency.
    pub currency: &'static str,
    pub time_zone: &'static str,
}

const fn c(alpha2: &'static str, numeric: &'static str, currency: &'static str, time_zone: &'static str) -> Country {
    Country { alpha2, numeric, currency, time_zone }
}

/// WeChat Pay's cross-border settlement currencies and where they are used.
pub const COUNTRIES: &[Country] = &[
    c("CN", "156", "CNY", "Asia/Shanghai"),
    c("HK", "344", "HKD", "Asia/Hong_Kong"),
    c("MO", "446", "MOP", "Asia/Macau"),
    c("GB", "826", "GBP", "Europe/London"),
    c("US", "840", "USD", "America/New_York"),
    c("JP", "392", "JPY", "Asia/Tokyo"),
    c("CA", "124", "CAD", "America/Toronto"),
    c("AU", "036", "AUD", "Australia/Sydney"),
    c("NZ", "554", "NZD", "Pacific/Auckland"),
    c("KR", "410", "KRW", "Asia/Seoul"),
    c("TH", "764", "THB", "Asia/Bangkok"),
    c("SG", "702", "SGD", "Asia/Singapore"),
    c("CH", "756", "CHF", "Europe/Zurich"),
    c("SE", "752", "SEK", "Europe/Stockholm"),
    c("DK", "208", "DKK", "Europe/Copenhagen"),
    c("NO", "578", "NOK", "Europe/Oslo"),
    c("RU", "643", "RUB", "Europe/Moscow"),
    c("FR", "250", "EUR", "Europe/Paris"),
    c("DE", "276", "EUR", "Europe/Berlin"),
    c("IT", "380", "EUR", "Europe/Rome"),
    c("ES", "724", "EUR", "Europe/Madrid"),
    c("NL", "528", "EUR", "Europe/Amsterdam"),
    c("BE", "056", "EUR", "Europe/Brussels"),
    c("AT", "040", "EUR", "Europe/Vienna"),
    c("PT", "620", "EUR", "Europe/Lisbon"),
    c("IE", "372", "EUR", "Europe/Dublin"),
    c("FI", "246", "EUR", "Europe/Helsinki"),
    c("GR", "300", "EUR", "Europe/Athens"),
];

pub fn country(alpha2: &str) -> Option<Country> {
    COUNTRIES.iter().copied().find(|c| c.alpha2 == alpha2)
}

pub fn by_numeric(numeric: &str) -> Option<Country> {
    COUNTRIES.iter().copied().find(|c| c.numeric == numeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_has_a_money_currency_and_a_known_time_zone() {
        for c in COUNTRIES {
            let currency = money::Currency::from_code(c.currency).unwrap_or_else(|_| panic!("{}", c.currency));
            assert!(currency.minor_units().is_some(), "{}", c.alpha2);
            assert!(jiff::tz::TimeZone::get(c.time_zone).is_ok(), "{}: {}", c.alpha2, c.time_zone);
            assert_eq!(c.numeric.len(), 3);
        }
        assert_eq!(by_numeric("344").map(|c| c.alpha2), Some("HK"));
    }
}
