//! Red packets: 1:1 (one share for a friend) and group packets (N shares, lucky or equal split).
//!
//! Money: the sender's wallet funds an escrow account of the packet's own; each claim moves one share
//! from the escrow to the claimer; at expiry a *balancing* transfer returns whatever is left. The ledger
//! orders the refund against late claims, so no cent is paid twice or lost.
//!
//! Shares are drawn when the packet is made ("double average", every share at least the minimum, the sum
//! exact), so a claim is "take the lowest unclaimed share": a storm of claims on one packet is a queue of
//! small updates (`FOR UPDATE SKIP LOCKED` on PostgreSQL), not a lock fight.
//!
//! A packet is `funding` until its escrow holds the money, then `open`; claims need `open`.

use crate::people::parse_name;
use crate::wallets::{LedgerRefusal, parse_amount, parse_currency};
use crate::{Platform, PlatformError, Result, crypto, ids};
use ledger::{AccountFlags, NewAccount, NewTransfer, TransferError, TransferFlags};
use money::{Currency, Money};
use serde::Serialize;
use store::params;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// One share, for one friend.
    Single,
    /// Random shares (double average).
    Lucky,
    /// Every share the same.
    Equal,
}

impl Split {
    pub fn parse(text: &str) -> Result<Split> {
        match text {
            "single" => Ok(Split::Single),
            "lucky" => Ok(Split::Lucky),
            "equal" => Ok(Split::Equal),
            _ => Err(PlatformError::invalid("split", "single, lucky or equal")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Split::Single => "single",
            Split::Lucky => "lucky",
            Split::Equal => "equal",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RedPacketClaim {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub person_id: i64,
    pub amount: String,
    pub claimed_at_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RedPacket {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub sender_id: i64,
    pub split: Split,
    #[serde(serialize_with = "crate::ids::opt_as_string")]
    pub receiver_id: Option<i64>,
    #[serde(serialize_with = "crate::ids::opt_as_string")]
    pub group_id: Option<i64>,
    pub currency: Currency,
    pub total: String,
    pub shares: i64,
    pub title: String,
    pub cover: Option<String>,
    /// funding, open, exhausted, expired
    pub state: String,
    pub claimed: String,
    pub claims: Vec<RedPacketClaim>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

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

impl Platform {
    #[allow(clippy::too_many_arguments)]
    pub async fn send_red_packet(
        &self,
        sender: i64,
        split: Split,
        receiver: Option<i64>,
        group: Option<i64>,
        currency: &str,
        amount: &str,
        shares: i64,
        title: Option<&str>,
        cover: Option<&str>,
        pin: Option<&str>,
    ) -> Result<RedPacket> {
        let currency = parse_currency(currency)?;
        let amount = parse_amount("amount", amount, currency)?;
        let rules = self.config.red_packets.clone();
        let title = parse_name("title", title.unwrap_or("恭喜发财，大吉大利"), self.config.name_chars_max)?;
        // A cover is one a merchant published (its id); the packet keeps the id.
        if let Some(c) = cover {
            let id = crate::ids::parse("cover", c)?;
            self.red_packet_cover(id).await.map_err(|_| PlatformError::invalid("cover", "no such published cover"))?;
        }
        match (split, receiver, group) {
            (Split::Single, Some(r), None) => {
                if shares != 1 {
                    return Err(PlatformError::invalid("shares", "a 1:1 red packet has exactly one share"));
                }
                self.require_friends(sender, r).await?;
                if !self.wallet_currencies(r).await?.contains(&currency) {
                    return Err(PlatformError::invalid("currency", format!("the receiver's wallet does not hold {currency}")));
                }
            }
            (Split::Lucky | Split::Equal, None, Some(g)) => {
                if !self.is_member(sender, g).await? {
                    return Err(PlatformError::Forbidden("you can only send red packets into groups you belong to".into()));
                }
                if !(1..=i64::from(rules.shares_max)).contains(&shares) {
                    return Err(PlatformError::invalid("shares", format!("1 to {} shares", rules.shares_max)));
                }
            }
            (Split::Single, _, _) => return Err(PlatformError::invalid("to", "a 1:1 red packet goes to one friend (to_person_id)")),
            _ => return Err(PlatformError::invalid("to", "a group red packet goes to a group (to_group_id)")),
        }
        self.require_currency(sender, currency).await?;
        // Equal split: the sender names the amount per share.
        let total = if split == Split::Equal {
            amount.minor().checked_mul(shares).ok_or_else(|| PlatformError::invalid("amount", "too large"))?
        } else {
            amount.minor()
        };
        let scale = 10i64.pow(u32::from(currency.minor_units().unwrap_or(0)));
        let total_max = rules.total_max_major * scale;
        if total > total_max {
            return Err(PlatformError::invalid(
                "amount",
                format!("a red packet holds at most {}", Money::from_minor(total_max, currency).map(|m| m.to_string()).unwrap_or_default()),
            ));
        }
        if total < shares * rules.share_min_minor {
            return Err(PlatformError::invalid("amount", format!("every share needs at least {} minor units", rules.share_min_minor)));
        }
        let amounts = match split {
            Split::Lucky => draw_lucky_shares(total, shares, rules.share_min_minor, total_max, crypto::random_in),
            _ => vec![total / shares; shares as usize],
        };
        self.authorize_payment(sender, total, pin).await?;

        let now = self.now_ms();
        let id = ids::object_id(now);
        let expires = now + i64::try_from(rules.expiry_s * 1000).unwrap_or(i64::MAX / 2);
        let numeric = currency.numeric();
        let (t, c) = (title.clone(), cover.map(str::to_string));
        let rows = amounts.clone();
        self.blocking(move |db| {
            Ok(db.transaction(|conn| {
                conn.execute(
                    "INSERT INTO red_packets (id, sender_id, split, receiver_id, group_id, currency, total, shares, title, cover, created_at, expires_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'funding')",
                    params![id, sender, split.name(), receiver, group, numeric, total, shares, t.as_str(), c.clone(), now, expires],
                )?;
                for (i, a) in rows.iter().enumerate() {
                    conn.execute("INSERT INTO red_packet_shares (packet_id, idx, amount) VALUES ($1, $2, $3)", params![id, i as i64, *a])?;
                }
                Ok(())
            })?)
        })
        .await?;
        self.create_accounts(vec![NewAccount {
            id: ids::derived(id, ids::account::PACKET_ESCROW, 0),
            currency,
            code: ids::account::PACKET_ESCROW,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            user_data: id as u128,
        }])
        .await?;
        let fund = self.fund_transfer(id, sender, currency, total);
        match self.pay_within_limits(sender, currency, total, fund).await {
            Ok(()) => {
                self.set_packet_state(id, "funding", "open").await?;
            }
            Err(e) => {
                self.set_packet_state(id, "funding", "failed").await?;
                return Err(e);
            }
        }
        self.red_packet(sender, id).await
    }

    fn fund_transfer(&self, packet: i64, sender: i64, currency: Currency, total: i64) -> NewTransfer {
        NewTransfer {
            id: ids::derived(packet, ids::transfer::PACKET_FUND, 0),
            debit_account_id: ids::wallet(sender, currency.numeric()),
            credit_account_id: ids::derived(packet, ids::account::PACKET_ESCROW, 0),
            amount: total as u64,
            pending_id: 0,
            currency: Some(currency),
            code: ids::transfer::PACKET_FUND,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: packet as u128,
        }
    }

    async fn set_packet_state(&self, id: i64, from: &'static str, to: &'static str) -> Result<u64> {
        self.blocking(move |db| {
            Ok(db.with(|c| c.execute("UPDATE red_packets SET state = $1 WHERE id = $2 AND state = $3", params![to, id, from]))?)
        })
        .await
    }

    /// Claim one share. At most one per person; never more shares than the packet has.
    pub async fn claim_red_packet(&self, person: i64, id: i64) -> Result<RedPacketClaim> {
        let head = self.packet_head(id).await?;
        self.require_eligible(person, &head).await?;
        let now = self.now_ms();
        let mine = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query_one("SELECT 1 FROM red_packet_shares WHERE packet_id = $1 AND claimed_by = $2", params![id, person])
                })?)
            })
            .await?;
        if mine.is_some() {
            return Err(PlatformError::conflict("ALREADY_CLAIMED", "you have already claimed this red packet"));
        }
        if head.state == "funding" || head.state == "failed" {
            return Err(PlatformError::NotFound("red packet"));
        }
        if head.state == "expired" || now >= head.expires_at {
            return Err(PlatformError::Expired("red packet"));
        }
        // Take the lowest unclaimed share as a guard of a committer request: a storm of claims on one
        // packet shares a few database transactions instead of one each. The guard itself refuses a
        // second share for the same person (the unique index would too, but a statement in a batch
        // must not fail).
        let take = store::Effect {
            sql: "UPDATE red_packet_shares SET claimed_by = $1, claimed_at = $2 WHERE packet_id = $3 AND claimed_by IS NULL AND idx = (SELECT MIN(idx) FROM red_packet_shares WHERE packet_id = $3 AND claimed_by IS NULL) AND NOT EXISTS (SELECT 1 FROM red_packet_shares WHERE packet_id = $3 AND claimed_by = $1)",
            params: params![person, now, id].to_vec(),
        };
        let took = self.commit_rows(vec![take], Vec::new()).await?.is_ok();
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query_one("SELECT idx, amount FROM red_packet_shares WHERE packet_id = $1 AND claimed_by = $2", params![id, person])
                })?)
            })
            .await?;
        let taken = match (took, row) {
            (true, Some(row)) => (row.int(0)?, row.int(1)?),
            (false, Some(_)) => return Err(PlatformError::conflict("ALREADY_CLAIMED", "you have already claimed this red packet")),
            (_, None) => return Err(PlatformError::Exhausted),
        };
        let (idx, amount) = taken;
        self.pay_share(&head, idx, person, amount).await?;
        Ok(RedPacketClaim {
            person_id: person,
            amount: Money::from_minor(amount, head.currency).map(|m| m.to_decimal_string()).unwrap_or_default(),
            claimed_at_ms: now,
        })
    }

    /// Move a claimed share from the escrow to the claimer (idempotent). If the escrow is already empty
    /// (the packet expired and was refunded in between), the claim is undone.
    async fn pay_share(&self, head: &PacketHead, idx: i64, person: i64, amount: i64) -> Result<()> {
        let id = head.id;
        let claim = NewTransfer {
            id: ids::derived(id, ids::transfer::PACKET_CLAIM, idx as u32),
            debit_account_id: ids::derived(id, ids::account::PACKET_ESCROW, 0),
            credit_account_id: ids::wallet(person, head.currency.numeric()),
            amount: amount as u64,
            pending_id: 0,
            currency: Some(head.currency),
            code: ids::transfer::PACKET_CLAIM,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: id as u128,
        };
        // The share is marked paid in the same transaction as the payment.
        let paid = store::Effect {
            sql: "UPDATE red_packet_shares SET paid = 1 WHERE packet_id = $1 AND idx = $2",
            params: params![id, idx].to_vec(),
        };
        let outcome = match self.ledger.create_transfers_with(vec![claim], vec![paid]).await {
            Ok(results) => match results[0] {
                Ok(_) => Ok(()),
                Err(e) => Err(LedgerRefusal::Refused(e)),
            },
            Err(e) => Err(LedgerRefusal::Store(e.into())),
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(LedgerRefusal::Refused(TransferError::ExceedsCredits)) => {
                self.blocking(move |db| {
                    Ok(db.with(|c| c.execute("UPDATE red_packet_shares SET claimed_by = NULL, claimed_at = NULL WHERE packet_id = $1 AND idx = $2 AND paid = 0", params![id, idx]))?)
                })
                .await?;
                Err(PlatformError::Expired("red packet"))
            }
            Err(other) => Err(other.into()),
        }
    }

    async fn packet_head(&self, id: i64) -> Result<PacketHead> {
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query_one(
                        "SELECT id, sender_id, split, receiver_id, group_id, currency, total, shares, title, cover, state, created_at, expires_at FROM red_packets WHERE id = $1",
                        params![id],
                    )
                })?)
            })
            .await?
            .ok_or(PlatformError::NotFound("red packet"))?;
        Ok(PacketHead {
            id: row.int(0)?,
            sender: row.int(1)?,
            split: Split::parse(&row.text(2)?)?,
            receiver: row.opt_int(3)?,
            group: row.opt_int(4)?,
            currency: Currency::from_numeric(row.int(5)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?,
            total: row.int(6)?,
            shares: row.int(7)?,
            title: row.text(8)?,
            cover: row.opt_text(9)?,
            state: row.text(10)?,
            created_at: row.int(11)?,
            expires_at: row.int(12)?,
        })
    }

    async fn require_eligible(&self, person: i64, head: &PacketHead) -> Result<()> {
        let eligible = match (head.receiver, head.group) {
            (Some(r), _) => r == person,
            (None, Some(g)) => self.is_member(person, g).await?,
            _ => false,
        };
        if eligible || person == head.sender { Ok(()) } else { Err(PlatformError::NotFound("red packet")) }
    }

    pub(crate) async fn red_packet_state(&self, id: i64) -> Result<String> {
        Ok(self.red_packet_view(id).await?.state)
    }

    /// A packet as its sender or a person who may claim it sees it: who claimed what, and when.
    pub async fn red_packet(&self, person: i64, id: i64) -> Result<RedPacket> {
        let head = self.packet_head(id).await?;
        self.require_eligible(person, &head).await?;
        self.red_packet_view(id).await
    }

    async fn red_packet_view(&self, id: i64) -> Result<RedPacket> {
        let head = self.packet_head(id).await?;
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query("SELECT claimed_by, amount, claimed_at FROM red_packet_shares WHERE packet_id = $1 AND claimed_by IS NOT NULL AND paid = 1 ORDER BY claimed_at, idx", params![id]))?)
            })
            .await?;
        let money = |minor: i64| Money::from_minor(minor, head.currency).map(|m| m.to_decimal_string()).unwrap_or_default();
        let claims: Vec<RedPacketClaim> = rows
            .iter()
            .map(|r| Ok(RedPacketClaim { person_id: r.int(0)?, amount: money(r.int(1)?), claimed_at_ms: r.int(2)? }))
            .collect::<store::Result<_>>()?;
        let claimed: i64 = rows.iter().map(|r| r.int(1).unwrap_or(0)).sum();
        let state = match head.state.as_str() {
            "open" if claims.len() as i64 == head.shares => "exhausted".to_string(),
            other => other.to_string(),
        };
        Ok(RedPacket {
            id,
            sender_id: head.sender,
            split: head.split,
            receiver_id: head.receiver,
            group_id: head.group,
            currency: head.currency,
            total: money(head.total),
            shares: head.shares,
            title: head.title,
            cover: head.cover,
            state,
            claimed: money(claimed),
            claims,
            created_at_ms: head.created_at,
            expires_at_ms: head.expires_at,
        })
    }

    /// Resolve everything with a deadline, exactly once, whichever instance runs it and however often:
    /// top-ups the rail has answered, claims interrupted between their two steps, packets stuck funding,
    /// expired red packets (the rest goes back to the sender). Transfers to friends expire in the ledger.
    pub async fn run_deadlines(&self) -> Result<DeadlineReport> {
        let mut report = DeadlineReport {
            top_ups_settled: self.settle_pending_top_ups().await?,
            withdrawals_settled: self.settle_pending_withdrawals().await?,
            card_payments_settled: self.settle_interrupted_card_payments().await?,
            records_purged: self.purge_expired_records().await?,
            orders_closed: self.close_due_orders().await?,
            settlements: self.settle_due_day().await?,
            card_refunds_finished: self.finish_interrupted_card_refunds().await?,
            ..Default::default()
        };
        let now = self.now_ms();
        let stale = now - 30_000;
        // Claims whose payment never happened (crash between the two steps): pay them now.
        let unpaid = self
            .blocking(move |db| Ok(db.with(|c| c.query("SELECT packet_id, idx, claimed_by, amount FROM red_packet_shares WHERE claimed_by IS NOT NULL AND paid = 0 AND claimed_at < $1 LIMIT 1000", params![stale]))?))
            .await?;
        for r in unpaid {
            let head = self.packet_head(r.int(0)?).await?;
            if self.pay_share(&head, r.int(1)?, r.int(2)?, r.int(3)?).await.is_ok() {
                report.claims_completed += 1;
            }
        }
        // Packets stuck funding (crash between the rows and the ledger): open if the money arrived.
        let stuck = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        "SELECT id, sender_id, currency, total FROM red_packets WHERE state = 'funding' AND created_at < $1 LIMIT 1000",
                        params![stale],
                    )
                })?)
            })
            .await?;
        for r in stuck {
            let id = r.int(0)?;
            let store = self.store.clone();
            let funded = self.blocking(move |_| Ok(store.transfer(ids::derived(id, ids::transfer::PACKET_FUND, 0))?.is_some())).await?;
            self.set_packet_state(id, "funding", if funded { "open" } else { "failed" }).await?;
        }
        // Expired packets: return what is left (a balancing transfer moves exactly the escrow's balance).
        let due = self.blocking(move |db| Ok(db.with(|c| c.query("SELECT id, sender_id, currency, total FROM red_packets WHERE state IN ('open', 'failed') AND expires_at <= $1 LIMIT 1000", params![now]))?)).await?;
        for r in due {
            let (id, sender, total) = (r.int(0)?, r.int(1)?, r.int(3)?);
            let currency = Currency::from_numeric(r.int(2)? as u16).map_err(|e| PlatformError::Internal(e.to_string()))?;
            let refund = NewTransfer {
                id: ids::derived(id, ids::transfer::PACKET_REFUND, 0),
                debit_account_id: ids::derived(id, ids::account::PACKET_ESCROW, 0),
                credit_account_id: ids::wallet(sender, currency.numeric()),
                amount: total as u64,
                pending_id: 0,
                currency: Some(currency),
                code: ids::transfer::PACKET_REFUND,
                flags: TransferFlags::BALANCING_DEBIT,
                timeout_s: 0,
                user_data: id as u128,
            };
            match self.ledger_one(refund).await {
                Ok(()) => report.red_packets_refunded += 1,
                // Nothing left: every share was claimed (or the packet was never funded).
                Err(LedgerRefusal::Refused(TransferError::ExceedsCredits)) => {}
                Err(other) => return Err(other.into()),
            }
            self.blocking(move |db| {
                Ok(db.with(|c| {
                    c.execute("UPDATE red_packets SET state = 'expired' WHERE id = $1 AND state IN ('open', 'failed')", params![id])
                })?)
            })
            .await?;
        }
        Ok(report)
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeadlineReport {
    pub top_ups_settled: usize,
    /// Expired sessions and idempotency keys deleted.
    pub records_purged: u64,
    pub withdrawals_settled: usize,
    pub card_payments_settled: usize,
    pub claims_completed: usize,
    pub red_packets_refunded: usize,
    pub orders_closed: usize,
    pub settlements: usize,
    pub card_refunds_finished: usize,
}

struct PacketHead {
    id: i64,
    sender: i64,
    split: Split,
    receiver: Option<i64>,
    group: Option<i64>,
    currency: Currency,
    total: i64,
    shares: i64,
    title: String,
    cover: Option<String>,
    state: String,
    created_at: i64,
    expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
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

/// A red-packet cover a merchant published.
#[derive(Debug, Clone, Serialize)]
pub struct Cover {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub merchant: String,
    pub title: String,
    pub image_url: String,
    pub created_at_ms: i64,
}

/// Covers listed at most per page.
pub const COVERS_PAGE_MAX: i64 = 100;

impl Platform {
    /// A merchant publishes a cover: an https image (served by the merchant's CDN) and a title.
    pub async fn publish_cover(&self, mchid: &str, title: &str, image_url: &str) -> Result<Cover> {
        let merchant = self.merchant(mchid).await?;
        let title = parse_name("title", title, self.config.name_chars_max)?;
        if !image_url.starts_with("https://") || image_url.len() > 512 || image_url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(PlatformError::invalid("image_url", "an https:// URL of at most 512 characters"));
        }
        let now = self.now_ms();
        let id = crate::ids::object_id(now);
        let (merchant_id, t, url) = (merchant.merchant.id, title.clone(), image_url.to_string());
        self.blocking(move |db| {
            Ok(db.with(|c| {
                c.execute(
                    "INSERT INTO red_packet_covers (id, merchant_id, title, image_url, created_at) VALUES ($1, $2, $3, $4, $5)",
                    params![id, merchant_id, t.as_str(), url.as_str(), now],
                )
            })?)
        })
        .await?;
        self.red_packet_cover(id).await
    }

    pub async fn red_packet_cover(&self, id: i64) -> Result<Cover> {
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query_one("SELECT c.id, m.name, c.title, c.image_url, c.created_at FROM red_packet_covers c JOIN merchants m ON m.id = c.merchant_id WHERE c.id = $1", params![id]))?)
            })
            .await?
            .ok_or(PlatformError::NotFound("cover"))?;
        cover_from(&row)
    }

    /// Published covers, newest first.
    pub async fn red_packet_covers(&self, limit: i64) -> Result<Vec<Cover>> {
        let limit = limit.clamp(1, COVERS_PAGE_MAX);
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query("SELECT c.id, m.name, c.title, c.image_url, c.created_at FROM red_packet_covers c JOIN merchants m ON m.id = c.merchant_id ORDER BY c.created_at DESC, c.id DESC LIMIT $1", params![limit]))?)
            })
            .await?;
        rows.iter().map(cover_from).collect()
    }
}

fn cover_from(r: &store::Row) -> Result<Cover> {
    Ok(Cover { id: r.int(0)?, merchant: r.text(1)?, title: r.text(2)?, image_url: r.text(3)?, created_at_ms: r.int(4)? })
}
