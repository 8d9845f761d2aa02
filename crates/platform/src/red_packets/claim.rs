//! Claiming a share. Each instance deals a packet's unclaimed shares from memory (loaded once, refilled
//! when it runs dry), one to each claimer; a claim commits its share (taken and paid) with the payment
//! from the escrow, so concurrent claims on one packet share the committer's transactions instead of
//! fighting over rows. A share another instance took in between is skipped; a claim the ledger refuses
//! (the packet expired and its escrow went back) takes nothing.

use super::{Packet, PacketState, RedPacketClaim, RedPackets, Split, store};
use crate::core::{Commit, Committed};
use crate::{Conflict, PersonId, PlatformError, Result, chart, wallet};
use ledger::{NewTransfer, TransferError, TransferFlags};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Packets whose shares an instance keeps dealing at most (past it the dealer starts over).
const PACKETS_DEALT_MAX: usize = 10_000;
/// Shares a claim may find taken (by other instances) before it gives up for now.
const CLAIM_ATTEMPTS_MAX: usize = 64;

/// Each packet's unclaimed shares, as this instance knows them: (idx, amount).
#[derive(Default)]
pub(super) struct Dealer(Mutex<HashMap<i64, VecDeque<(i64, i64)>>>);

impl Dealer {
    fn next(&self, packet: i64) -> Option<Option<(i64, i64)>> {
        let mut packets = self.0.lock().expect("dealer lock");
        packets.get_mut(&packet).map(|shares| shares.pop_front())
    }

    fn fill(&self, packet: i64, shares: Vec<(i64, i64)>) {
        let mut packets = self.0.lock().expect("dealer lock");
        if packets.len() >= PACKETS_DEALT_MAX {
            packets.clear();
        }
        packets.insert(packet, shares.into());
    }

    /// A share dealt but not taken (its claimer held one already) goes back for the next claimer.
    fn put_back(&self, packet: i64, share: (i64, i64)) {
        if let Some(shares) = self.0.lock().expect("dealer lock").get_mut(&packet) {
            shares.push_front(share);
        }
    }

    pub(super) fn forget(&self, packet: i64) {
        self.0.lock().expect("dealer lock").remove(&packet);
    }
}

impl RedPackets {
    /// Claim one share. At most one per person; never more shares than the packet has.
    pub async fn claim(&self, person: PersonId, id: i64) -> Result<RedPacketClaim> {
        let p = self.packet(id).await?;
        self.require_eligible(person, &p).await?;
        if p.split == Split::Single && p.receiver != Some(person) {
            return Err(PlatformError::Forbidden("a 1:1 red packet is for its receiver".into()));
        }
        self.people.require_p2p_allowed(p.sender, person).await?;
        let frozen = crate::risk::FreezeKind::Person;
        crate::risk::freezes::refuse_if_frozen(&self.core, frozen, person.to_string(), crate::risk::Flow::In).await?;
        if self.core.read(move |c| store::has_claimed(c, id, person)).await? {
            return Err(PlatformError::conflict(Conflict::AlreadyClaimed, "you have already claimed this red packet"));
        }
        let now = self.core.now_ms();
        match p.state {
            PacketState::Funding | PacketState::Failed => return Err(PlatformError::NotFound("red packet")),
            PacketState::Expired => return Err(PlatformError::Expired("red packet")),
            PacketState::Open if now >= p.expires_at_ms => return Err(PlatformError::Expired("red packet")),
            PacketState::Open => {}
        }
        for _ in 0..CLAIM_ATTEMPTS_MAX {
            let Some(share) = self.deal(id).await? else { return Err(PlatformError::Exhausted) };
            match self.take(&p, share, person, now).await? {
                Some(claim) => return Ok(claim),
                None if self.core.read(move |c| store::has_claimed(c, id, person)).await? => {
                    self.dealer.put_back(id, share);
                    return Err(PlatformError::conflict(Conflict::AlreadyClaimed, "you have already claimed this red packet"));
                }
                None => {} // another instance took it: the next one
            }
        }
        Err(PlatformError::Internal(format!("red packet {id}: {CLAIM_ATTEMPTS_MAX} shares in a row were taken elsewhere")))
    }

    /// The next share to try, refilling from the database when this instance's view runs dry.
    async fn deal(&self, packet: i64) -> Result<Option<(i64, i64)>> {
        if let Some(Some(share)) = self.dealer.next(packet) {
            return Ok(Some(share));
        }
        let shares = self.core.read(move |c| store::unclaimed(c, packet)).await?;
        if shares.is_empty() {
            self.dealer.forget(packet);
            return Ok(None);
        }
        self.dealer.fill(packet, shares);
        Ok(self.dealer.next(packet).flatten())
    }

    /// Take one share and pay it, in one commit. `None` when the share was gone or the person holds one.
    async fn take(&self, p: &Packet, (idx, amount): (i64, i64), person: PersonId, now: i64) -> Result<Option<RedPacketClaim>> {
        let payment = NewTransfer {
            id: chart::derived(p.id, chart::transfer::PACKET_CLAIM, u32::try_from(idx).expect("share index fits u32")),
            debit_account_id: p.escrow(),
            credit_account_id: chart::wallet(person, p.currency),
            amount: chart::ledger_amount(amount, p.currency)?,
            pending_id: 0,
            currency: Some(p.currency),
            code: chart::transfer::PACKET_CLAIM,
            flags: TransferFlags::empty(),
            timeout_s: 0,
            user_data: p.id as u128,
        };
        let commit = Commit { guards: vec![store::take_share(p.id, idx, person, now)], transfers: vec![payment], effects: Vec::new() };
        match self.core.commit(commit).await? {
            Committed::GuardFailed(_) => Ok(None),
            Committed::Applied(results) => match results[0] {
                Ok(_) => Ok(Some(RedPacketClaim { person_id: person, amount: wallet::decimal(amount, p.currency), claimed_at_ms: now })),
                // The escrow went back to the sender (the packet expired meanwhile).
                Err(TransferError::ExceedsCredits) => Err(PlatformError::Expired("red packet")),
                Err(e) => Err(PlatformError::Internal(format!("paying a red-packet share: {}", e.code()))),
            },
        }
    }
}
