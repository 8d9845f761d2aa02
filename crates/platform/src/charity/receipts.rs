//! Donation receipts, as a tax office asks for them: the charity and its registration, the donor's
//! name (as verified, and whether it was), the amount and currency, the date in the charity's own time
//! zone, a receipt number; and a donor's yearly summary per charity.

use super::{Charities, Donation, DonationState};
use crate::{PersonId, PlatformError, Result};
use money::Currency;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub receipt_no: String,
    pub charity_name: String,
    pub charity_number: String,
    pub jurisdiction: String,
    pub donor_name: String,
    /// The donor's identity was verified by the platform (KYC tier 2 when they gave).
    pub donor_verified: bool,
    pub amount: String,
    pub currency: Currency,
    /// The day the gift was made, in the charity's time zone (`YYYY-MM-DD`).
    pub date: String,
    pub campaign: String,
    /// A refunded gift's receipt is void.
    pub state: DonationState,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub donation_id: i64,
}

/// A donor's gifts to one charity in a calendar year (of the charity's time zone), per currency.
#[derive(Debug, Clone, Serialize)]
pub struct YearSummary {
    pub year: i32,
    pub charity_name: String,
    pub charity_number: String,
    pub jurisdiction: String,
    pub donor_name: String,
    pub totals: Vec<YearTotal>,
    pub receipts: Vec<Receipt>,
}

#[derive(Debug, Clone, Serialize)]
pub struct YearTotal {
    pub currency: Currency,
    pub amount: String,
    pub donations: usize,
}

impl Charities {
    /// The receipt of one of the person's donations.
    pub async fn receipt(&self, person: PersonId, donation_id: i64) -> Result<Receipt> {
        let d = self.donation(person, donation_id).await?;
        self.receipt_of(&d).await
    }

    async fn receipt_of(&self, d: &Donation) -> Result<Receipt> {
        let charity = self.charity_of(d.charity).await?;
        let zone = self.merchants.by_id(d.charity).await?.merchant.time_zone.clone();
        let campaign = self.stored_campaign(d.campaign_id).await?;
        Ok(Receipt {
            receipt_no: d.receipt_no(),
            charity_name: charity.name,
            charity_number: charity.charity_number,
            jurisdiction: charity.jurisdiction,
            donor_name: d.donor_name.clone(),
            donor_verified: d.donor_verified,
            amount: crate::wallet::decimal(d.amount_minor, d.currency),
            currency: d.currency,
            date: local_date(d.created_at_ms, &zone)?,
            campaign: campaign.title,
            state: d.state,
            donation_id: d.id,
        })
    }

    /// The person's gifts to a charity in a year: the totals of those not refunded, every receipt.
    pub async fn year_summary(&self, person: PersonId, mchid: &str, year: i32) -> Result<YearSummary> {
        let charity = self.charity(mchid).await?;
        let zone = self.merchants.by_id(charity.merchant_id).await?.merchant.time_zone.clone();
        let (start, end) = year_bounds(year, &zone)?;
        let merchant = charity.merchant_id;
        let gifts = self.core.read(move |c| super::store::donations_to(c, person, merchant, start, end)).await?;
        let mut receipts = Vec::with_capacity(gifts.len());
        let mut sums: Vec<(Currency, i64, usize)> = Vec::new();
        for d in &gifts {
            receipts.push(self.receipt_of(d).await?);
            if d.state == DonationState::Donated {
                match sums.iter_mut().find(|(c, _, _)| *c == d.currency) {
                    Some(s) => {
                        s.1 += d.amount_minor;
                        s.2 += 1;
                    }
                    None => sums.push((d.currency, d.amount_minor, 1)),
                }
            }
        }
        let donor_name = match gifts.last() {
            Some(d) => d.donor_name.clone(),
            None => self.people.person(person).await?.display_name,
        };
        Ok(YearSummary {
            year,
            charity_name: charity.name,
            charity_number: charity.charity_number,
            jurisdiction: charity.jurisdiction,
            donor_name,
            totals: sums
                .into_iter()
                .map(|(currency, minor, donations)| YearTotal { currency, amount: crate::wallet::decimal(minor, currency), donations })
                .collect(),
            receipts,
        })
    }
}

fn zone_of(zone: &str) -> Result<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(zone).map_err(|e| PlatformError::Internal(format!("time zone {zone}: {e}")))
}

fn local_date(ms: i64, zone: &str) -> Result<String> {
    let t = jiff::Timestamp::from_millisecond(ms).map_err(|e| PlatformError::Internal(format!("a time of {ms}: {e}")))?;
    Ok(t.to_zoned(zone_of(zone)?).strftime("%Y-%m-%d").to_string())
}

/// `[1 January year, 1 January year + 1)` in the zone, in ms.
fn year_bounds(year: i32, zone: &str) -> Result<(i64, i64)> {
    let tz = zone_of(zone)?;
    let start = |y: i32| -> Result<i64> {
        let year = i16::try_from(y).map_err(|_| PlatformError::invalid("year", "a year such as 2026"))?;
        let date = jiff::civil::Date::new(year, 1, 1).map_err(|_| PlatformError::invalid("year", "a year such as 2026"))?;
        Ok(date.to_zoned(tz.clone()).map_err(|e| PlatformError::Internal(e.to_string()))?.timestamp().as_millisecond())
    };
    if !(2000..=9998).contains(&year) {
        return Err(PlatformError::invalid("year", "a year such as 2026"));
    }
    Ok((start(year)?, start(year + 1)?))
}
