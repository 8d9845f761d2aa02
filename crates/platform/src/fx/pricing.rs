//! The arithmetic of an exchange, pure: what a payer pays for an amount, what a conversion buys, what
//! the markup earned, and what each partial refund gives back (reference: payments-standards.md §4.3
//! to §4.5). Rates are written with the bought currency as base: one unit bought costs `rate` sold.

use money::{Money, MoneyError, Rate, Rounding, div_round};

/// How a payment's amount in the payer's currency is rounded: up, so the payee is never short and the
/// payer pays less than one minor unit above the exact amount.
pub const PAYMENT_ROUNDING: Rounding = Rounding::Ceiling;
/// How a conversion's bought amount is rounded: down, so nobody is given more than was paid for.
pub const CONVERSION_ROUNDING: Rounding = Rounding::Down;
/// Customer rates carry eight fraction digits (WeChat Pay's `exchange_rate.rate` is rate × 10^8).
pub const CUSTOMER_RATE_SCALE: u8 = 8;

/// What buying exactly `buy` costs at `rate`, in the rate's quote currency.
pub fn cost_of(rate: &Rate, buy: Money) -> Result<Money, MoneyError> {
    rate.convert(buy, PAYMENT_ROUNDING)
}

/// What selling exactly `sell` buys at `rate`, in the rate's base currency.
pub fn proceeds_of(rate: &Rate, sell: Money) -> Result<Money, MoneyError> {
    rate.source_for_target(sell, CONVERSION_ROUNDING)
}

/// What the markup earned on an exchange, in the sold currency: what was paid less what `buy` is worth
/// at the reference rate.
pub fn spread_minor(mid: &Rate, buy: Money, sell: Money) -> Result<i64, MoneyError> {
    Ok(sell.minor() - mid.convert(buy, Rounding::HalfEven)?.minor())
}

/// The payer's share of a partial refund, at the original rate, computed on the cumulative amount so
/// the last refund closes exactly: `round_half_up(payer_total × refunded_after / total) −
/// payer_refunded_before`. All in minor units; `refunded_after` includes this refund.
pub fn payer_refund_minor(payer_total: i64, total: i64, refunded_after: i64, payer_refunded_before: i64) -> Result<i64, MoneyError> {
    assert!(0 < total && 0 < refunded_after && refunded_after <= total, "a refund is within its order");
    let cumulative = div_round(i128::from(payer_total) * i128::from(refunded_after), i128::from(total), Rounding::HalfUp)?;
    let share = i64::try_from(cumulative).map_err(|_| MoneyError::Overflow)? - payer_refunded_before;
    assert!(share >= 0 && payer_refunded_before + share <= payer_total, "refunds stay within what the payer paid");
    Ok(share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use money::Currency;
    use proptest::prelude::*;

    fn c(code: &str) -> Currency {
        Currency::from_code(code).unwrap()
    }

    /// 1 CNY = 1.0870 HKD, plus 50 basis points.
    fn customer() -> Rate {
        Rate::parse("1.0870", c("CNY"), c("HKD")).unwrap().with_markup_bps(50, CUSTOMER_RATE_SCALE, Rounding::Up).unwrap()
    }

    #[test]
    fn one_hundred_cny_at_1_0870_plus_50_bps_costs_109_25_hkd_of_which_0_55_is_spread() {
        let buy = Money::parse("100.00", c("CNY")).unwrap();
        let sell = cost_of(&customer(), buy).unwrap();
        assert_eq!(sell.to_decimal_string(), "109.25");
        let mid = Rate::parse("1.0870", c("CNY"), c("HKD")).unwrap();
        assert_eq!(spread_minor(&mid, buy, sell).unwrap(), 55);
    }

    #[test]
    fn refunds_of_30_30_40_cny_give_back_32_78_32_77_43_70_hkd() {
        let (payer_total, total) = (10_925, 10_000);
        let mut given = 0;
        let mut shares = Vec::new();
        for refunded_after in [3_000, 6_000, 10_000] {
            let share = payer_refund_minor(payer_total, total, refunded_after, given).unwrap();
            given += share;
            shares.push(share);
        }
        assert_eq!(shares, [3_278, 3_277, 4_370]);
        assert_eq!(given, payer_total, "the last refund closes exactly");
    }

    #[test]
    fn whole_yen_and_three_decimal_dinars_convert_with_both_exponents() {
        let jpy = Rate::parse("0.0478", c("JPY"), c("CNY")).unwrap(); // 1 JPY = 0.0478 CNY
        assert_eq!(cost_of(&jpy, Money::parse("1999", c("JPY")).unwrap()).unwrap().to_decimal_string(), "95.56");
        let kwd = Rate::parse("23.1", c("KWD"), c("CNY")).unwrap();
        assert_eq!(cost_of(&kwd, Money::parse("1.001", c("KWD")).unwrap()).unwrap().to_decimal_string(), "23.13");
        let back = Rate::parse("20.9", c("CNY"), c("JPY")).unwrap();
        assert_eq!(proceeds_of(&back, Money::parse("100", c("JPY")).unwrap()).unwrap().to_decimal_string(), "4.78");
    }

    proptest! {
        #[test]
        fn a_payer_is_never_charged_a_minor_unit_or_more_above_the_exact_amount(
            total in 1i64..1_000_000_000, mantissa in 1u64..10_000_000_000, bps in 0u32..500,
        ) {
            let mid = Rate::new(c("CNY"), c("HKD"), mantissa, 8).unwrap();
            let rate = mid.with_markup_bps(bps, CUSTOMER_RATE_SCALE, Rounding::Up).unwrap();
            let buy = Money::from_minor(total, c("CNY")).unwrap();
            let sell = cost_of(&rate, buy).unwrap();
            // exact = total × mantissa / 10^8 (both currencies have two decimals): 0 ≤ sell − exact < 1.
            let (scaled_sell, exact) = (i128::from(sell.minor()) * 100_000_000, i128::from(total) * i128::from(rate.mantissa()));
            prop_assert!(scaled_sell >= exact && scaled_sell - exact < 100_000_000);
        }

        #[test]
        fn partial_refunds_never_give_back_more_than_was_paid_and_the_last_closes_exactly(
            total in 1i64..10_000_000, payer_total in 1i64..20_000_000, cuts in proptest::collection::vec(1i64..1_000_000, 1..20),
        ) {
            let (mut refunded, mut given) = (0, 0);
            for cut in cuts {
                let refund = cut.min(total - refunded);
                if refund == 0 { break; }
                refunded += refund;
                let share = payer_refund_minor(payer_total, total, refunded, given).unwrap();
                prop_assert!(share >= 0);
                given += share;
                prop_assert!(given <= payer_total);
            }
            if refunded < total {
                given += payer_refund_minor(payer_total, total, total, given).unwrap();
            }
            prop_assert_eq!(given, payer_total);
        }
    }
}
