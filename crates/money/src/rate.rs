//! FX rates and rounding.

use crate::{Currency, Money, MoneyError};
use std::fmt;

/// How a division that does not come out even is resolved. There is no default: every conversion
/// names its mode, so the choice (and who it favours) is visible where money is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Toward zero (truncate).
    Down,
    /// Away from zero.
    Up,
    /// Toward negative infinity.
    Floor,
    /// Toward positive infinity.
    Ceiling,
    /// To nearest, exact halves away from zero (what a customer expects on one amount).
    HalfUp,
    /// To nearest, exact halves to the even neighbour (banker's; no bias in aggregates).
    HalfEven,
}

/// `numerator / denominator` rounded as named. `denominator` must be positive.
pub fn div_round(numerator: i128, denominator: i128, rounding: Rounding) -> Result<i128, MoneyError> {
    if denominator <= 0 {
        return Err(MoneyError::DivisionByZero);
    }
    let quotient = numerator / denominator; // truncates toward zero
    let remainder = numerator % denominator; // same sign as numerator
    if remainder == 0 {
        return Ok(quotient);
    }
    let away = if numerator < 0 { quotient - 1 } else { quotient + 1 };
    let twice = remainder.unsigned_abs() * 2;
    let den = denominator.unsigned_abs();
    let result = match rounding {
        Rounding::Down => quotient,
        Rounding::Up => away,
        Rounding::Floor => {
            if numerator < 0 {
                away
            } else {
                quotient
            }
        }
        Rounding::Ceiling => {
            if numerator > 0 {
                away
            } else {
                quotient
            }
        }
        Rounding::HalfUp => {
            if twice >= den {
                away
            } else {
                quotient
            }
        }
        Rounding::HalfEven => {
            if twice > den || (twice == den && quotient % 2 != 0) {
                away
            } else {
                quotient
            }
        }
    };
    Ok(result)
}

/// An exchange rate: one unit (major) of `base` is worth `mantissa / 10^scale` units (major) of `quote`.
/// Stored exactly as quoted; an inverse is never derived and rounded (EU Reg. 1103/97 art. 4): ask for
/// [`Rate::source_for_target`] instead.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    base: Currency,
    quote: Currency,
    mantissa: u64,
    scale: u8,
}

impl Rate {
    /// At most this many fraction digits in a rate.
    pub const SCALE_MAX: u8 = 12;

    pub fn new(base: Currency, quote: Currency, mantissa: u64, scale: u8) -> Result<Rate, MoneyError> {
        for c in [base, quote] {
            c.minor_units().ok_or(MoneyError::NotAMoneyCurrency(c))?;
        }
        if mantissa == 0 || scale > Rate::SCALE_MAX {
            return Err(MoneyError::InvalidRate(format!("{mantissa}e-{scale}")));
        }
        Ok(Rate { base, quote, mantissa, scale })
    }

    /// Parse a positive decimal such as "0.9154" as `quote` per one `base`.
    pub fn parse(text: &str, base: Currency, quote: Currency) -> Result<Rate, MoneyError> {
        let invalid = || MoneyError::InvalidRate(text.chars().take(40).collect());
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) || (text.contains('.') && fraction.is_empty()) {
            return Err(invalid());
        }
        let scale = u8::try_from(fraction.len()).map_err(|_| invalid())?;
        if scale > Rate::SCALE_MAX {
            return Err(invalid());
        }
        let mantissa: u64 = format!("{whole}{fraction}").parse().map_err(|_| invalid())?;
        Rate::new(base, quote, mantissa, scale).map_err(|_| invalid())
    }

    pub fn base(&self) -> Currency {
        self.base
    }

    pub fn quote(&self) -> Currency {
        self.quote
    }

    /// The rate's digits: it is `mantissa / 10^scale` units of `quote` per unit of `base`.
    pub fn mantissa(&self) -> u64 {
        self.mantissa
    }

    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// The same rate written with `scale` fraction digits, rounding as named (never to zero).
    pub fn rounded(&self, scale: u8, rounding: Rounding) -> Result<Rate, MoneyError> {
        let value = i128::from(self.mantissa);
        let mantissa = if scale >= self.scale {
            value.checked_mul(10i128.pow(u32::from(scale - self.scale))).ok_or(MoneyError::Overflow)?
        } else {
            div_round(value, 10i128.pow(u32::from(self.scale - scale)), rounding)?
        };
        Rate::new(self.base, self.quote, u64::try_from(mantissa).map_err(|_| MoneyError::Overflow)?, scale)
    }

    /// This rate with a markup of `bps` basis points on top (`rate × (10000 + bps) / 10000`), written with
    /// `scale` fraction digits and rounded once, as named.
    pub fn with_markup_bps(&self, bps: u32, scale: u8, rounding: Rounding) -> Result<Rate, MoneyError> {
        if scale > Rate::SCALE_MAX {
            return Err(MoneyError::InvalidRate(format!("scale {scale}")));
        }
        let numerator = i128::from(self.mantissa)
            .checked_mul(10_000 + i128::from(bps))
            .and_then(|n| n.checked_mul(10i128.pow(u32::from(scale))))
            .ok_or(MoneyError::Overflow)?;
        let denominator = 10_000 * 10i128.pow(u32::from(self.scale));
        let mantissa = div_round(numerator, denominator, rounding)?;
        Rate::new(self.base, self.quote, u64::try_from(mantissa).map_err(|_| MoneyError::Overflow)?, scale)
    }

    /// The cross rate `base → quote` from two rates that share their base (the pivot): `pivot → quote`
    /// divided by `pivot → base`, written with `scale` digits and rounded once. Both legs are published
    /// rates; nothing is inverted and rounded on its own.
    pub fn cross(pivot_to_base: &Rate, pivot_to_quote: &Rate, scale: u8, rounding: Rounding) -> Result<Rate, MoneyError> {
        if pivot_to_base.base != pivot_to_quote.base {
            return Err(MoneyError::CurrencyMismatch { left: pivot_to_base.base, right: pivot_to_quote.base });
        }
        if scale > Rate::SCALE_MAX {
            return Err(MoneyError::InvalidRate(format!("scale {scale}")));
        }
        // (q / 10^sq) / (b / 10^sb) written with `scale` digits: q × 10^(sb + scale) / (b × 10^sq).
        let numerator = i128::from(pivot_to_quote.mantissa)
            .checked_mul(10i128.pow(u32::from(pivot_to_base.scale) + u32::from(scale)))
            .ok_or(MoneyError::Overflow)?;
        let denominator =
            i128::from(pivot_to_base.mantissa).checked_mul(10i128.pow(u32::from(pivot_to_quote.scale))).ok_or(MoneyError::Overflow)?;
        let mantissa = div_round(numerator, denominator, rounding)?;
        Rate::new(pivot_to_base.quote, pivot_to_quote.quote, u64::try_from(mantissa).map_err(|_| MoneyError::Overflow)?, scale)
    }

    /// The rate times 10^8 as an integer (WeChat Pay's `exchange_rate.rate`), when that is exact.
    pub fn per_1e8(&self) -> Option<u64> {
        (self.scale <= 8).then(|| self.mantissa.checked_mul(10u64.pow(u32::from(8 - self.scale)))).flatten()
    }

    /// The decimal alone ("1.09243500"), as it is written with its scale.
    pub fn decimal(&self) -> String {
        if self.scale == 0 {
            return self.mantissa.to_string();
        }
        let scale = 10u64.pow(u32::from(self.scale));
        format!("{}.{:0w$}", self.mantissa / scale, self.mantissa % scale, w = usize::from(self.scale))
    }

    /// Scale factors so that `quote_minor = base_minor * num / den` exactly.
    fn factors(&self) -> Result<(i128, i128), MoneyError> {
        let e_base = u32::from(self.base.minor_units().unwrap_or(0));
        let e_quote = u32::from(self.quote.minor_units().unwrap_or(0));
        let num = i128::from(self.mantissa).checked_mul(10i128.pow(e_quote)).ok_or(MoneyError::Overflow)?;
        let den = 10i128.pow(u32::from(self.scale) + e_base);
        Ok((num, den))
    }

    /// Convert an amount of `base` into `quote` at this rate, rounding as named.
    pub fn convert(&self, amount: Money, rounding: Rounding) -> Result<Money, MoneyError> {
        if amount.currency() != self.base {
            return Err(MoneyError::CurrencyMismatch { left: amount.currency(), right: self.base });
        }
        let (num, den) = self.factors()?;
        let product = i128::from(amount.minor()).checked_mul(num).ok_or(MoneyError::Overflow)?;
        let minor = i64::try_from(div_round(product, den, rounding)?).map_err(|_| MoneyError::Overflow)?;
        Money::from_minor(minor, self.quote)
    }

    /// How much `base` buys exactly `target` of `quote` at this rate, rounding as named
    /// (`Rounding::Ceiling` never leaves the payee short).
    pub fn source_for_target(&self, target: Money, rounding: Rounding) -> Result<Money, MoneyError> {
        if target.currency() != self.quote {
            return Err(MoneyError::CurrencyMismatch { left: target.currency(), right: self.quote });
        }
        let (num, den) = self.factors()?;
        let product = i128::from(target.minor()).checked_mul(den).ok_or(MoneyError::Overflow)?;
        let minor = i64::try_from(div_round(product, num, rounding)?).map_err(|_| MoneyError::Overflow)?;
        Money::from_minor(minor, self.base)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = 10u64.pow(u32::from(self.scale));
        if self.scale == 0 {
            write!(f, "1 {} = {} {}", self.base, self.mantissa, self.quote)
        } else {
            let (whole, frac) = (self.mantissa / scale, self.mantissa % scale);
            write!(f, "1 {} = {whole}.{frac:0w$} {}", self.base, self.quote, w = usize::from(self.scale))
        }
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::from_code(code).unwrap()
    }

    #[test]
    fn div_round_covers_every_mode() {
        use Rounding::*;
        let cases: [(i128, i128, Rounding, i128); 16] = [
            (25, 10, HalfUp, 3),
            (25, 10, HalfEven, 2),
            (35, 10, HalfEven, 4),
            (-25, 10, HalfUp, -3),
            (-25, 10, HalfEven, -2),
            (21, 10, Up, 3),
            (21, 10, Down, 2),
            (-21, 10, Up, -3),
            (-21, 10, Down, -2),
            (-21, 10, Floor, -3),
            (-21, 10, Ceiling, -2),
            (21, 10, Floor, 2),
            (21, 10, Ceiling, 3),
            (24, 10, HalfUp, 2),
            (26, 10, HalfEven, 3),
            (20, 10, Up, 2),
        ];
        for (n, d, mode, want) in cases {
            assert_eq!(div_round(n, d, mode).unwrap(), want, "{n}/{d} {mode:?}");
        }
        assert_eq!(div_round(1, 0, HalfUp), Err(MoneyError::DivisionByZero));
    }

    #[test]
    fn hkd_for_exactly_one_hundred_cny_matches_the_reference_example() {
        // shared/reference/payments-standards.md 4.3: 1 HKD = 0.9154 CNY, merchant gets 100.00 CNY.
        let rate = Rate::parse("0.9154", c("HKD"), c("CNY")).unwrap();
        let target = Money::parse("100.00", c("CNY")).unwrap();
        assert_eq!(rate.source_for_target(target, Rounding::HalfUp).unwrap().minor(), 10924);
        assert_eq!(rate.source_for_target(target, Rounding::Ceiling).unwrap().minor(), 10925);
    }

    #[test]
    fn conversion_respects_both_exponents() {
        // 1 USD = 156.25 JPY: 10.01 USD -> 1564.0625 JPY.
        let rate = Rate::parse("156.25", c("USD"), c("JPY")).unwrap();
        let usd = Money::parse("10.01", c("USD")).unwrap();
        assert_eq!(rate.convert(usd, Rounding::Down).unwrap().minor(), 1564);
        // 1 KWD = 3.25 USD: 1.234 KWD -> 4.0105 USD.
        let rate = Rate::parse("3.25", c("KWD"), c("USD")).unwrap();
        let kwd = Money::parse("1.234", c("KWD")).unwrap();
        assert_eq!(rate.convert(kwd, Rounding::HalfEven).unwrap().minor(), 401);
        assert_eq!(rate.convert(kwd, Rounding::HalfUp).unwrap().minor(), 401);
        assert_eq!(rate.convert(kwd, Rounding::Up).unwrap().minor(), 402);
    }

    #[test]
    fn bad_rates_and_mismatched_currencies_are_refused() {
        for bad in ["", "0", "0.0", "-1", "1.", ".5", "1e3", "1.0000000000001", "abc"] {
            assert!(Rate::parse(bad, c("HKD"), c("CNY")).is_err(), "{bad:?}");
        }
        let rate = Rate::parse("0.92", c("HKD"), c("CNY")).unwrap();
        let cny = Money::parse("1", c("CNY")).unwrap();
        assert!(matches!(rate.convert(cny, Rounding::HalfUp), Err(MoneyError::CurrencyMismatch { .. })));
        assert!(Rate::parse("1", c("XAU"), c("CNY")).is_err());
    }

    #[test]
    fn a_markup_in_basis_points_is_exact_before_the_one_rounding() {
        let mid = Rate::parse("1.0870", c("CNY"), c("HKD")).unwrap();
        let customer = mid.with_markup_bps(50, 8, Rounding::Up).unwrap();
        assert_eq!(customer.decimal(), "1.09243500");
        assert_eq!(customer.per_1e8(), Some(109_243_500));
        let cny = Money::parse("100.00", c("CNY")).unwrap();
        assert_eq!(customer.convert(cny, Rounding::Ceiling).unwrap().to_decimal_string(), "109.25");
        assert_eq!(mid.with_markup_bps(0, 4, Rounding::Up).unwrap(), mid);
    }

    #[test]
    fn a_cross_rate_through_the_pivot_divides_two_published_legs() {
        // ECB: 1 EUR = 7.6543 CNY and 1 EUR = 8.4321 HKD, so 1 CNY = 8.4321 / 7.6543 HKD.
        let eur_cny = Rate::parse("7.6543", c("EUR"), c("CNY")).unwrap();
        let eur_hkd = Rate::parse("8.4321", c("EUR"), c("HKD")).unwrap();
        let cny_hkd = Rate::cross(&eur_cny, &eur_hkd, 8, Rounding::HalfEven).unwrap();
        assert_eq!((cny_hkd.base(), cny_hkd.quote()), (c("CNY"), c("HKD")));
        assert_eq!(cny_hkd.decimal(), "1.10161609");
        assert!(
            Rate::cross(&eur_cny, &Rate::parse("1.1", c("USD"), c("HKD")).unwrap(), 8, Rounding::HalfEven).is_err(),
            "legs must share the pivot"
        );
    }

    #[test]
    fn a_rate_rounds_to_fewer_digits_and_writes_its_decimal() {
        let r = Rate::parse("1.234567891", c("USD"), c("CNY")).unwrap();
        assert_eq!(r.rounded(4, Rounding::HalfUp).unwrap().decimal(), "1.2346");
        assert_eq!(r.rounded(10, Rounding::HalfUp).unwrap().decimal(), "1.2345678910");
        assert_eq!(r.per_1e8(), None, "nine digits do not fit 10^8 exactly");
        assert_eq!(Rate::parse("156", c("USD"), c("JPY")).unwrap().decimal(), "156");
    }

    #[test]
    fn huge_conversions_report_overflow() {
        let rate = Rate::parse("99999999.99", c("USD"), c("JPY")).unwrap();
        let usd = Money::from_minor(i64::MAX, c("USD")).unwrap();
        assert_eq!(rate.convert(usd, Rounding::HalfUp), Err(MoneyError::Overflow));
    }
}
