//! The ledger engine's behaviour, black-box through its public API.

use ledger::*;
use money::Currency;

fn cny() -> Currency {
    Currency::from_code("CNY").unwrap()
}
fn hkd() -> Currency {
    Currency::from_code("HKD").unwrap()
}

const WALLET: u16 = 1;
const RAIL: u16 = 2;
const PAY: u16 = 10;

fn account(id: Id, currency: Currency, flags: AccountFlags) -> NewAccount {
    NewAccount { id, currency, code: WALLET, flags, user_data: 0 }
}

fn transfer(id: Id, debit: Id, credit: Id, amount: u64) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        pending_id: 0,
        currency: Some(cny()),
        code: PAY,
        flags: TransferFlags::empty(),
        timeout_s: 0,
        user_data: 0,
    }
}

fn with(t: NewTransfer, flags: TransferFlags) -> NewTransfer {
    NewTransfer { flags, ..t }
}

fn resolve(id: Id, pending_id: Id, amount: u64, flags: TransferFlags) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: 0,
        credit_account_id: 0,
        amount,
        pending_id,
        currency: None,
        code: 0,
        flags,
        timeout_s: 0,
        user_data: 0,
    }
}

struct World {
    ledger: Ledger,
    clock: u64,
}

const SECOND: u64 = 1_000_000_000;

impl World {
    /// Accounts 1 (rail, may go "negative"), 2 and 3 (wallets that may not), 4 (HKD wallet); 2 holds 100.00.
    fn new() -> World {
        let mut w = World { ledger: Ledger::new(), clock: 1_000 * SECOND };
        let rail = NewAccount { code: RAIL, ..account(1, cny(), AccountFlags::empty()) };
        let results = w.accounts(&[
            rail,
            account(2, cny(), AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(3, cny(), AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(4, hkd(), AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        ]);
        assert!(results.iter().all(|r| *r == Ok(Outcome::Created)));
        assert_eq!(w.one(transfer(1000, 1, 2, 10_000)), Ok(Outcome::Created));
        w
    }

    fn tick(&mut self, n: u64) -> u64 {
        let t = self.clock;
        self.clock += n.max(1);
        t
    }

    fn accounts(&mut self, batch: &[NewAccount]) -> Vec<AccountResult> {
        let t = self.tick(batch.len() as u64);
        self.ledger.create_accounts(batch, t, &mut Changes::default())
    }

    fn transfers(&mut self, batch: &[NewTransfer]) -> Vec<TransferResult> {
        let t = self.tick(batch.len() as u64);
        let results = self.ledger.create_transfers(batch, t, &mut Changes::default());
        self.ledger.check_invariants().unwrap();
        results
    }

    fn one(&mut self, t: NewTransfer) -> TransferResult {
        self.transfers(&[t])[0]
    }

    fn balance(&self, id: Id) -> (u64, u64, u64, u64) {
        let a = self.ledger.account(id).unwrap();
        (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
    }
}

#[test]
fn a_transfer_moves_money_and_balances_the_books() {
    let mut w = World::new();
    assert_eq!(w.one(transfer(1, 2, 3, 2_500)), Ok(Outcome::Created));
    assert_eq!(w.balance(2), (0, 2_500, 0, 10_000));
    assert_eq!(w.balance(3), (0, 0, 0, 2_500));
    assert_eq!(w.ledger.account(2).unwrap().available(), 7_500);
}

#[test]
fn insufficient_funds_is_exceeds_credits_and_changes_nothing() {
    let mut w = World::new();
    assert_eq!(w.one(transfer(1, 2, 3, 10_001)), Err(TransferError::ExceedsCredits));
    assert_eq!(w.balance(2), (0, 0, 0, 10_000));
    assert!(w.ledger.transfer(1).is_none());
}

#[test]
fn credits_must_not_exceed_debits_is_enforced() {
    let mut w = World::new();
    let mut ledger_results = w.accounts(&[account(9, cny(), AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)]);
    assert_eq!(ledger_results.pop().unwrap(), Ok(Outcome::Created));
    assert_eq!(w.one(transfer(1, 2, 9, 1)), Err(TransferError::ExceedsDebits));
}

#[test]
fn bad_transfer_fields_each_have_their_own_code() {
    use TransferError as E;
    let mut w = World::new();
    let t = transfer(1, 2, 3, 100);
    let cases: Vec<(NewTransfer, E)> = vec![
        (NewTransfer { id: 0, ..t }, E::IdMustNotBeZero),
        (NewTransfer { id: u128::MAX, ..t }, E::IdMustNotBeIntMax),
        (NewTransfer { amount: AMOUNT_MAX + 1, ..t }, E::OverflowsDebitsPosted),
        (NewTransfer { credit_account_id: 2, ..t }, E::AccountsMustBeDifferent),
        (NewTransfer { debit_account_id: 0, ..t }, E::DebitAccountIdMustNotBeZero),
        (NewTransfer { credit_account_id: u128::MAX, ..t }, E::CreditAccountIdMustNotBeIntMax),
        (NewTransfer { debit_account_id: 77, ..t }, E::DebitAccountNotFound),
        (NewTransfer { credit_account_id: 77, ..t }, E::CreditAccountNotFound),
        (NewTransfer { credit_account_id: 4, ..t }, E::AccountsMustHaveTheSameCurrency),
        (NewTransfer { currency: Some(hkd()), ..t }, E::TransferMustHaveTheSameCurrencyAsAccounts),
        (NewTransfer { currency: None, ..t }, E::CurrencyMustNotBeNone),
        (NewTransfer { code: 0, ..t }, E::CodeMustNotBeZero),
        (NewTransfer { pending_id: 5, ..t }, E::PendingIdMustBeZero),
        (NewTransfer { timeout_s: 5, ..t }, E::TimeoutReservedForPendingTransfer),
        (NewTransfer { flags: TransferFlags(1 << 12), ..t }, E::FlagsReserved),
        (with(t, TransferFlags::PENDING.union(TransferFlags::POST_PENDING)), E::FlagsAreMutuallyExclusive),
        (with(t, TransferFlags::CLOSING_DEBIT), E::ClosingTransferMustBePending),
    ];
    for (i, (bad, want)) in cases.into_iter().enumerate() {
        let bad = if bad.id == 0 || bad.id == u128::MAX { bad } else { NewTransfer { id: 100 + i as u128, ..bad } };
        assert_eq!(w.one(bad), Err(want), "{want:?}");
    }
    assert_eq!(w.balance(2), (0, 0, 0, 10_000), "no failure changed a balance");
    assert_eq!(w.balance(3), (0, 0, 0, 0));
}

#[test]
fn bad_account_fields_each_have_their_own_code() {
    use AccountError as E;
    let mut w = World::new();
    let a = account(50, cny(), AccountFlags::empty());
    let xau = Currency::from_code("XAU").unwrap();
    let both = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.union(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    for (bad, want) in [
        (NewAccount { id: 0, ..a }, E::IdMustNotBeZero),
        (NewAccount { id: u128::MAX, ..a }, E::IdMustNotBeIntMax),
        (NewAccount { code: 0, ..a }, E::CodeMustNotBeZero),
        (NewAccount { flags: both, ..a }, E::FlagsAreMutuallyExclusive),
        (NewAccount { flags: AccountFlags(1 << 9), ..a }, E::FlagsReserved),
        (NewAccount { currency: xau, ..a }, E::CurrencyMustBeMoney),
        (NewAccount { id: 2, ..a }, E::ExistsWithDifferentFlags),
        (NewAccount { id: 2, currency: hkd(), flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS, ..a }, E::ExistsWithDifferentCurrency),
    ] {
        assert_eq!(w.accounts(&[bad]), vec![Err(want)]);
    }
    assert!(w.ledger.account(50).is_none());
    let same = account(2, cny(), AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS);
    assert_eq!(w.accounts(&[same]), vec![Ok(Outcome::Exists)]);
}

#[test]
fn a_retry_with_the_same_id_and_fields_returns_exists_and_changes_nothing() {
    let mut w = World::new();
    assert_eq!(w.one(transfer(1, 2, 3, 100)), Ok(Outcome::Created));
    assert_eq!(w.one(transfer(1, 2, 3, 100)), Ok(Outcome::Exists));
    assert_eq!(w.balance(3), (0, 0, 0, 100));
    assert_eq!(w.one(transfer(1, 2, 3, 101)), Err(TransferError::ExistsWithDifferentAmount));
    assert_eq!(w.one(NewTransfer { user_data: 9, ..transfer(1, 2, 3, 100) }), Err(TransferError::ExistsWithDifferentUserData));
}

#[test]
fn a_failed_id_keeps_its_first_result_even_when_it_could_now_succeed() {
    let mut w = World::new();
    assert_eq!(w.one(transfer(1, 3, 2, 100)), Err(TransferError::ExceedsCredits));
    assert_eq!(w.one(transfer(2, 2, 3, 500)), Ok(Outcome::Created)); // now 3 could pay 100
    assert_eq!(w.one(transfer(1, 3, 2, 100)), Err(TransferError::ExceedsCredits));
    assert_eq!(w.one(transfer(1, 3, 2, 99)), Err(TransferError::IdAlreadyFailed));
    assert_eq!(w.balance(3), (0, 0, 0, 500));
}

/// Everything the working set holds, for comparing two states.
fn state(l: &Ledger, ids: &[Id]) -> Vec<String> {
    let mut accounts: Vec<String> = l.accounts().map(|a| format!("{a:?}")).collect();
    accounts.sort();
    let ids = ids.iter().map(|id| format!("{:?} {:?} {:?}", l.transfer(*id), l.pending_record(*id), l.failed(*id)));
    accounts.into_iter().chain(ids).collect()
}

#[test]
fn an_undone_tentative_request_leaves_no_trace_and_a_kept_one_stands() {
    let mut w = World::new();
    w.one(with(transfer(1, 2, 3, 500), TransferFlags::PENDING)).unwrap();
    let ids = [1, 2, 3, 4, 5, 6, 7];
    let (before, t) = (state(&w.ledger, &ids), w.tick(8));
    let mut changes = Changes { transfers_created: vec![99], ..Changes::default() };
    let changes_before = changes.clone();
    let begun = w.ledger.begin_tentative(&changes);
    let linked = TransferFlags::LINKED;
    let results = w.ledger.create_transfers(
        &[
            transfer(2, 2, 3, 100),                               // created
            resolve(3, 1, 500, TransferFlags::POST_PENDING),      // posts the hold
            with(transfer(4, 2, 3, 100), linked),                 // a chain rolled back by its own failure,
            transfer(5, 3, 2, 1_000_000),                         // which is recorded (transient)
            with(transfer(6, 1, 2, 300), TransferFlags::PENDING), // a new hold
            transfer(7, 2, 3, 1_000_000),                         // a recorded failure on its own
        ],
        t,
        &mut changes,
    );
    assert_eq!(results[5], Err(TransferError::ExceedsCredits));
    assert_ne!(state(&w.ledger, &ids), before);
    w.ledger.undo_tentative(&mut changes, begun);
    assert_eq!(state(&w.ledger, &ids), before, "the working set is as before the request");
    assert_eq!(changes, changes_before, "the change lists are as before the request");
    w.ledger.check_invariants().unwrap();

    let begun = w.ledger.begin_tentative(&changes);
    assert_eq!(w.ledger.create_transfers(&[transfer(2, 2, 3, 100)], t, &mut changes), vec![Ok(Outcome::Created)]);
    w.ledger.keep_tentative(begun);
    assert_eq!(w.balance(3), (0, 0, 500, 100), "a kept request stands");
    assert_eq!(w.one(resolve(3, 1, 500, TransferFlags::POST_PENDING)), Ok(Outcome::Created), "the undone post never happened");
}

#[test]
fn pending_reserves_then_partial_post_releases_the_rest() {
    let mut w = World::new();
    assert_eq!(w.one(with(transfer(1, 2, 3, 6_000), TransferFlags::PENDING)), Ok(Outcome::Created));
    assert_eq!(w.balance(2), (6_000, 0, 0, 10_000));
    assert_eq!(w.one(transfer(2, 2, 3, 4_001)), Err(TransferError::ExceedsCredits), "reserved money is not spendable");
    assert_eq!(w.one(resolve(3, 1, 4_000, TransferFlags::POST_PENDING)), Ok(Outcome::Created));
    assert_eq!(w.balance(2), (0, 4_000, 0, 10_000));
    assert_eq!(w.balance(3), (0, 0, 0, 4_000));
    assert_eq!(w.ledger.transfer(3).unwrap().amount, 4_000);
    assert_eq!(w.ledger.pending_record(1).unwrap().state, PendingState::Posted);
}

#[test]
fn a_pending_transfer_resolves_at_most_once() {
    let mut w = World::new();
    w.one(with(transfer(1, 2, 3, 500), TransferFlags::PENDING)).unwrap();
    assert_eq!(w.one(resolve(2, 1, 500, TransferFlags::POST_PENDING)), Ok(Outcome::Created));
    assert_eq!(w.one(resolve(3, 1, 500, TransferFlags::POST_PENDING)), Err(TransferError::PendingTransferAlreadyPosted));
    assert_eq!(w.one(resolve(4, 1, 0, TransferFlags::VOID_PENDING)), Err(TransferError::PendingTransferAlreadyPosted));
    w.one(with(transfer(5, 2, 3, 500), TransferFlags::PENDING)).unwrap();
    assert_eq!(w.one(resolve(6, 5, 0, TransferFlags::VOID_PENDING)), Ok(Outcome::Created));
    assert_eq!(w.one(resolve(7, 5, 0, TransferFlags::VOID_PENDING)), Err(TransferError::PendingTransferAlreadyVoided));
    assert_eq!(w.one(resolve(8, 5, 1, TransferFlags::POST_PENDING)), Err(TransferError::PendingTransferAlreadyVoided));
    assert_eq!(w.balance(2), (0, 500, 0, 10_000));
}

#[test]
fn bad_posts_and_voids_are_refused() {
    use TransferError as E;
    let mut w = World::new();
    w.one(with(transfer(1, 2, 3, 500), TransferFlags::PENDING)).unwrap();
    w.one(transfer(2, 2, 3, 10)).unwrap();
    let post = TransferFlags::POST_PENDING;
    let void = TransferFlags::VOID_PENDING;
    for (i, (bad, want)) in [
        (resolve(0, 1, 501, post), E::ExceedsPendingTransferAmount),
        (resolve(0, 1, u64::MAX - 1, post), E::ExceedsPendingTransferAmount),
        (resolve(0, 1, AMOUNT_ALL, void), E::ExceedsPendingTransferAmount),
        (resolve(0, 1, 10, void), E::PendingTransferHasDifferentAmount),
        (resolve(0, 0, 10, post), E::PendingIdMustNotBeZero),
        (resolve(0, u128::MAX, 10, post), E::PendingIdMustNotBeIntMax),
        (resolve(0, 99, 10, post), E::PendingTransferNotFound),
        (resolve(0, 2, 10, post), E::PendingTransferNotPending),
        (NewTransfer { debit_account_id: 3, ..resolve(0, 1, 10, post) }, E::PendingTransferHasDifferentDebitAccountId),
        (NewTransfer { code: 77, ..resolve(0, 1, 10, post) }, E::PendingTransferHasDifferentCode),
        (NewTransfer { currency: Some(hkd()), ..resolve(0, 1, 10, post) }, E::PendingTransferHasDifferentCurrency),
        (NewTransfer { timeout_s: 1, ..resolve(0, 1, 10, post) }, E::TimeoutReservedForPendingTransfer),
    ]
    .into_iter()
    .enumerate()
    {
        let id = 100 + i as u128;
        assert_eq!(w.one(NewTransfer { id, ..bad }), Err(want), "{want:?}");
    }
    assert_eq!(w.one(resolve(200, 200, 10, post)), Err(E::PendingIdMustBeDifferent));
    assert_eq!(w.one(resolve(1, 1, 10, post)), Err(E::ExistsWithDifferentFlags), "an existing id is compared first");
    assert_eq!(w.balance(2), (500, 10, 0, 10_000));
}

#[test]
fn a_timed_out_pending_transfer_expires_once_and_cannot_be_posted() {
    let mut w = World::new();
    let t0 = w.clock;
    w.one(NewTransfer { timeout_s: 60, ..with(transfer(1, 2, 3, 700), TransferFlags::PENDING) }).unwrap();
    assert!(w.ledger.due_expiries(t0 + 59 * SECOND).is_empty());
    w.clock = t0 + 61 * SECOND;
    assert_eq!(w.one(resolve(2, 1, 700, TransferFlags::POST_PENDING)), Err(TransferError::PendingTransferExpired));
    let due = w.ledger.due_expiries(w.clock);
    assert_eq!(due, vec![1]);
    let mut changes = Changes::default();
    assert!(w.ledger.expire(1, w.clock, &mut changes));
    assert!(!w.ledger.expire(1, w.clock + 1, &mut changes), "expires once");
    w.ledger.check_invariants().unwrap();
    assert_eq!(w.balance(2), (0, 0, 0, 10_000));
    assert_eq!(w.ledger.pending_record(1).unwrap().state, PendingState::Expired);
}

#[test]
fn a_linked_chain_succeeds_or_fails_as_one() {
    let mut w = World::new();
    let linked = TransferFlags::LINKED;
    let results = w.transfers(&[with(transfer(1, 2, 3, 100), linked), with(transfer(2, 3, 2, 50), linked), transfer(3, 2, 3, 99_999)]);
    assert_eq!(
        results,
        vec![Err(TransferError::LinkedEventFailed), Err(TransferError::LinkedEventFailed), Err(TransferError::ExceedsCredits)]
    );
    assert_eq!(w.balance(2), (0, 0, 0, 10_000));
    assert!(w.ledger.transfer(1).is_none() && w.ledger.transfer(2).is_none());

    let results = w.transfers(&[with(transfer(4, 2, 3, 100), linked), transfer(5, 3, 2, 50), transfer(6, 2, 3, 1)]);
    assert_eq!(results, vec![Ok(Outcome::Created); 3]);
    assert_eq!(w.balance(3), (0, 50, 0, 101));
}

#[test]
fn a_chain_left_open_at_the_end_of_a_batch_fails_whole() {
    let mut w = World::new();
    let linked = TransferFlags::LINKED;
    let results = w.transfers(&[transfer(1, 2, 3, 1), with(transfer(2, 2, 3, 1), linked), with(transfer(3, 2, 3, 1), linked)]);
    assert_eq!(results, vec![Ok(Outcome::Created), Err(TransferError::LinkedEventFailed), Err(TransferError::LinkedEventChainOpen)]);
    assert_eq!(w.balance(3), (0, 0, 0, 1));
}

#[test]
fn a_closing_transfer_closes_the_account_until_voided() {
    let mut w = World::new();
    let closing = TransferFlags::PENDING.union(TransferFlags::CLOSING_DEBIT);
    assert_eq!(w.one(with(transfer(1, 3, 1, 0), closing)), Ok(Outcome::Created));
    assert!(w.ledger.account(3).unwrap().flags.contains(AccountFlags::CLOSED));
    assert_eq!(w.one(transfer(2, 3, 2, 1)), Err(TransferError::DebitAccountAlreadyClosed));
    assert_eq!(w.one(transfer(3, 2, 1, 1)), Ok(Outcome::Created));
    assert_eq!(w.one(resolve(4, 1, 0, TransferFlags::VOID_PENDING)), Ok(Outcome::Created));
    assert!(!w.ledger.account(3).unwrap().flags.contains(AccountFlags::CLOSED));
}

#[test]
fn a_closed_credit_account_takes_no_money() {
    let mut w = World::new();
    let closing = TransferFlags::PENDING.union(TransferFlags::CLOSING_CREDIT);
    w.one(with(transfer(1, 2, 3, 0), closing)).unwrap();
    assert_eq!(w.one(transfer(2, 2, 3, 5)), Err(TransferError::CreditAccountAlreadyClosed));
}

#[test]
fn a_balancing_debit_moves_what_is_left_and_nothing_when_empty() {
    let mut w = World::new();
    let sweep = with(transfer(1, 2, 3, 1_000_000), TransferFlags::BALANCING_DEBIT);
    assert_eq!(w.one(sweep), Ok(Outcome::Created));
    assert_eq!(w.ledger.transfer(1).unwrap().amount, 10_000, "clamped to what account 2 held");
    assert_eq!(w.balance(2), (0, 10_000, 0, 10_000));
    assert_eq!(w.one(sweep), Ok(Outcome::Exists), "a retry with the same upper bound is the same transfer");
    assert_eq!(w.one(with(transfer(2, 2, 3, 5), TransferFlags::BALANCING_DEBIT)), Ok(Outcome::Created), "an empty account gives 0");
    assert_eq!(w.ledger.transfer(2).unwrap().amount, 0);
    let bad = NewTransfer { pending_id: 1, ..resolve(3, 1, 1, TransferFlags::POST_PENDING.union(TransferFlags::BALANCING_DEBIT)) };
    assert_eq!(w.one(bad), Err(TransferError::FlagsAreMutuallyExclusive));
}

#[test]
fn balances_never_overflow() {
    let mut w = World::new();
    w.accounts(&[account(7, cny(), AccountFlags::empty()), account(8, cny(), AccountFlags::empty())]);
    assert_eq!(w.one(transfer(1, 7, 8, AMOUNT_MAX)), Ok(Outcome::Created));
    assert_eq!(w.one(transfer(2, 7, 8, 1)), Err(TransferError::OverflowsDebitsPosted));
    assert_eq!(
        w.one(with(transfer(3, 7, 8, 1), TransferFlags::PENDING)),
        Err(TransferError::OverflowsDebitsPosted),
        "checked for pending too"
    );
    assert_eq!(w.balance(7), (0, AMOUNT_MAX, 0, 0));
}

#[test]
fn every_code_is_distinct_and_round_trips() {
    let mut seen = std::collections::HashSet::new();
    for e in TransferError::ALL {
        assert!(seen.insert(e.code()), "{}", e.code());
        assert_eq!(TransferError::from_code(e.code()), Some(*e));
    }
    for e in AccountError::ALL {
        assert_eq!(AccountError::from_code(e.code()), Some(*e));
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const ACCOUNTS: u128 = 8;

    #[derive(Debug, Clone)]
    enum Op {
        Single { id: u8, debit: u8, credit: u8, amount: u64, linked: bool },
        Pending { id: u8, debit: u8, credit: u8, amount: u64, timeout_s: u32, linked: bool },
        Post { id: u8, pending: u8, amount: u64, linked: bool },
        Void { id: u8, pending: u8, linked: bool },
        Sweep { id: u8, debit: u8, credit: u8, amount: u64, linked: bool },
    }

    fn op() -> impl Strategy<Value = Op> {
        let acct = 1..=ACCOUNTS as u8;
        prop_oneof![
            4 => (any::<u8>(), acct.clone(), acct.clone(), 1..5_000u64, any::<bool>()).prop_map(|(id, debit, credit, amount, linked)| Op::Single { id, debit, credit, amount, linked }),
            2 => (any::<u8>(), acct.clone(), acct, 1..5_000u64, prop_oneof![Just(0u32), 1..120u32], any::<bool>())
                .prop_map(|(id, debit, credit, amount, timeout_s, linked)| Op::Pending { id, debit, credit, amount, timeout_s, linked }),
            2 => (any::<u8>(), any::<u8>(), 1..6_000u64, any::<bool>()).prop_map(|(id, pending, amount, linked)| Op::Post { id, pending, amount, linked }),
            1 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(id, pending, linked)| Op::Void { id, pending, linked }),
            1 => (any::<u8>(), 1..=ACCOUNTS as u8, 1..=ACCOUNTS as u8, 1..20_000u64, any::<bool>())
                .prop_map(|(id, debit, credit, amount, linked)| Op::Sweep { id, debit, credit, amount, linked }),
        ]
    }

    fn to_transfer(op: &Op) -> NewTransfer {
        let flag = |linked: bool| {
            if linked { TransferFlags::LINKED } else { TransferFlags::empty() }
        };
        // ids from a small space so retries, duplicates and references collide often.
        let tid = |id: u8| 1_000 + u128::from(id % 64);
        match *op {
            Op::Single { id, debit, credit, amount, linked } => {
                NewTransfer { flags: flag(linked), ..transfer(tid(id), debit.into(), credit.into(), amount) }
            }
            Op::Pending { id, debit, credit, amount, timeout_s, linked } => NewTransfer {
                flags: flag(linked).union(TransferFlags::PENDING),
                timeout_s,
                ..transfer(tid(id), debit.into(), credit.into(), amount)
            },
            Op::Post { id, pending, amount, linked } => {
                resolve(tid(id), tid(pending), amount, flag(linked).union(TransferFlags::POST_PENDING))
            }
            Op::Void { id, pending, linked } => resolve(tid(id), tid(pending), 0, flag(linked).union(TransferFlags::VOID_PENDING)),
            Op::Sweep { id, debit, credit, amount, linked } => NewTransfer {
                flags: flag(linked).union(TransferFlags::BALANCING_DEBIT),
                ..transfer(tid(id), debit.into(), credit.into(), amount)
            },
        }
    }

    fn world() -> World {
        let mut w = World { ledger: Ledger::new(), clock: 1_000 * SECOND };
        let accounts: Vec<NewAccount> = (1..=ACCOUNTS)
            .map(|id| {
                let flags = match id % 3 {
                    0 => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                    1 => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
                    _ => AccountFlags::empty(),
                };
                account(id, cny(), flags)
            })
            .collect();
        assert!(w.accounts(&accounts).iter().all(|r| r.is_ok()));
        w
    }

    fn snapshot(l: &Ledger) -> (Vec<Account>, Vec<Transfer>) {
        let mut a: Vec<Account> = l.accounts().copied().collect();
        let mut t: Vec<Transfer> = l.transfers().copied().collect();
        a.sort_by_key(|a| a.id);
        t.sort_by_key(|t| t.id);
        (a, t)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_batches_keep_every_invariant(batches in prop::collection::vec((prop::collection::vec(op(), 1..40), 0u64..90), 1..12)) {
            let mut w = world();
            for (ops, advance_s) in &batches {
                let batch: Vec<NewTransfer> = ops.iter().map(to_transfer).collect();
                let before = snapshot(&w.ledger);
                let t = w.tick(batch.len() as u64);
                let mut changes = Changes::default();
                let results = w.ledger.create_transfers(&batch, t, &mut changes);
                prop_assert_eq!(results.len(), batch.len());
                w.ledger.check_invariants().map_err(TestCaseError::fail)?;
                // Committed transfers never change.
                for old in &before.1 {
                    prop_assert_eq!(w.ledger.transfer(old.id), Some(old));
                }
                // A linked chain is all-or-nothing: every event created, or none.
                let mut start = 0;
                for i in 0..batch.len() {
                    if !batch[i].flags.contains(TransferFlags::LINKED) || i == batch.len() - 1 {
                        let chain = &results[start..=i];
                        let created = chain.iter().filter(|r| **r == Ok(Outcome::Created)).count();
                        prop_assert!(created == 0 || created == chain.len(), "chain {:?}", chain);
                        start = i + 1;
                    }
                }
                // Replaying the same batch never commits a second time what was created (it answers
                // `exists`, or `linked_event_failed` behind an `exists` that broke its chain), and an id
                // whose failure was recorded never succeeds.
                let t2 = w.tick(batch.len() as u64);
                let replay = w.ledger.create_transfers(&batch, t2, &mut Changes::default());
                for (i, (first, again)) in results.iter().zip(&replay).enumerate() {
                    if *first == Ok(Outcome::Created) {
                        prop_assert!(matches!(again, Ok(Outcome::Exists) | Err(TransferError::LinkedEventFailed | TransferError::LinkedEventChainOpen)), "event {}: {:?}", i, again);
                    }
                }
                for t in &batch {
                    prop_assert!(w.ledger.failed(t.id).is_none() || w.ledger.transfer(t.id).is_none(), "id {} both failed and committed", t.id);
                }
                for old in &before.1 {
                    prop_assert_eq!(w.ledger.transfer(old.id), Some(old));
                }
                // Time passes; due pending transfers expire exactly once.
                w.clock += advance_s * SECOND;
                for id in w.ledger.due_expiries(w.clock) {
                    let now = w.tick(1);
                    prop_assert!(w.ledger.expire(id, now, &mut Changes::default()));
                    prop_assert!(!w.ledger.expire(id, now + 1, &mut Changes::default()));
                }
                w.ledger.check_invariants().map_err(TestCaseError::fail)?;
            }
        }

        #[test]
        fn replaying_the_journal_reproduces_every_balance(batches in prop::collection::vec(prop::collection::vec(op(), 1..30), 1..8)) {
            let mut w = world();
            for ops in &batches {
                let batch: Vec<NewTransfer> = ops.iter().map(to_transfer).collect();
                let t = w.tick(batch.len() as u64);
                w.ledger.create_transfers(&batch, t, &mut Changes::default());
            }
            let mut fresh = world();
            let mut journal: Vec<Transfer> = w.ledger.transfers().copied().collect();
            journal.sort_by_key(|t| t.timestamp);
            for t in &journal {
                prop_assert_eq!(fresh.ledger.replay_transfer(t), Ok(Outcome::Created));
            }
            prop_assert_eq!(snapshot(&fresh.ledger), snapshot(&w.ledger));
        }
    }
}

#[test]
fn replay_forgets_settled_transfers_but_keeps_an_open_hold_and_every_pending_record() {
    let mut w = World::new();
    assert_eq!(w.one(with(transfer(1, 2, 3, 1_000), TransferFlags::PENDING)), Ok(Outcome::Created));
    assert_eq!(w.one(with(transfer(2, 2, 3, 2_000), TransferFlags::PENDING)), Ok(Outcome::Created));
    assert_eq!(w.one(resolve(3, 1, AMOUNT_ALL, TransferFlags::POST_PENDING)), Ok(Outcome::Created));
    for id in [1000, 1, 2, 3] {
        w.ledger.forget_settled(id);
    }
    assert!(w.ledger.transfer(1000).is_none() && w.ledger.transfer(1).is_none() && w.ledger.transfer(3).is_none());
    assert_eq!(w.ledger.transfer(2).map(|t| t.amount), Some(2_000), "an open hold stays: it may still be posted");
    assert_eq!(w.ledger.pending_record(1).map(|r| r.state), Some(PendingState::Posted));
    assert_eq!(w.one(resolve(4, 2, AMOUNT_ALL, TransferFlags::POST_PENDING)), Ok(Outcome::Created));
    assert_eq!(w.balance(3), (0, 0, 0, 3_000));
}
