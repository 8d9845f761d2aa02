//! What the deadline task does for red packets: expired packets give back what is left (a
//! `balancing_debit` moves exactly the escrow's balance, in one transaction with the packet marked
//! expired); and, for packets and claims older releases left half-done, their completion.

use super::{PacketState, RedPackets, store};
use crate::core::{Commit, Committed};
use crate::{PlatformError, Result, chart};
use ledger::{AMOUNT_ALL, NewTransfer, TransferError, TransferFlags};

/// Packets and claims a sweep round handles at most.
const SWEEP_PACKETS_MAX: i64 = 1000;
/// How old a half-done packet or claim must be before the sweep completes it.
const STALE_MS: i64 = 30_000;

/// What one red-packet sweep did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Swept {
    pub refunded: usize,
    pub claims_completed: usize,
}

impl RedPackets {
    pub(crate) async fn sweep(&self) -> Result<Swept> {
        let claims_completed = self.complete_unpaid_claims().await?;
        self.settle_stuck_funding().await?;
        Ok(Swept { refunded: self.refund_expired().await?, claims_completed })
    }

    /// Give back what expired packets hold; the packet is expired with its refund, or not at all.
    async fn refund_expired(&self) -> Result<usize> {
        let now = self.core.now_ms();
        let due = self.core.read(move |c| store::due(c, now, SWEEP_PACKETS_MAX)).await?;
        let mut refunded = 0;
        for p in due {
            let refund = NewTransfer {
                id: chart::derived(p.id, chart::transfer::PACKET_REFUND, 0),
                debit_account_id: p.escrow(),
                credit_account_id: chart::wallet(p.sender, p.currency),
                amount: AMOUNT_ALL,
                pending_id: 0,
                currency: Some(p.currency),
                code: chart::transfer::PACKET_REFUND,
                flags: TransferFlags::BALANCING_DEBIT,
                timeout_s: 0,
                user_data: p.id as u128,
            };
            let guard = store::set_state(p.id, [PacketState::Open, PacketState::Failed], PacketState::Expired);
            match self.core.commit(Commit { guards: vec![guard], transfers: vec![refund], effects: Vec::new() }).await? {
                Committed::Applied(results) => match results[0] {
                    Ok(_) => {
                        let moved = self.core.ledger_transfer(refund.id).await?.is_some_and(|(t, _)| t.amount > 0);
                        refunded += usize::from(moved);
                    }
                    // A packet an older release never funded has no escrow: nothing to give back.
                    Err(TransferError::DebitAccountNotFound) => {
                        let effect = store::set_state(p.id, [PacketState::Open, PacketState::Failed], PacketState::Expired);
                        self.core.write(move |c| store::run(c, &effect)).await?;
                    }
                    Err(e) => return Err(PlatformError::Internal(format!("refunding red packet {}: {}", p.id, e.code()))),
                },
                Committed::GuardFailed(_) => {} // another instance expired it
            }
            self.dealer.forget(p.id);
        }
        Ok(refunded)
    }

    /// Claims an older release took but never paid (a crash between its two steps): pay them now, or
    /// give the share back if the escrow is empty.
    async fn complete_unpaid_claims(&self) -> Result<usize> {
        let before = self.core.now_ms() - STALE_MS;
        let unpaid = self.core.read(move |c| store::unpaid_claims(c, before, SWEEP_PACKETS_MAX)).await?;
        let mut completed = 0;
        for (packet, idx, person, amount) in unpaid {
            let p = self.packet(packet).await?;
            let payment = NewTransfer {
                id: chart::derived(packet, chart::transfer::PACKET_CLAIM, u32::try_from(idx).expect("share index fits u32")),
                debit_account_id: p.escrow(),
                credit_account_id: chart::wallet(person, p.currency),
                amount: chart::ledger_amount(amount, p.currency)?,
                pending_id: 0,
                currency: Some(p.currency),
                code: chart::transfer::PACKET_CLAIM,
                flags: TransferFlags::empty(),
                timeout_s: 0,
                user_data: packet as u128,
            };
            let commit = Commit { guards: Vec::new(), transfers: vec![payment], effects: vec![store::mark_paid(packet, idx)] };
            match self.core.commit(commit).await? {
                Committed::Applied(results) if results[0].is_ok() => completed += 1,
                _ => self.core.write(move |c| store::release_unpaid(c, packet, idx)).await?,
            }
        }
        Ok(completed)
    }

    /// Packets an older release left `funding` (a crash between the rows and the ledger): open if the
    /// money arrived, failed if not.
    async fn settle_stuck_funding(&self) -> Result<()> {
        let before = self.core.now_ms() - STALE_MS;
        let stuck =
            self.core.read(move |c| store::packets_in(c, [PacketState::Funding, PacketState::Funding], before, SWEEP_PACKETS_MAX)).await?;
        for p in stuck {
            let funded = self.core.ledger_transfer(chart::derived(p.id, chart::transfer::PACKET_FUND, 0)).await?.is_some();
            let to = if funded { PacketState::Open } else { PacketState::Failed };
            let effect = store::set_state(p.id, [PacketState::Funding, PacketState::Funding], to);
            self.core.write(move |c| store::run(c, &effect)).await?;
        }
        Ok(())
    }
}
