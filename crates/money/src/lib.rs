//! Exact money for Qianbao.
//!
//! - [`Currency`]: every active ISO 4217 currency (alphabetic code, numeric code, minor units), loaded
//!   from `data/iso4217.tsv` so an ISO amendment is a data change, not a code change.
//! - [`Money`]: an amount in integer minor units of one currency. Arithmetic is checked: there is no
//!   `+` operator, only [`Money::checked_add`] and friends, which return [`MoneyError::Overflow`]
//!   instead of wrapping.
//! - Parsing and formatting of decimal strings per currency: `"12.345"` is an error for CNY (two minor
//!   units) and fine for KWD (three).
//! - [`Rate`]: an FX rate "quote per one base" as an exact decimal, and conversions whose
//!   [`Rounding`] mode is named at every call site.
//!
//! Pure: no I/O, no floats anywhere.

mod currency;
mod rate;

pub use currency::{Currency, CurrencyInfo};
pub use rate::{Rate, Rounding, div_round};

use std::fmt;

/// Why a money operation was refused. Every variant is something a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// The code is not an active ISO 4217 currency (or not three ASCII letters).
    UnknownCurrency(String),
    /// The currency has no minor unit (gold, SDR, test code ...) and cannot hold money.
    NotAMoneyCurrency(Currency),
    /// Two amounts of different currencies were combined.
    CurrencyMismatch { left: Currency, right: Currency },
    /// The result does not fit in the amount range ([`Money::MINOR_MAX`]).
    Overflow,
    /// The decimal string is malformed (empty, stray characters, several points, sign where none is allowed).
    Malformed(String),
    /// The decimal string has more fraction digits than the currency's minor units.
    TooManyDecimals { currency: Currency, digits: usize },
    /// A quantity that must be positive was zero or negative.
    NotPositive,
    /// A rate of zero, or with more than [`Rate::SCALE_MAX`] fraction digits.
    InvalidRate(String),
    /// Division by zero in an allocation or conversion.
    DivisionByZero,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::UnknownCurrency(c) => write!(f, "unknown currency code {c:?} (expected an active ISO 4217 code such as CNY)"),
            MoneyError::NotAMoneyCurrency(c) => {
                write!(f, "{c} has no minor unit and cannot hold money")
            }
            MoneyError::CurrencyMismatch { left, right } => {
                write!(f, "currency mismatch: {left} and {right}")
            }
            MoneyError::Overflow => write!(f, "amount out of range (at most {} minor units)", Money::MINOR_MAX),
            MoneyError::Malformed(s) => write!(f, "malformed amount {s:?} (expected digits with an optional decimal point, e.g. 12.34)"),
            MoneyError::TooManyDecimals { currency, digits } => {
                write!(f, "{currency} allows {} decimal places, got {digits}", currency.minor_units().unwrap_or(0))
            }
            MoneyError::NotPositive => write!(f, "amount must be greater than zero"),
            MoneyError::InvalidRate(s) => write!(f, "invalid rate {s:?}"),
            MoneyError::DivisionByZero => write!(f, "division by zero"),
        }
    }
}

impl std::error::Error for MoneyError {}

/// An exact amount of one currency in integer minor units (fen, cents, yen ...). May be negative
/// (a balance, a net position); use [`Money::parse_positive`] where only a positive amount makes sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// The largest magnitude an amount may have. Kept below `i64::MAX` so that every stored amount fits a
    /// signed 64-bit database column on both SQLite and PostgreSQL, and the negation of any amount exists.
    pub const MINOR_MAX: i64 = i64::MAX;

    /// An amount of `minor` minor units. Fails for currencies without minor units.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        if currency.minor_units().is_none() {
            return Err(MoneyError::NotAMoneyCurrency(currency));
        }
        if minor == i64::MIN {
            return Err(MoneyError::Overflow);
        }
        Ok(Money { minor, currency })
    }

    pub fn zero(currency: Currency) -> Result<Money, MoneyError> {
        Money::from_minor(0, currency)
    }

    /// `major` whole units (a limit of 500 CNY is 50,000 fen), checked.
    pub fn from_major(major: i64, currency: Currency) -> Result<Money, MoneyError> {
        let units = currency.minor_units().ok_or(MoneyError::NotAMoneyCurrency(currency))?;
        let minor = major.checked_mul(10i64.pow(u32::from(units))).ok_or(MoneyError::Overflow)?;
        Money::from_minor(minor, currency)
    }

    /// The amount as a ledger transfer's (unsigned) amount: the one conversion from a signed amount to
    /// the ledger's, refusing a negative one.
    pub fn ledger_amount(self) -> Result<u64, MoneyError> {
        u64::try_from(self.minor).map_err(|_| MoneyError::NotPositive)
    }

    pub fn minor(self) -> i64 {
        self.minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn is_positive(self) -> bool {
        self.minor > 0
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency })
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self.minor.checked_add(other.minor).ok_or(MoneyError::Overflow)?;
        Money::from_minor(minor, self.currency)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self.minor.checked_sub(other.minor).ok_or(MoneyError::Overflow)?;
        Money::from_minor(minor, self.currency)
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        Money::from_minor(self.minor.checked_neg().ok_or(MoneyError::Overflow)?, self.currency)
    }

    /// Multiply by `numerator / denominator` (a fee rate in basis points is `bps / 10_000`), rounding as named.
    pub fn mul_ratio(self, numerator: u64, denominator: u64, rounding: Rounding) -> Result<Money, MoneyError> {
        if denominator == 0 {
            return Err(MoneyError::DivisionByZero);
        }
        let product = i128::from(self.minor) * i128::from(numerator);
        let quotient = div_round(product, i128::from(denominator), rounding)?;
        let minor = i64::try_from(quotient).map_err(|_| MoneyError::Overflow)?;
        Money::from_minor(minor, self.currency)
    }

    /// Split into `parts` amounts that differ by at most one minor unit and sum exactly to `self`
    /// (largest remainder: the first `self % parts` parts get one unit more).
    pub fn allocate_evenly(self, parts: u32) -> Result<Vec<Money>, MoneyError> {
        if parts == 0 {
            return Err(MoneyError::DivisionByZero);
        }
        let n = i64::from(parts);
        let (base, remainder) = (self.minor / n, self.minor % n);
        let out: Vec<Money> = (0..n)
            .map(|i| Money { minor: base + if i < remainder.abs() { remainder.signum() } else { 0 }, currency: self.currency })
            .collect();
        debug_assert_eq!(out.iter().map(|m| i128::from(m.minor)).sum::<i128>(), i128::from(self.minor));
        Ok(out)
    }

    /// Parse a decimal string in major units ("12.34", "-0.5", "100") for `currency`. At most as many
    /// fraction digits as the currency has minor units; no exponent, no thousands separators, no spaces.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let units = currency.minor_units().ok_or(MoneyError::NotAMoneyCurrency(currency))?;
        let malformed = || MoneyError::Malformed(text.chars().take(40).collect());
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, fraction) = match body.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (body, None),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) {
            return Err(malformed());
        }
        let fraction = match fraction {
            Some(f) if f.is_empty() || !all_digits(f) => return Err(malformed()),
            Some(f) => f,
            None => "",
        };
        if fraction.len() > usize::from(units) {
            return Err(MoneyError::TooManyDecimals { currency, digits: fraction.len() });
        }
        let mut minor: i64 = 0;
        let padded = fraction.bytes().chain(std::iter::repeat_n(b'0', usize::from(units) - fraction.len()));
        for digit in whole.bytes().chain(padded) {
            minor = minor.checked_mul(10).and_then(|m| m.checked_add(i64::from(digit - b'0'))).ok_or(MoneyError::Overflow)?;
        }
        Money::from_minor(if negative { -minor } else { minor }, currency)
    }

    /// [`Money::parse`], then require the amount to be greater than zero.
    pub fn parse_positive(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let money = Money::parse(text, currency)?;
        if money.minor <= 0 {
            return Err(MoneyError::NotPositive);
        }
        Ok(money)
    }

    /// The amount as a decimal string in major units, with exactly the currency's minor units: "12.30".
    pub fn to_decimal_string(self) -> String {
        let units = u32::from(self.currency.minor_units().unwrap_or(0));
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        if units == 0 {
            return format!("{sign}{magnitude}");
        }
        let scale = 10u64.pow(units);
        format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale, width = units as usize)
    }
}

/// "CNY 12.30"
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.to_decimal_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::from_code("CNY").unwrap()
    }

    #[test]
    fn parse_accepts_up_to_the_currency_minor_units() {
        assert_eq!(Money::parse("12.34", cny()).unwrap().minor(), 1234);
        assert_eq!(Money::parse("12.3", cny()).unwrap().minor(), 1230);
        assert_eq!(Money::parse("12", cny()).unwrap().minor(), 1200);
        assert_eq!(Money::parse("-0.05", cny()).unwrap().minor(), -5);
    }

    #[test]
    fn parse_rejects_more_decimals_than_the_currency_has() {
        assert_eq!(Money::parse("12.345", cny()), Err(MoneyError::TooManyDecimals { currency: cny(), digits: 3 }));
        let jpy = Currency::from_code("JPY").unwrap();
        assert!(matches!(Money::parse("1.5", jpy), Err(MoneyError::TooManyDecimals { .. })));
        let kwd = Currency::from_code("KWD").unwrap();
        assert_eq!(Money::parse("12.345", kwd).unwrap().minor(), 12345);
        let clf = Currency::from_code("CLF").unwrap();
        assert_eq!(Money::parse("1.2345", clf).unwrap().minor(), 12345);
    }

    #[test]
    fn parse_rejects_malformed_strings() {
        for bad in ["", ".", "1.", ".5", "1.2.3", "1e3", " 1", "1 ", "1,000", "--1", "0x10", "１", "+-1"] {
            assert!(matches!(Money::parse(bad, cny()), Err(MoneyError::Malformed(_))), "{bad:?}");
        }
    }

    #[test]
    fn parse_rejects_overflow() {
        assert_eq!(Money::parse("92233720368547758.08", cny()), Err(MoneyError::Overflow));
        assert_eq!(Money::parse("92233720368547758.07", cny()).unwrap().minor(), i64::MAX);
        assert_eq!(Money::parse("99999999999999999999999", cny()), Err(MoneyError::Overflow));
    }

    #[test]
    fn parse_positive_rejects_zero_and_negative() {
        assert_eq!(Money::parse_positive("0.00", cny()), Err(MoneyError::NotPositive));
        assert_eq!(Money::parse_positive("-1", cny()), Err(MoneyError::NotPositive));
    }

    #[test]
    fn currencies_without_minor_units_cannot_hold_money() {
        let xau = Currency::from_code("XAU").unwrap();
        assert_eq!(Money::parse("1", xau), Err(MoneyError::NotAMoneyCurrency(xau)));
        assert_eq!(Money::from_minor(1, xau), Err(MoneyError::NotAMoneyCurrency(xau)));
    }

    #[test]
    fn formatting_pads_to_the_minor_units() {
        assert_eq!(Money::from_minor(1230, cny()).unwrap().to_string(), "CNY 12.30");
        assert_eq!(Money::from_minor(-5, cny()).unwrap().to_decimal_string(), "-0.05");
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(Money::from_minor(500, jpy).unwrap().to_decimal_string(), "500");
        let bhd = Currency::from_code("BHD").unwrap();
        assert_eq!(Money::from_minor(1, bhd).unwrap().to_decimal_string(), "0.001");
    }

    #[test]
    fn arithmetic_refuses_overflow_and_mixed_currencies() {
        let max = Money::from_minor(i64::MAX, cny()).unwrap();
        let one = Money::from_minor(1, cny()).unwrap();
        assert_eq!(max.checked_add(one), Err(MoneyError::Overflow));
        let min = Money::from_minor(-i64::MAX, cny()).unwrap();
        assert_eq!(min.checked_sub(one), Err(MoneyError::Overflow));
        assert_eq!(Money::from_minor(i64::MIN, cny()), Err(MoneyError::Overflow));
        let usd = Money::from_minor(1, Currency::from_code("USD").unwrap()).unwrap();
        assert!(matches!(one.checked_add(usd), Err(MoneyError::CurrencyMismatch { .. })));
    }

    #[test]
    fn fee_in_basis_points_rounds_as_named() {
        let amount = Money::from_minor(1001, cny()).unwrap(); // 10.01 at 60 bps = 6.006 fen
        assert_eq!(amount.mul_ratio(60, 10_000, Rounding::HalfUp).unwrap().minor(), 6);
        assert_eq!(amount.mul_ratio(60, 10_000, Rounding::Ceiling).unwrap().minor(), 7);
        assert_eq!(amount.mul_ratio(60, 10_000, Rounding::Floor).unwrap().minor(), 6);
    }

    proptest::proptest! {
        #[test]
        fn parse_inverts_format(minor in -i64::MAX..=i64::MAX, code in proptest::sample::select(vec!["CNY", "JPY", "KWD", "CLF", "USD"])) {
            let currency = Currency::from_code(code).unwrap();
            let money = Money::from_minor(minor, currency).unwrap();
            proptest::prop_assert_eq!(Money::parse(&money.to_decimal_string(), currency).unwrap(), money);
        }

        #[test]
        fn allocation_sums_to_the_whole(minor in -1_000_000_000i64..1_000_000_000, parts in 1u32..500) {
            let money = Money::from_minor(minor, cny()).unwrap();
            let shares = money.allocate_evenly(parts).unwrap();
            proptest::prop_assert_eq!(shares.len(), parts as usize);
            proptest::prop_assert_eq!(shares.iter().map(|m| m.minor()).sum::<i64>(), minor);
            let (lo, hi) = (shares.iter().map(|m| m.minor()).min().unwrap(), shares.iter().map(|m| m.minor()).max().unwrap());
            proptest::prop_assert!(hi - lo <= 1);
        }
    }
}
