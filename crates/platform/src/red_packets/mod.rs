//! Red packets: 1:1 (one share for a friend) and group packets (N shares, lucky or equal split).
//!
//! Money: the sender's wallet funds an escrow account of the packet's own, in one transaction with the
//! packet's row and its shares; each claim moves one share from the escrow to the claimer, in one
//! transaction with the share marked taken; at expiry a *balancing* transfer returns whatever is left, in
//! one transaction with the packet marked expired. The ledger orders the refund against late claims, so
//! no cent is paid twice or lost.
//!
//! Shares are drawn when the packet is made ("double average", every share at least the minimum, the sum
//! exact), so a claim is "take an unclaimed share": each instance deals a packet's unclaimed shares out
//! to its claimers from memory, and the claims' commits share the committer's batches, so a storm of
//! claims on one packet is a queue, not a lock fight.

mod claim;
mod covers;
mod expiry;
mod shares;
mod store;

pub use covers::{COVERS_PAGE_MAX, Cover};
pub use shares::draw_lucky_shares;

use crate::core::{Commit, Committed, Core};
use crate::history::{HistoryItem, HistoryKind, Window};
use crate::merchants::Merchants;
use crate::people::{Direction, People, parse_name};
use crate::social::Social;
use crate::wallet::{self, parse_amount, parse_currency};
use crate::{Conflict, PersonId, PlatformError, Result, chart, crypto};
use ledger::{AccountFlags, NewAccount, NewTransfer, TransferFlags};
use money::{Currency, Money};
use serde::Serialize;
use std::sync::Arc;

text_enum! {
    pub enum Split {
        /// One share, for one friend.
        Single => "single",
        /// Random shares (double average).
        Lucky => "lucky",
        /// Every share the same.
        Equal => "equal",
    }
}

text_enum! {
    /// A packet's state as stored (`exhausted` is derived from its claims).
    pub(crate) enum PacketState {
        /// Older releases: the escrow not yet funded.
        Funding => "funding",
        Open => "open",
        /// The rest went back to the sender.
        Expired => "expired",
        /// Older releases: never funded.
        Failed => "failed",
    }
}

text_enum! {
    /// A packet's state as people see it.
    pub enum RedPacketState {
        Funding => "funding",
        Open => "open",
        Exhausted => "exhausted",
        Expired => "expired",
        Failed => "failed",
    }
}

/// A packet as stored.
#[derive(Debug, Clone)]
pub(crate) struct Packet {
    pub id: i64,
    pub sender: PersonId,
    pub split: Split,
    pub receiver: Option<PersonId>,
    pub group: Option<i64>,
    pub currency: Currency,
    pub total_minor: i64,
    pub shares: i64,
    pub title: String,
    pub cover: Option<String>,
    pub state: PacketState,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

impl Packet {
    fn view_state(&self, claimed: i64) -> RedPacketState {
        match self.state {
            PacketState::Open if claimed == self.shares => RedPacketState::Exhausted,
            PacketState::Open => RedPacketState::Open,
            PacketState::Funding => RedPacketState::Funding,
            PacketState::Expired => RedPacketState::Expired,
            PacketState::Failed => RedPacketState::Failed,
        }
    }

    fn escrow(&self) -> u128 {
        chart::derived(self.id, chart::account::PACKET_ESCROW, 0)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RedPacketClaim {
    pub person_id: PersonId,
    pub amount: String,
    pub claimed_at_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RedPacket {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub sender_id: PersonId,
    pub split: Split,
    pub receiver_id: Option<PersonId>,
    #[serde(serialize_with = "crate::ids::opt_as_string")]
    pub group_id: Option<i64>,
    pub currency: Currency,
    pub total: String,
    pub shares: i64,
    pub title: String,
    pub cover: Option<String>,
    pub state: RedPacketState,
    pub claimed: String,
    pub claims: Vec<RedPacketClaim>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// What a person asks for when sending a red packet.
#[derive(Debug, Clone, Copy)]
pub struct SendRedPacket<'a> {
    pub split: Split,
    pub to_person: Option<PersonId>,
    pub to_group: Option<i64>,
    pub currency: &'a str,
    /// The total (single, lucky) or the amount of each share (equal).
    pub amount: &'a str,
    pub shares: i64,
    pub title: Option<&'a str>,
    pub cover: Option<&'a str>,
    pub pin: Option<&'a str>,
}

pub struct RedPackets {
    core: Arc<Core>,
    people: Arc<People>,
    social: Arc<Social>,
    merchants: Arc<Merchants>,
    dealer: claim::Dealer,
}

impl RedPackets {
    pub(crate) fn new(core: Arc<Core>, people: Arc<People>, social: Arc<Social>, merchants: Arc<Merchants>) -> RedPackets {
        RedPackets { core, people, social, merchants, dealer: Default::default() }
    }

    pub async fn send(&self, sender: PersonId, request: SendRedPacket<'_>, key: Option<&str>) -> Result<RedPacket> {
        let packet = self.parse(sender, request, key).await?;
        let id = packet.id;
        if let Some(existing) = self.core.read(move |c| store::packet(c, id)).await? {
            let same = existing.sender == sender && existing.split == packet.split && existing.total_minor == packet.total_minor;
            if !same || existing.shares != packet.shares || existing.receiver != packet.receiver || existing.group != packet.group {
                return Err(PlatformError::conflict(
                    Conflict::IdempotencyKeyReused,
                    "this Idempotency-Key was used for a different red packet",
                ));
            }
            return self.red_packet(sender, id).await;
        }
        let amounts = self.draw(&packet);
        let kind = crate::risk::engine::Kind::RedPacket;
        let judged = crate::risk::Attempt {
            payee: packet.receiver,
            ..crate::risk::Attempt::of(kind, sender, packet.currency.numeric(), packet.total_minor)
        };
        self.people.assess(&judged, request.pin).await?;
        self.people.authorize_payment(sender, packet.total_minor, request.pin).await?;
        let escrow = NewAccount {
            id: packet.escrow(),
            currency: packet.currency,
            code: chart::account::PACKET_ESCROW,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            user_data: packet.id as u128,
        };
        self.core.accounts(vec![escrow]).await?;
        let fund = NewTransfer {
            id: chart::derived(packet.id, chart::transfer::PACKET_FUND, 0),
            debit_account_id: chart::wallet(sender, packet.currency),
            credit_account_id: packet.escrow(),
            amount: chart::ledger_amount(packet.total_minor, packet.currency)?,
            pending_id: 0,
            currency: Some(packet.currency),
            code: chart::transfer::PACKET_FUND,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: packet.id as u128,
        };
        let chain = self.people.limited(sender, Direction::Out, packet.currency, packet.total_minor, None, fund).await?;
        let effects = amounts.iter().enumerate().map(|(i, a)| store::insert_share(packet.id, i as i64, *a)).collect();
        let commit = Commit { guards: vec![store::insert(&packet)], transfers: chain.chain.clone(), effects };
        match self.core.commit(commit).await? {
            Committed::Applied(results) => {
                chain.outcome(&results)?;
                self.people.risk.record(&judged, false);
            }
            Committed::GuardFailed(_) => {} // the same request raced in first: follow it
        }
        self.red_packet(sender, packet.id).await
    }

    /// The request checked: who may receive it, the amounts within the rules.
    async fn parse(&self, sender: PersonId, r: SendRedPacket<'_>, key: Option<&str>) -> Result<Packet> {
        let currency = parse_currency(r.currency)?;
        let amount = parse_amount("amount", r.amount, currency)?;
        let rules = self.core.config.red_packets.clone();
        let title = parse_name("title", r.title.unwrap_or("恭喜发财，大吉大利"), self.core.config.name_chars_max)?;
        // A cover is one a merchant published (its id); the packet keeps the id.
        if let Some(c) = r.cover {
            let id = crate::ids::parse("cover", c)?;
            self.cover(id).await.map_err(|_| PlatformError::invalid("cover", "no such published cover"))?;
        }
        self.check_audience(sender, &r, currency, &rules).await?;
        // Equal split: the sender names the amount per share.
        let total = if r.split == Split::Equal {
            amount.minor().checked_mul(r.shares).ok_or_else(|| PlatformError::invalid("amount", "too large"))?
        } else {
            amount.minor()
        };
        let total_max = Money::from_major(rules.total_max_major, currency)?;
        if total > total_max.minor() {
            return Err(PlatformError::invalid("amount", format!("a red packet holds at most {total_max}")));
        }
        if total < r.shares * rules.share_min_minor {
            return Err(PlatformError::invalid("amount", format!("every share needs at least {} minor units", rules.share_min_minor)));
        }
        let now = self.core.now_ms();
        Ok(Packet {
            id: self.core.request_id("red-packet", sender, key),
            sender,
            split: r.split,
            receiver: r.to_person,
            group: r.to_group,
            currency,
            total_minor: total,
            shares: r.shares,
            title,
            cover: r.cover.map(str::to_string),
            state: PacketState::Open,
            created_at_ms: now,
            expires_at_ms: now + i64::try_from(rules.expiry_s * 1000).unwrap_or(i64::MAX / 2),
        })
    }

    async fn check_audience(
        &self,
        sender: PersonId,
        r: &SendRedPacket<'_>,
        currency: Currency,
        rules: &crate::RedPacketRules,
    ) -> Result<()> {
        match (r.split, r.to_person, r.to_group) {
            (Split::Single, Some(to), None) => {
                if r.shares != 1 {
                    return Err(PlatformError::invalid("shares", "a 1:1 red packet has exactly one share"));
                }
                self.social.require_friends(sender, to).await?;
                self.people.require_p2p_allowed(sender, to).await?;
                let receiver = self.people.person(to).await?;
                let holds = self.core.config.region(&receiver.region).is_some_and(|g| g.currencies.contains(&currency));
                if !holds {
                    return Err(PlatformError::invalid("currency", format!("the receiver's wallet does not hold {currency}")));
                }
            }
            (Split::Lucky | Split::Equal, None, Some(g)) => {
                if !self.social.is_member(sender, g).await? {
                    return Err(PlatformError::Forbidden("you can only send red packets into groups you belong to".into()));
                }
                if !(1..=i64::from(rules.shares_max)).contains(&r.shares) {
                    return Err(PlatformError::invalid("shares", format!("1 to {} shares", rules.shares_max)));
                }
            }
            (Split::Single, _, _) => return Err(PlatformError::invalid("to", "a 1:1 red packet goes to one friend (to_person_id)")),
            _ => return Err(PlatformError::invalid("to", "a group red packet goes to a group (to_group_id)")),
        }
        let sender_person = self.people.person(sender).await?;
        if !self.core.config.region(&sender_person.region).is_some_and(|g| g.currencies.contains(&currency)) {
            return Err(PlatformError::invalid("currency", format!("{currency} is not enabled for this wallet's region")));
        }
        Ok(())
    }

    fn draw(&self, p: &Packet) -> Vec<i64> {
        let rules = &self.core.config.red_packets;
        let cap = Money::from_major(rules.total_max_major, p.currency).map(|m| m.minor()).unwrap_or(p.total_minor);
        match p.split {
            Split::Lucky => draw_lucky_shares(p.total_minor, p.shares, rules.share_min_minor, cap.max(p.total_minor), crypto::random_in),
            _ => vec![p.total_minor / p.shares; usize::try_from(p.shares).expect("at most shares_max")],
        }
    }

    async fn packet(&self, id: i64) -> Result<Packet> {
        self.core.read(move |c| store::packet(c, id)).await?.ok_or(PlatformError::NotFound("red packet"))
    }

    /// Who may see and claim a packet: its receiver, its group's members, its sender.
    async fn require_eligible(&self, person: PersonId, p: &Packet) -> Result<()> {
        let eligible = match (p.receiver, p.group) {
            (Some(r), _) => r == person,
            (None, Some(g)) => self.social.is_member(person, g).await?,
            _ => false,
        };
        if eligible || person == p.sender { Ok(()) } else { Err(PlatformError::NotFound("red packet")) }
    }

    /// Open packets this person may open (sent to them, or to one of their groups), newest first,
    /// `limit` at most (1 to 100).
    pub async fn openable(&self, person: PersonId, limit: i64) -> Result<Vec<RedPacket>> {
        let (now, limit) = (self.core.now_ms(), limit.clamp(1, 100));
        let ids = self.core.read(move |c| store::openable(c, person, now, limit)).await?;
        let mut packets = Vec::with_capacity(ids.len());
        for id in ids {
            packets.push(self.red_packet(person, id).await?);
        }
        Ok(packets)
    }

    /// A packet as its sender or a person who may claim it sees it: who claimed what, and when.
    pub async fn red_packet(&self, person: PersonId, id: i64) -> Result<RedPacket> {
        let p = self.packet(id).await?;
        self.require_eligible(person, &p).await?;
        let claims = self.core.read(move |c| store::claims(c, id)).await?;
        let claimed: i64 = claims.iter().map(|(_, a, _)| *a).sum();
        Ok(RedPacket {
            id,
            sender_id: p.sender,
            split: p.split,
            receiver_id: p.receiver,
            group_id: p.group,
            currency: p.currency,
            total: wallet::decimal(p.total_minor, p.currency),
            shares: p.shares,
            title: p.title.clone(),
            cover: p.cover.clone(),
            state: p.view_state(claims.len() as i64),
            claimed: wallet::decimal(claimed, p.currency),
            claims: claims
                .into_iter()
                .map(|(person_id, amount, at)| RedPacketClaim { person_id, amount: wallet::decimal(amount, p.currency), claimed_at_ms: at })
                .collect(),
            created_at_ms: p.created_at_ms,
            expires_at_ms: p.expires_at_ms,
        })
    }

    /// A person's packets sent or shares received, newest first.
    pub(crate) async fn history(&self, person: PersonId, kind: HistoryKind, window: Window) -> Result<Vec<HistoryItem>> {
        if kind == HistoryKind::RedPacketSent {
            let rows = self.core.read(move |c| store::sent(c, person, window)).await?;
            return Ok(rows
                .into_iter()
                .map(|(p, claimed)| HistoryItem {
                    kind,
                    id: p.id,
                    currency: p.currency,
                    amount_minor: -p.total_minor,
                    counterparty_id: p.receiver,
                    state: p.view_state(claimed).as_str(),
                    created_at_ms: p.created_at_ms,
                })
                .collect());
        }
        let rows = self.core.read(move |c| store::received(c, person, window)).await?;
        Ok(rows
            .into_iter()
            .map(|r| HistoryItem {
                kind,
                id: r.packet,
                currency: r.currency,
                amount_minor: r.amount_minor,
                counterparty_id: Some(r.sender),
                state: "received",
                created_at_ms: r.claimed_at_ms,
            })
            .collect())
    }
}
