//! `qianbao ledger verify`: recompute every balance from the journal and check every invariant.
//!
//! The stored balances are a materialised view of the journal. Verification starts from empty accounts,
//! replays every committed transfer in timestamp order through the same engine that accepted it (so each
//! must succeed again), applies each recorded expiry at its own timestamp, then compares every account's
//! balances and flags and every pending transfer's state with what is stored, and checks the invariants
//! (per currency Σ debits = Σ credits, no balance flag violated, pending balances = open pending transfers,
//! no pending transfer resolved twice).

use crate::Result;
use crate::backend::Backend;
use ledger::{Account, AccountFlags, Changes, Id, Ledger, PendingRecord, PendingState};
use money::Currency;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub accounts: usize,
    pub transfers: usize,
    pub pending_open: usize,
    /// Per currency: Σ posted debits (= Σ posted credits when the books balance).
    pub posted_by_currency: BTreeMap<Currency, u128>,
    /// Every difference found; empty when the books are right.
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Stop listing after this many problems (the count of the rest is still reported).
const PROBLEMS_LISTED_MAX: usize = 100;

pub(crate) fn verify(backend: &mut dyn Backend) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut problems: Vec<String> = Vec::new();
    let mut stored: HashMap<Id, Account> = HashMap::new();
    backend.scan_accounts(&mut |a| {
        stored.insert(a.id, a);
    })?;
    let mut replay = Ledger::new();
    for a in stored.values() {
        replay.load_account(Account {
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
            flags: a.flags.without(AccountFlags::CLOSED),
            ..*a
        });
    }
    let mut records: HashMap<Id, PendingRecord> = HashMap::new();
    backend.scan_pending(&mut |id, r| {
        records.insert(id, r);
    })?;
    let mut expiries: Vec<(u64, Id)> =
        records.iter().filter(|(_, r)| r.state == PendingState::Expired).map(|(id, r)| (r.timestamp, *id)).collect();
    expiries.sort_unstable();
    let mut next_expiry = 0;
    let mut transfers = 0usize;
    backend.scan_transfers(&mut |t| {
        transfers += 1;
        while next_expiry < expiries.len() && expiries[next_expiry].0 < t.timestamp {
            let (ts, id) = expiries[next_expiry];
            if !replay.expire(id, ts, &mut Changes::default()) {
                problems.push(format!("pending transfer {id} is recorded as expired at {ts} but could not expire then"));
            }
            replay.forget_settled(id);
            next_expiry += 1;
        }
        if let Err(e) = replay.replay_transfer(&t) {
            problems.push(format!("transfer {} does not replay: {}", t.id, e.code()));
        }
        // Memory stays bounded by the accounts and the open holds: a settled transfer is never looked
        // up again (a second post or void of one hold fails its own replay above).
        replay.forget_settled(t.id);
        if t.pending_id != 0 {
            replay.forget_settled(t.pending_id);
        }
    })?;
    for &(ts, id) in &expiries[next_expiry..] {
        if !replay.expire(id, ts, &mut Changes::default()) {
            problems.push(format!("pending transfer {id} is recorded as expired at {ts} but could not expire then"));
        }
    }
    for (id, account) in &stored {
        match replay.account(*id) {
            Some(r) if r == account => {}
            Some(r) => problems.push(format!(
                "account {id}: stored (dp {}, dpo {}, cp {}, cpo {}, flags {:?}) but the journal gives (dp {}, dpo {}, cp {}, cpo {}, flags {:?})",
                account.debits_pending,
                account.debits_posted,
                account.credits_pending,
                account.credits_posted,
                account.flags,
                r.debits_pending,
                r.debits_posted,
                r.credits_pending,
                r.credits_posted,
                r.flags
            )),
            None => problems.push(format!("account {id} vanished in replay")),
        }
        *report.posted_by_currency.entry(account.currency).or_default() += u128::from(account.debits_posted);
    }
    for (id, record) in &records {
        if replay.pending_record(*id).map(|r| r.state) != Some(record.state) {
            problems.push(format!(
                "pending transfer {id}: stored state {:?}, journal gives {:?}",
                record.state,
                replay.pending_record(*id)
            ));
        }
    }
    if let Err(e) = replay.check_invariants() {
        problems.push(e);
    }
    report.accounts = stored.len();
    report.transfers = transfers;
    report.pending_open = records.values().filter(|r| r.state == PendingState::Pending).count();
    if problems.len() > PROBLEMS_LISTED_MAX {
        let more = problems.len() - PROBLEMS_LISTED_MAX;
        problems.truncate(PROBLEMS_LISTED_MAX);
        problems.push(format!("... and {more} more"));
    }
    report.problems = problems;
    Ok(report)
}
