//! Drawing a lucky packet's shares when it is made ("double average"), so a claim is O(1).

/// Draw `n` shares of `total` minor units for a lucky packet: each share uniform in
/// [lo, min(2 × remaining average, what the rest can spare, cap)], the last takes the rest; every share
/// lies in [`min`, `cap`] and the shares sum to `total` exactly. `random_in(lo, hi)` is uniform on lo..=hi.
pub fn draw_lucky_shares(total: i64, n: i64, min: i64, cap: i64, mut random_in: impl FnMut(i64, i64) -> i64) -> Vec<i64> {
    assert!(n >= 1 && min >= 1 && n * min <= total && total <= n.saturating_mul(cap), "feasible: n*min <= total <= n*cap");
    let mut shares = Vec::with_capacity(n as usize);
    let mut remaining = total;
    for left in (2..=n).rev() {
        let hi = (2 * remaining / left - 1).min(remaining - min * (left - 1)).min(cap);
        let lo = min.max(remaining - cap * (left - 1));
        let x = if hi < lo { lo } else { random_in(lo, hi) };
        shares.push(x);
        remaining -= x;
    }
    shares.push(remaining);
    debug_assert_eq!(shares.iter().sum::<i64>(), total);
    debug_assert!(shares.iter().all(|s| (min..=cap).contains(s)));
    shares
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn lucky_shares_are_exact_and_bounded(total in 1i64..2_000_000, n in 1i64..=100, seed in any::<u64>()) {
            prop_assume!(total >= n);
            let cap = 20_000.max((total + n - 1) / n);
            prop_assume!(total <= n * cap);
            let mut state = seed;
            let random = |lo: i64, hi: i64| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                lo + ((state >> 33) % ((hi - lo) as u64 + 1)) as i64
            };
            let shares = draw_lucky_shares(total, n, 1, cap, random);
            prop_assert_eq!(shares.len() as i64, n);
            prop_assert_eq!(shares.iter().sum::<i64>(), total);
            prop_assert!(shares.iter().all(|s| (1..=cap).contains(s)));
        }
    }

    #[test]
    fn the_edge_total_gives_every_share_the_minimum() {
        assert_eq!(draw_lucky_shares(10, 10, 1, 20_000, crypto::random_in), vec![1; 10]);
        assert_eq!(draw_lucky_shares(500, 1, 1, 20_000, crypto::random_in), vec![500]);
    }
}
