//! The charity domain's storage: `charities`, `campaigns`, `donations`, `campaign_donors`,
//! `match_pledges`, `match_donors`.

use super::{Campaign, CampaignTotals, Charity, CharityState, Donation, DonationState, Pledge};
use crate::payments::DayTotal;
use crate::{MerchantId, PersonId};
use money::Currency;
use store::{Conn, Effect, Result, Row, StoreError, params};

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} in a stored charity row"))
}

fn currency(r: &Row) -> Result<Currency> {
    Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))
}

const CHARITY: &str = "c.merchant_id, m.mchid, m.name, c.charity_number, c.jurisdiction, c.state, c.fee_bps, c.created_at";

fn charity_from(r: &Row) -> Result<Charity> {
    Ok(Charity {
        merchant_id: MerchantId::new(r.int("merchant_id")?),
        mchid: r.text("mchid")?,
        name: r.text("name")?,
        charity_number: r.text("charity_number")?,
        jurisdiction: r.text("jurisdiction")?,
        state: CharityState::parse(&r.text("state")?).ok_or_else(|| corrupt("state"))?,
        fee_bps: r.int("fee_bps")?,
        created_at_ms: r.int("created_at")?,
    })
}

/// A merchant's charity registration; a guard (a merchant registers once, a registration number once).
pub(crate) fn insert_charity(c: &mut dyn Conn, ch: &Charity) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO charities (merchant_id, charity_number, jurisdiction, state, fee_bps, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        params![ch.merchant_id, ch.charity_number.as_str(), ch.jurisdiction.as_str(), ch.state, ch.fee_bps, ch.created_at_ms],
    )?;
    Ok(inserted == 1)
}

pub(crate) fn set_state(c: &mut dyn Conn, merchant: MerchantId, state: CharityState) -> Result<bool> {
    Ok(c.execute("UPDATE charities SET state = $2 WHERE merchant_id = $1", params![merchant, state])? == 1)
}

pub(crate) fn charity(c: &mut dyn Conn, merchant: MerchantId) -> Result<Option<Charity>> {
    let sql = format!("SELECT {CHARITY} FROM charities c JOIN merchants m ON m.id = c.merchant_id WHERE c.merchant_id = $1");
    c.query_one(&sql, params![merchant])?.as_ref().map(charity_from).transpose()
}

const CAMPAIGN: &str = "id, charity_id, out_campaign_no, title, story, currency, goal, min_amount, starts_at, ends_at, created_at";

fn campaign_from(r: &Row) -> Result<Campaign> {
    Ok(Campaign {
        id: r.int("id")?,
        charity: MerchantId::new(r.int("charity_id")?),
        out_campaign_no: r.text("out_campaign_no")?,
        title: r.text("title")?,
        story: r.text("story")?,
        currency: currency(r)?,
        goal_minor: r.int("goal")?,
        min_minor: r.int("min_amount")?,
        starts_at_ms: r.int("starts_at")?,
        ends_at_ms: r.int("ends_at")?,
        created_at_ms: r.int("created_at")?,
    })
}

/// A new campaign with its totals at zero; `false` when the charity already used its number.
pub(crate) fn insert_campaign(c: &mut dyn Conn, k: &Campaign) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO campaigns (id, charity_id, out_campaign_no, title, story, currency, goal, min_amount, starts_at, ends_at, raised, donations, donors, refunded, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 0, 0, 0, $11) ON CONFLICT DO NOTHING",
        params![
            k.id,
            k.charity,
            k.out_campaign_no.as_str(),
            k.title.as_str(),
            k.story.as_str(),
            k.currency.numeric(),
            k.goal_minor,
            k.min_minor,
            k.starts_at_ms,
            k.ends_at_ms,
            k.created_at_ms
        ],
    )?;
    Ok(inserted == 1)
}

pub(crate) fn campaign(c: &mut dyn Conn, id: i64) -> Result<Option<Campaign>> {
    c.query_one(&format!("SELECT {CAMPAIGN} FROM campaigns WHERE id = $1"), params![id])?.as_ref().map(campaign_from).transpose()
}

pub(crate) fn campaign_by_out_no(c: &mut dyn Conn, charity: MerchantId, out_no: &str) -> Result<Option<Campaign>> {
    let sql = format!("SELECT {CAMPAIGN} FROM campaigns WHERE charity_id = $1 AND out_campaign_no = $2");
    c.query_one(&sql, params![charity, out_no])?.as_ref().map(campaign_from).transpose()
}

/// A charity's campaigns, newest first.
pub(crate) fn campaigns_of(c: &mut dyn Conn, charity: MerchantId, limit: i64) -> Result<Vec<Campaign>> {
    let sql = format!("SELECT {CAMPAIGN} FROM campaigns WHERE charity_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2");
    c.query(&sql, params![charity, limit])?.iter().map(campaign_from).collect()
}

/// Campaigns open at `now_ms` of active charities, ending soonest first.
pub(crate) fn open_campaigns(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<Vec<Campaign>> {
    let sql = format!(
        "SELECT {} FROM campaigns k JOIN charities ch ON ch.merchant_id = k.charity_id WHERE ch.state = $1 AND k.starts_at <= $2 AND k.ends_at > $2 ORDER BY k.ends_at, k.id LIMIT $3",
        CAMPAIGN.split(", ").map(|c| format!("k.{c}")).collect::<Vec<_>>().join(", ")
    );
    c.query(&sql, params![CharityState::Active, now_ms, limit])?.iter().map(campaign_from).collect()
}

/// The running totals (the match is the ledger's to say: see `Charities::totals`).
pub(crate) fn totals(c: &mut dyn Conn, id: i64) -> Result<Option<CampaignTotals>> {
    let row = c.query_one("SELECT raised, donations, donors, refunded FROM campaigns WHERE id = $1", params![id])?;
    row.map(|r| {
        Ok(CampaignTotals {
            raised_minor: r.int("raised")?,
            donations: r.int("donations")?,
            donors: r.int("donors")?,
            refunded_minor: r.int("refunded")?,
            matched_minor: 0,
        })
    })
    .transpose()
}

/// A donation's guards, in this order: its row (a retry finds it there and stops), then the campaign's
/// totals, counted only while the campaign is open (`starts_at <= now < ends_at`) and the donor counted
/// once (see [`donor_effect`]).
pub(crate) fn donation_guards(d: &Donation) -> Vec<Effect> {
    let row = Effect {
        sql: "INSERT INTO donations (id, campaign_id, charity_id, person_id, currency, amount, fee, matched, anonymous, message, donor_name, donor_verified, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING",
        params: params![
            d.id,
            d.campaign_id,
            d.charity,
            d.donor,
            d.currency.numeric(),
            d.amount_minor,
            d.fee_minor,
            d.matched_minor,
            d.anonymous,
            d.message.clone(),
            d.donor_name.as_str(),
            d.donor_verified,
            d.state,
            d.created_at_ms
        ]
        .to_vec(),
    };
    let totals = Effect {
        sql: "UPDATE campaigns SET raised = raised + $2, donations = donations + 1, donors = donors + (CASE WHEN EXISTS (SELECT 1 FROM campaign_donors WHERE campaign_id = $1 AND person_id = $3) THEN 0 ELSE 1 END) WHERE id = $1 AND starts_at <= $4 AND ends_at > $4",
        params: params![d.campaign_id, d.amount_minor, d.donor, d.created_at_ms].to_vec(),
    };
    vec![row, totals]
}

/// The donor among the campaign's donors (after the totals counted them, if new): an effect.
pub(crate) fn donor_effect(d: &Donation) -> Effect {
    Effect {
        sql: "INSERT INTO campaign_donors (campaign_id, person_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        params: params![d.campaign_id, d.donor].to_vec(),
    }
}

/// A donation's match taken from its pledge, a guard: only while the pledge stays within its cap.
pub(crate) fn pledge_guard(pledge: i64, matched_minor: i64) -> Effect {
    Effect {
        sql: "UPDATE match_pledges SET matched = matched + $2 WHERE id = $1 AND matched + $2 <= cap",
        params: params![pledge, matched_minor].to_vec(),
    }
}

/// The match a donor draws from a pledge, a guard: at most `per_donor_max` over all their donations.
pub(crate) fn donor_match_guard(pledge: i64, donor: PersonId, asked_minor: i64, per_donor_max: i64) -> Effect {
    Effect {
        sql: "INSERT INTO match_donors (pledge_id, person_id, asked) VALUES ($1, $2, $3) ON CONFLICT (pledge_id, person_id) DO UPDATE SET asked = match_donors.asked + excluded.asked WHERE match_donors.asked + excluded.asked <= $4",
        params: params![pledge, donor, asked_minor, per_donor_max].to_vec(),
    }
}

pub(crate) fn donor_matched(c: &mut dyn Conn, pledge: i64, donor: PersonId) -> Result<i64> {
    let row = c.query_one("SELECT asked FROM match_donors WHERE pledge_id = $1 AND person_id = $2", params![pledge, donor])?;
    row.map_or(Ok(0), |r| r.int("asked"))
}

const DONATION: &str = "id, campaign_id, charity_id, person_id, currency, amount, fee, matched, anonymous, message, donor_name, donor_verified, state, created_at";

fn donation_from(r: &Row) -> Result<Donation> {
    Ok(Donation {
        id: r.int("id")?,
        campaign_id: r.int("campaign_id")?,
        charity: MerchantId::new(r.int("charity_id")?),
        donor: PersonId::new(r.int("person_id")?),
        currency: currency(r)?,
        amount_minor: r.int("amount")?,
        fee_minor: r.int("fee")?,
        matched_minor: r.int("matched")?,
        anonymous: r.int("anonymous")? != 0,
        message: r.opt_text("message")?,
        donor_name: r.text("donor_name")?,
        donor_verified: r.int("donor_verified")? != 0,
        state: DonationState::parse(&r.text("state")?).ok_or_else(|| corrupt("donation state"))?,
        created_at_ms: r.int("created_at")?,
    })
}

pub(crate) fn donation(c: &mut dyn Conn, id: i64) -> Result<Option<Donation>> {
    c.query_one(&format!("SELECT {DONATION} FROM donations WHERE id = $1"), params![id])?.as_ref().map(donation_from).transpose()
}

/// A campaign's donations, newest first, `limit` at most.
pub(crate) fn donations_of(c: &mut dyn Conn, campaign: i64, limit: i64) -> Result<Vec<Donation>> {
    let sql = format!("SELECT {DONATION} FROM donations WHERE campaign_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2");
    c.query(&sql, params![campaign, limit])?.iter().map(donation_from).collect()
}

/// A person's donations, newest first, `limit` at most.
pub(crate) fn donations_by(c: &mut dyn Conn, person: PersonId, limit: i64) -> Result<Vec<Donation>> {
    let sql = format!("SELECT {DONATION} FROM donations WHERE person_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2");
    c.query(&sql, params![person, limit])?.iter().map(donation_from).collect()
}

/// A person's donations to one charity in `[start_ms, end_ms)`, oldest first (the yearly summary).
pub(crate) fn donations_to(c: &mut dyn Conn, person: PersonId, charity: MerchantId, start_ms: i64, end_ms: i64) -> Result<Vec<Donation>> {
    let sql = format!(
        "SELECT {DONATION} FROM donations WHERE person_id = $1 AND charity_id = $2 AND created_at >= $3 AND created_at < $4 ORDER BY created_at, id"
    );
    c.query(&sql, params![person, charity, start_ms, end_ms])?.iter().map(donation_from).collect()
}

/// A donation refunded, guards: once, with the campaign's totals corrected and its match (if it drew
/// one) back in the pledge, where it may match another donor.
pub(crate) fn refund_guards(d: &Donation, now_ms: i64) -> Vec<Effect> {
    let mut guards = vec![
        Effect {
            sql: "UPDATE donations SET state = $2, refunded_at = $3 WHERE id = $1 AND state = $4",
            params: params![d.id, DonationState::Refunded, now_ms, DonationState::Donated].to_vec(),
        },
        Effect {
            sql: "UPDATE campaigns SET raised = raised - $2, refunded = refunded + $2 WHERE id = $1",
            params: params![d.campaign_id, d.amount_minor].to_vec(),
        },
    ];
    if d.matched_minor > 0 {
        guards.push(Effect {
            sql: "UPDATE match_pledges SET matched = matched - $2 WHERE campaign_id = $1 AND matched >= $2",
            params: params![d.campaign_id, d.matched_minor].to_vec(),
        });
    }
    guards
}

const PLEDGE: &str = "id, campaign_id, sponsor_id, currency, cap, per_donor_max, matched, created_at, returned_at";

fn pledge_from(r: &Row) -> Result<Pledge> {
    Ok(Pledge {
        id: r.int("id")?,
        campaign_id: r.int("campaign_id")?,
        sponsor: PersonId::new(r.int("sponsor_id")?),
        currency: currency(r)?,
        cap_minor: r.int("cap")?,
        per_donor_max_minor: r.int("per_donor_max")?,
        matched_minor: r.int("matched")?,
        created_at_ms: r.int("created_at")?,
        returned_at_ms: r.opt_int("returned_at")?,
    })
}

/// A pledge's row, the guard of its funding (one pledge a campaign).
pub(crate) fn insert_pledge(p: &Pledge) -> Effect {
    Effect {
        sql: "INSERT INTO match_pledges (id, campaign_id, sponsor_id, currency, cap, per_donor_max, matched, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT DO NOTHING",
        params: params![p.id, p.campaign_id, p.sponsor, p.currency.numeric(), p.cap_minor, p.per_donor_max_minor, p.created_at_ms].to_vec(),
    }
}

pub(crate) fn pledge_of(c: &mut dyn Conn, campaign: i64) -> Result<Option<Pledge>> {
    c.query_one(&format!("SELECT {PLEDGE} FROM match_pledges WHERE campaign_id = $1"), params![campaign])?
        .as_ref()
        .map(pledge_from)
        .transpose()
}

/// Pledges whose campaign ended before `now_ms` with what they did not match not yet returned.
pub(crate) fn pledges_to_return(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<Vec<Pledge>> {
    let sql = format!(
        "SELECT {} FROM match_pledges p JOIN campaigns k ON k.id = p.campaign_id WHERE p.returned_at IS NULL AND k.ends_at <= $1 ORDER BY k.ends_at LIMIT $2",
        PLEDGE.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ")
    );
    c.query(&sql, params![now_ms, limit])?.iter().map(pledge_from).collect()
}

/// A pledge's return, its guard (once; no match is drawn after it, the campaign having ended).
pub(crate) fn mark_returned(pledge: i64, now_ms: i64) -> Effect {
    Effect {
        sql: "UPDATE match_pledges SET returned_at = $2 WHERE id = $1 AND returned_at IS NULL",
        params: params![pledge, now_ms].to_vec(),
    }
}

/// Donations' takings of a day per charity and currency (of the charities whose day is counted in
/// `time_zone`), as settlement counts a merchant's: gross (each donation with the match it drew), the
/// fees, and what was refunded that day.
pub(crate) fn day_totals(c: &mut dyn Conn, start_ms: i64, end_ms: i64, time_zone: &str) -> Result<Vec<DayTotal>> {
    let rows = c.query(
        "SELECT merchant_id, currency, CAST(SUM(payments) AS BIGINT) AS payments, CAST(SUM(gross) AS BIGINT) AS gross, CAST(SUM(fees) AS BIGINT) AS fees, CAST(SUM(refunds) AS BIGINT) AS refunds FROM (
            SELECT charity_id AS merchant_id, currency, COUNT(*) AS payments, SUM(amount + matched) AS gross, SUM(fee) AS fees, 0 AS refunds FROM donations WHERE created_at >= $1 AND created_at < $2 AND charity_id IN (SELECT id FROM merchants WHERE time_zone = $3) GROUP BY charity_id, currency
            UNION ALL SELECT charity_id, currency, 0, 0, 0, SUM(amount + matched) FROM donations WHERE refunded_at >= $1 AND refunded_at < $2 AND charity_id IN (SELECT id FROM merchants WHERE time_zone = $3) GROUP BY charity_id, currency
         ) t GROUP BY merchant_id, currency ORDER BY merchant_id, currency",
        params![start_ms, end_ms, time_zone],
    )?;
    rows.iter()
        .map(|r| {
            Ok(DayTotal {
                merchant: MerchantId::new(r.int("merchant_id")?),
                currency: currency(r)?,
                payments: r.int("payments")?,
                gross: r.int("gross")?,
                fees: r.int("fees")?,
                refunds: r.int("refunds")?,
            })
        })
        .collect()
}
