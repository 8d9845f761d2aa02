//! The charity domain's storage: `charities`, `campaigns`, `donations`, `campaign_donors`,
//! `match_pledges`, `match_donors`, `recurring_donations`, `gift_items`, `gift_cards`.

use super::gifts::{GiftCard, GiftItem, ItemState, StoredGiftCard};
use super::recurring::{Charge, Recurring, RecurringState};
use super::{Campaign, CampaignTotals, Charity, CharityState, Donation, DonationState, Pledge};
use crate::payments::{DayTotal, Funding};
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
/// totals, counted only while the campaign is open at `now_ms` (`starts_at <= now < ends_at`) and its
/// charity active (whatever a cache said), and the donor counted once (see [`donor_effect`]).
pub(crate) fn donation_guards(d: &Donation, now_ms: i64) -> [Effect; 2] {
    let row = Effect {
        sql: "INSERT INTO donations (id, campaign_id, charity_id, person_id, currency, amount, fee, matched, anonymous, message, donor_name, donor_verified, state, created_at, funding, card_id, card_reference, paid_currency, paid_amount, recurring_id, gift_item_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) ON CONFLICT (id) DO NOTHING",
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
            d.created_at_ms,
            d.funding,
            d.card_id,
            d.card_reference.clone(),
            d.paid_currency.numeric(),
            d.paid_minor,
            d.recurring_id,
            d.gift_item_id
        ]
        .to_vec(),
    };
    let totals = Effect {
        sql: "UPDATE campaigns SET raised = raised + $2, donations = donations + 1, donors = donors + (CASE WHEN EXISTS (SELECT 1 FROM campaign_donors WHERE campaign_id = $1 AND person_id = $3) THEN 0 ELSE 1 END) WHERE id = $1 AND starts_at <= $4 AND ends_at > $4 AND EXISTS (SELECT 1 FROM charities WHERE merchant_id = $5 AND state = $6)",
        params: params![d.campaign_id, d.amount_minor, d.donor, now_ms, d.charity, CharityState::Active].to_vec(),
    };
    [row, totals]
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

const DONATION: &str = "id, campaign_id, charity_id, person_id, currency, amount, fee, matched, anonymous, message, donor_name, donor_verified, state, created_at, funding, card_id, card_reference, paid_currency, paid_amount, recurring_id, gift_item_id";

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
        funding: Funding::parse(&r.text("funding")?).ok_or_else(|| corrupt("funding"))?,
        card_id: r.opt_int("card_id")?,
        card_reference: r.opt_text("card_reference")?,
        paid_currency: match r.opt_int("paid_currency")? {
            Some(n) => Currency::from_numeric(n as u16).map_err(|_| corrupt("paid currency"))?,
            None => currency(r)?,
        },
        paid_minor: match r.opt_int("paid_amount")? {
            Some(n) => n,
            None => r.int("amount")?,
        },
        recurring_id: r.opt_int("recurring_id")?,
        gift_item_id: r.opt_int("gift_item_id")?,
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

/// A donation undone (refunded or charged back), guards: once, with the campaign's totals corrected
/// and its match (if it drew one) back in the pledge, where it may match another donor; a refund's
/// `channel` says where its money went.
pub(crate) fn undo_guards(d: &Donation, state: DonationState, channel: Option<&str>, returned: bool, now_ms: i64) -> Vec<Effect> {
    let mut guards = vec![
        Effect {
            sql: "UPDATE donations SET state = $2, refunded_at = $3, refund_channel = $5 WHERE id = $1 AND state = $4",
            params: params![d.id, state, now_ms, DonationState::Donated, channel.map(str::to_string)].to_vec(),
        },
        Effect {
            sql: "UPDATE campaigns SET raised = raised - $2, refunded = refunded + $2 WHERE id = $1",
            params: params![d.campaign_id, d.amount_minor].to_vec(),
        },
    ];
    if d.matched_minor > 0 {
        // Only while the pledge is as its reader saw it: returned (the match goes to the sponsor) or not
        // (back into the escrow).
        let sql = if returned {
            "UPDATE match_pledges SET matched = matched - $2 WHERE campaign_id = $1 AND matched >= $2 AND returned_at IS NOT NULL"
        } else {
            "UPDATE match_pledges SET matched = matched - $2 WHERE campaign_id = $1 AND matched >= $2 AND returned_at IS NULL"
        };
        guards.push(Effect { sql, params: params![d.campaign_id, d.matched_minor].to_vec() });
    }
    guards
}

/// A card refund's end, a guard (once): the issuer took it (`card`) or it stayed on the balance.
pub(crate) fn finish_card_refund(id: i64, channel: &str) -> Effect {
    Effect {
        sql: "UPDATE donations SET refund_channel = $2 WHERE id = $1 AND refund_channel = 'card_pending'",
        params: params![id, channel.to_string()].to_vec(),
    }
}

/// Card refunds booked before `before_ms` whose issuer was not told yet, oldest first.
pub(crate) fn pending_card_refunds(c: &mut dyn Conn, before_ms: i64, limit: i64) -> Result<Vec<Donation>> {
    let sql = format!(
        "SELECT {DONATION} FROM donations WHERE refund_channel = 'card_pending' AND refunded_at < $1 ORDER BY refunded_at LIMIT $2"
    );
    c.query(&sql, params![before_ms, limit])?.iter().map(donation_from).collect()
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

const RECURRING: &str =
    "id, person_id, campaign_id, currency, amount, card_id, anonymous, state, next_at, charges, failures, last_failure, created_at";

fn recurring_from(r: &Row) -> Result<Recurring> {
    Ok(Recurring {
        id: r.int("id")?,
        person: PersonId::new(r.int("person_id")?),
        campaign_id: r.int("campaign_id")?,
        currency: currency(r)?,
        amount_minor: r.int("amount")?,
        card_id: r.opt_int("card_id")?,
        anonymous: r.int("anonymous")? != 0,
        state: RecurringState::parse(&r.text("state")?).ok_or_else(|| corrupt("recurring state"))?,
        next_at_ms: r.int("next_at")?,
        charges: r.int("charges")?,
        failures: r.int("failures")?,
        last_failure: r.opt_text("last_failure")?,
        created_at_ms: r.int("created_at")?,
    })
}

/// A new monthly donation, unless its donor has `active_max` active ones already (or it exists).
pub(crate) fn insert_recurring(c: &mut dyn Conn, p: &Recurring, active_max: i64) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO recurring_donations (id, person_id, campaign_id, currency, amount, card_id, anonymous, state, next_at, charges, failures, created_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 0, 0, $10 WHERE (SELECT COUNT(*) FROM recurring_donations WHERE person_id = $2 AND state = $8) < $11 ON CONFLICT (id) DO NOTHING",
        params![
            p.id,
            p.person,
            p.campaign_id,
            p.currency.numeric(),
            p.amount_minor,
            p.card_id,
            p.anonymous,
            p.state,
            p.next_at_ms,
            p.created_at_ms,
            active_max
        ],
    )?;
    Ok(inserted == 1)
}

pub(crate) fn recurring(c: &mut dyn Conn, id: i64) -> Result<Option<Recurring>> {
    let sql = format!("SELECT {RECURRING} FROM recurring_donations WHERE id = $1");
    c.query_one(&sql, params![id])?.as_ref().map(recurring_from).transpose()
}

/// A person's monthly donations, newest first.
pub(crate) fn recurring_by(c: &mut dyn Conn, person: PersonId, limit: i64) -> Result<Vec<Recurring>> {
    let sql = format!("SELECT {RECURRING} FROM recurring_donations WHERE person_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2");
    c.query(&sql, params![person, limit])?.iter().map(recurring_from).collect()
}

/// Active monthly donations due at `now_ms`, the longest waiting first.
pub(crate) fn due_recurring(c: &mut dyn Conn, now_ms: i64, limit: i64) -> Result<Vec<Recurring>> {
    let sql = format!("SELECT {RECURRING} FROM recurring_donations WHERE state = $1 AND next_at <= $2 ORDER BY next_at, id LIMIT $3");
    c.query(&sql, params![RecurringState::Active, now_ms, limit])?.iter().map(recurring_from).collect()
}

/// A plan whose first gift could not be made: removed, as if never set up.
pub(crate) fn delete_unstarted_recurring(c: &mut dyn Conn, id: i64) -> Result<bool> {
    Ok(c.execute("DELETE FROM recurring_donations WHERE id = $1 AND charges = 0", params![id])? == 1)
}

pub(crate) fn stop_recurring(c: &mut dyn Conn, id: i64, now_ms: i64) -> Result<bool> {
    let sql = "UPDATE recurring_donations SET state = $2, stopped_at = $3 WHERE id = $1 AND state = $4";
    Ok(c.execute(sql, params![id, RecurringState::Stopped, now_ms, RecurringState::Active])? == 1)
}

/// Charge `n` of a plan made, a guard in its donation's commit: once, and only while it is active.
pub(crate) fn recurring_charged(charge: &Charge) -> Effect {
    Effect {
        sql: "UPDATE recurring_donations SET charges = charges + 1, failures = 0, last_failure = NULL, next_at = $3 WHERE id = $1 AND charges = $2 AND state = $4",
        params: params![charge.id, charge.n, charge.next_at_ms, RecurringState::Active].to_vec(),
    }
}

/// Charge `n` of a plan failed: its failures, its next try, its state (lapsed, ended, still active).
pub(crate) fn recurring_failed(
    c: &mut dyn Conn,
    id: i64,
    n: i64,
    state: RecurringState,
    failures: i64,
    reason: &str,
    retry_at_ms: i64,
) -> Result<bool> {
    let sql = "UPDATE recurring_donations SET state = $3, failures = $4, last_failure = $5, next_at = $6 WHERE id = $1 AND charges = $2 AND state = $7";
    Ok(c.execute(sql, params![id, n, state, failures, reason, retry_at_ms, RecurringState::Active])? == 1)
}

const GIFT_ITEM: &str = "id, charity_id, campaign_id, out_item_no, name, description, currency, price, sold, state, created_at";

fn item_from(r: &Row) -> Result<GiftItem> {
    Ok(GiftItem {
        id: r.int("id")?,
        charity: MerchantId::new(r.int("charity_id")?),
        campaign_id: r.int("campaign_id")?,
        out_item_no: r.text("out_item_no")?,
        name: r.text("name")?,
        description: r.text("description")?,
        currency: currency(r)?,
        price_minor: r.int("price")?,
        price: crate::wallet::decimal(r.int("price")?, currency(r)?),
        sold: r.int("sold")?,
        state: ItemState::parse(&r.text("state")?).ok_or_else(|| corrupt("gift item state"))?,
        created_at_ms: r.int("created_at")?,
    })
}

/// A charity's new item; `false` when its number was used.
pub(crate) fn insert_item(c: &mut dyn Conn, i: &GiftItem) -> Result<bool> {
    let inserted = c.execute(
        "INSERT INTO gift_items (id, charity_id, campaign_id, out_item_no, name, description, currency, price, sold, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10) ON CONFLICT DO NOTHING",
        params![
            i.id,
            i.charity,
            i.campaign_id,
            i.out_item_no.as_str(),
            i.name.as_str(),
            i.description.as_str(),
            i.currency.numeric(),
            i.price_minor,
            i.state,
            i.created_at_ms
        ],
    )?;
    Ok(inserted == 1)
}

pub(crate) fn item(c: &mut dyn Conn, id: i64) -> Result<Option<GiftItem>> {
    c.query_one(&format!("SELECT {GIFT_ITEM} FROM gift_items WHERE id = $1"), params![id])?.as_ref().map(item_from).transpose()
}

pub(crate) fn item_by_out_no(c: &mut dyn Conn, charity: MerchantId, out_no: &str) -> Result<Option<GiftItem>> {
    let sql = format!("SELECT {GIFT_ITEM} FROM gift_items WHERE charity_id = $1 AND out_item_no = $2");
    c.query_one(&sql, params![charity, out_no])?.as_ref().map(item_from).transpose()
}

/// A campaign's catalogue, in the order it was published.
pub(crate) fn items_of(c: &mut dyn Conn, campaign: i64, limit: i64) -> Result<Vec<GiftItem>> {
    let sql = format!("SELECT {GIFT_ITEM} FROM gift_items WHERE campaign_id = $1 ORDER BY created_at, id LIMIT $2");
    c.query(&sql, params![campaign, limit])?.iter().map(item_from).collect()
}

pub(crate) fn set_item_state(c: &mut dyn Conn, id: i64, state: ItemState) -> Result<bool> {
    Ok(c.execute("UPDATE gift_items SET state = $2 WHERE id = $1", params![id, state])? == 1)
}

/// One more of an item given, a guard in its donation's commit (only while it is offered).
pub(crate) fn item_sold(item: i64) -> Effect {
    Effect { sql: "UPDATE gift_items SET sold = sold + 1 WHERE id = $1 AND state = $2", params: params![item, ItemState::Offered].to_vec() }
}

/// The friend's gift card, an effect of the gift's commit (its id is the donation's).
pub(crate) fn insert_gift_card(d: &Donation, g: &GiftCard) -> Effect {
    Effect {
        sql: "INSERT INTO gift_cards (id, item_id, giver_id, recipient_id, note, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        params: params![d.id, g.item_id, d.donor, g.recipient, g.note.clone(), d.created_at_ms].to_vec(),
    }
}

const GIFT_CARD: &str = "g.id, g.item_id, g.giver_id, g.recipient_id, g.note, g.thanks, g.thanked_at, g.created_at, i.name, i.description, i.currency, i.price, m.name AS charity_name, gp.display_name AS giver_name, rp.display_name AS recipient_name";

fn card_from(r: &Row) -> Result<StoredGiftCard> {
    Ok(StoredGiftCard {
        id: r.int("id")?,
        item_id: r.int("item_id")?,
        recipient: PersonId::new(r.int("recipient_id")?),
        note: r.opt_text("note")?,
        thanks: r.opt_text("thanks")?,
        thanked_at_ms: r.opt_int("thanked_at")?,
        created_at_ms: r.int("created_at")?,
        item_name: r.text("name")?,
        item_description: r.text("description")?,
        currency: currency(r)?,
        price_minor: r.int("price")?,
        charity_name: r.text("charity_name")?,
        giver_name: r.text("giver_name")?,
        recipient_name: r.text("recipient_name")?,
    })
}

/// The gift cards a person received or sent, newest first.
pub(crate) fn gift_cards_of(c: &mut dyn Conn, person: PersonId, limit: i64) -> Result<Vec<StoredGiftCard>> {
    let sql = format!(
        "SELECT {GIFT_CARD} FROM gift_cards g JOIN gift_items i ON i.id = g.item_id JOIN merchants m ON m.id = i.charity_id JOIN people gp ON gp.id = g.giver_id JOIN people rp ON rp.id = g.recipient_id WHERE g.recipient_id = $1 OR g.giver_id = $1 ORDER BY g.created_at DESC, g.id DESC LIMIT $2"
    );
    c.query(&sql, params![person, limit])?.iter().map(card_from).collect()
}

pub(crate) fn gift_card(c: &mut dyn Conn, id: i64) -> Result<Option<StoredGiftCard>> {
    let sql = format!(
        "SELECT {GIFT_CARD} FROM gift_cards g JOIN gift_items i ON i.id = g.item_id JOIN merchants m ON m.id = i.charity_id JOIN people gp ON gp.id = g.giver_id JOIN people rp ON rp.id = g.recipient_id WHERE g.id = $1"
    );
    c.query_one(&sql, params![id])?.as_ref().map(card_from).transpose()
}

/// The recipient thanks the giver, once.
pub(crate) fn thank(c: &mut dyn Conn, id: i64, recipient: PersonId, thanks: &str, now_ms: i64) -> Result<bool> {
    let sql = "UPDATE gift_cards SET thanks = $3, thanked_at = $4 WHERE id = $1 AND recipient_id = $2 AND thanked_at IS NULL";
    Ok(c.execute(sql, params![id, recipient, thanks, now_ms])? == 1)
}
