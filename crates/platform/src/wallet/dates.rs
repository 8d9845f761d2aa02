//! Civil dates in UTC (Howard Hinnant's days-from-civil algorithms): statements are UTC months.

/// Unix ms of the first instant of a civil date, UTC (Howard Hinnant's days-from-civil).
pub fn ms_of_date(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400_000
}

/// `2026-11-21T05:30:00.123Z`
pub fn iso_utc(ms: i64) -> String {
    let (year, month) = civil_year_month(ms);
    let day = (ms - ms_of_date(year, month, 1)).div_euclid(86_400_000) + 1;
    let in_day = ms.rem_euclid(86_400_000);
    let (h, m, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// (year, month) of a Unix time in ms, UTC (days-from-civil inverse, Howard Hinnant's algorithm).
pub fn civil_year_month(ms: i64) -> (i64, i64) {
    let days = ms.div_euclid(86_400_000) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(ms_of_date(1970, 1, 1), 0);
        assert_eq!(ms_of_date(2000, 3, 1), 951_868_800_000);
        assert_eq!(iso_utc(1_795_000_000_123), "2026-11-18T11:06:40.123Z"); // checked with Python datetime
        assert_eq!(iso_utc(ms_of_date(2024, 2, 29)), "2024-02-29T00:00:00.000Z");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_year_month(0), (1970, 1));
        assert_eq!(civil_year_month(1_795_000_000_000), (2026, 11)); // 2026-11-18
        assert_eq!(civil_year_month(951_782_400_000), (2000, 2)); // 2000-02-29
    }
}
