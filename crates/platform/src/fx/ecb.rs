//! The European Central Bank's reference-rate CSV (`eurofxref.csv`, `eurofxref-hist.csv`): a header
//! `Date,USD,JPY,...` (often with a trailing comma), then one row per day, newest first, each cell the
//! units of that currency per 1 EUR or `N/A`. The rates are set around 16:00 Central European Time.

use money::{Currency, Rate};

/// The largest file accepted (the full 1999–today history is about 1.5 MB).
pub const ECB_CSV_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Cells read at most (27 years × 260 days × 42 currencies is about 300,000).
const CELLS_MAX: usize = 1_000_000;

/// One published rate: a day and EUR → currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub date: jiff::civil::Date,
    pub rate: Rate,
}

/// What an import skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Parsed {
    /// Currencies in the header that are not ISO 4217 money (or retired codes such as CYP).
    pub unknown_currencies: Vec<String>,
    pub skipped_na: usize,
}

/// Parse the file; a malformed line is an error naming its line.
pub fn parse(text: &str) -> Result<(Vec<Published>, Parsed), String> {
    if text.len() > ECB_CSV_BYTES_MAX {
        return Err(format!("larger than {ECB_CSV_BYTES_MAX} bytes"));
    }
    let eur = Currency::from_code("EUR").expect("EUR is ISO 4217");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or("empty file")?.split(',').map(str::trim).collect();
    if header.first() != Some(&"Date") {
        return Err("the first column must be Date".into());
    }
    let mut report = Parsed::default();
    let columns: Vec<Option<Currency>> = header[1..]
        .iter()
        .map(|code| match (code.is_empty(), Currency::from_code(code)) {
            (true, _) => None,
            (false, Ok(c)) if c.minor_units().is_some() && c != eur => Some(c),
            (false, _) => {
                report.unknown_currencies.push(code.to_string());
                None
            }
        })
        .collect();
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let date: jiff::civil::Date = cells[0].parse().map_err(|_| format!("line {}: {:?} is not a date YYYY-MM-DD", n + 2, cells[0]))?;
        for (cell, currency) in cells[1..].iter().zip(&columns) {
            let Some(currency) = currency else { continue };
            if cell.is_empty() || *cell == "N/A" {
                report.skipped_na += 1;
                continue;
            }
            let rate = Rate::parse(cell, eur, *currency)
                .map_err(|_| format!("line {}: {currency} rate {cell:?} is not a positive decimal", n + 2))?;
            out.push(Published { date, rate });
            if out.len() > CELLS_MAX {
                return Err(format!("more than {CELLS_MAX} rates"));
            }
        }
    }
    Ok((out, report))
}

/// When a day's rates take effect: 16:00 in Frankfurt (CET or CEST), as the ECB publishes them.
pub fn effective_at_ms(date: jiff::civil::Date) -> Result<i64, String> {
    let zoned = date.at(16, 0, 0, 0).in_tz("Europe/Berlin").map_err(|e| e.to_string())?;
    Ok(zoned.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        "Date,USD,JPY,CYP,HKD,CNY,RUB,\n2026-11-20,1.0541,162.87,N/A,8.2046,7.6543,N/A,\n2026-11-19,1.0555,163.01,N/A,8.2150,7.6611,N/A,\n";

    #[test]
    fn every_cell_imports_and_na_and_the_trailing_column_are_skipped() {
        let (rates, report) = parse(SAMPLE).unwrap();
        assert_eq!(rates.len(), 8, "4 currencies × 2 days");
        assert_eq!(report.unknown_currencies, ["CYP"]);
        assert_eq!(report.skipped_na, 2, "RUB's N/A on both days (CYP is not a currency any more)");
        let hkd = rates.iter().find(|r| r.rate.quote().code() == "HKD").unwrap();
        assert_eq!((hkd.date.to_string(), hkd.rate.base().code(), hkd.rate.decimal()), ("2026-11-20".into(), "EUR", "8.2046".into()));
    }

    #[test]
    fn a_malformed_line_is_refused_naming_it() {
        assert!(parse("Date,USD\n2026-13-01,1.05\n").unwrap_err().contains("line 2"));
        assert!(parse("Date,USD\n2026-11-20,-1\n").unwrap_err().contains("line 2"));
        assert!(parse("USD,Date\n").is_err());
    }

    #[test]
    fn rates_take_effect_at_four_in_the_afternoon_in_frankfurt() {
        // Winter (CET, UTC+1): 15:00 UTC; summer (CEST, UTC+2): 14:00 UTC.
        assert_eq!(effective_at_ms("2026-11-20".parse().unwrap()).unwrap(), 1_795_186_800_000);
        assert_eq!(effective_at_ms("2026-06-15".parse().unwrap()).unwrap(), 1_781_532_000_000);
    }
}
