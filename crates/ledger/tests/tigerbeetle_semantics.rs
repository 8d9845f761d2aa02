//! Where Qianbao's ledger answers as TigerBeetle 0.17.9 does, one rule per test, each an event-for-event
//! expectation taken from TigerBeetle's state machine (`src/state_machine.zig` at 52ad553). Accounts: 1
//! and 2 plain, 3 `debits_must_not_exceed_credits`, 4 `credits_must_not_exceed_debits`.
//! The corpus test (`tigerbeetle_corpus.rs`) replays batches that were sent to a real TigerBeetle.

use ledger::*;
use money::Currency;

type E = TransferError;
const CREATED: TransferResult = Ok(Outcome::Created);
const EXISTS: TransferResult = Ok(Outcome::Exists);
const LINKED: TransferFlags = TransferFlags::LINKED;
const PENDING: TransferFlags = TransferFlags::PENDING;
const POST: TransferFlags = TransferFlags::POST_PENDING;
const VOID: TransferFlags = TransferFlags::VOID_PENDING;

fn cny() -> Currency {
    Currency::from_code("CNY").unwrap()
}

struct Tb {
    ledger: Ledger,
    clock: u64,
}

impl Tb {
    fn new() -> Tb {
        let mut tb = Tb { ledger: Ledger::new(), clock: 1_000_000_000_000 };
        let flags = [
            AccountFlags::empty(),
            AccountFlags::empty(),
            AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
        ];
        let accounts: Vec<NewAccount> =
            (1..=4).map(|id| NewAccount { id, currency: cny(), code: 1, flags: flags[id as usize - 1], user_data: 0 }).collect();
        assert!(tb.accounts(&accounts).iter().all(|r| *r == Ok(Outcome::Created)));
        tb
    }

    fn accounts(&mut self, batch: &[NewAccount]) -> Vec<AccountResult> {
        self.clock += 1_000;
        self.ledger.create_accounts(batch, self.clock, &mut Changes::default())
    }

    fn run(&mut self, batch: &[NewTransfer]) -> Vec<TransferResult> {
        self.clock += 1_000;
        let results = self.ledger.create_transfers(batch, self.clock, &mut Changes::default());
        self.ledger.check_invariants().unwrap();
        results
    }

    fn balances(&self, id: Id) -> [u64; 4] {
        let a = self.ledger.account(id).unwrap();
        [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted]
    }

    fn closed(&self, id: Id) -> bool {
        self.ledger.account(id).unwrap().flags.contains(AccountFlags::CLOSED)
    }
}

fn t(id: Id, debit: Id, credit: Id, amount: u64, flags: TransferFlags) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        pending_id: 0,
        currency: Some(cny()),
        code: 1,
        flags,
        timeout_s: 0,
        user_data: 0,
    }
}

fn resolve(id: Id, pending_id: Id, amount: u64, flags: TransferFlags) -> NewTransfer {
    NewTransfer { pending_id, debit_account_id: 0, credit_account_id: 0, currency: None, code: 0, ..t(id, 0, 0, amount, flags) }
}

#[test]
fn exists_inside_a_chain_breaks_the_chain() {
    let mut tb = Tb::new();
    assert_eq!(tb.run(&[t(10, 1, 2, 5, LINKED), t(11, 1, 2, 6, TransferFlags::empty())]), vec![CREATED, CREATED]);
    // [A linked, C]: A exists, so C must not happen on its own.
    assert_eq!(tb.run(&[t(10, 1, 2, 5, LINKED), t(12, 1, 2, 7, TransferFlags::empty())]), vec![EXISTS, Err(E::LinkedEventFailed)]);
    // [new linked, existing]: the new one is rolled back.
    assert_eq!(tb.run(&[t(13, 1, 2, 8, LINKED), t(11, 1, 2, 6, TransferFlags::empty())]), vec![Err(E::LinkedEventFailed), EXISTS]);
    assert!(tb.ledger.transfer(12).is_none() && tb.ledger.transfer(13).is_none());
    assert_eq!(tb.balances(2), [0, 0, 0, 11]);
}

#[test]
fn the_last_linked_event_of_a_batch_is_chain_open_even_when_the_chain_already_failed() {
    let mut tb = Tb::new();
    let results = tb.run(&[t(10, 3, 2, 1, LINKED), t(11, 1, 2, 1, LINKED)]);
    assert_eq!(results, vec![Err(E::ExceedsCredits), Err(E::LinkedEventChainOpen)]);
    assert_eq!(tb.run(&[t(12, 1, 2, 1, LINKED)]), vec![Err(E::LinkedEventChainOpen)]);
}

#[test]
fn a_closing_hold_cannot_be_posted_and_a_void_reopens_the_account() {
    let mut tb = Tb::new();
    assert_eq!(tb.run(&[t(10, 1, 2, 10, PENDING.union(TransferFlags::CLOSING_DEBIT))]), vec![CREATED]);
    assert!(tb.closed(1));
    assert_eq!(tb.run(&[resolve(11, 10, 10, POST)]), vec![Err(E::DebitAccountAlreadyClosed)]);
    assert_eq!(tb.run(&[resolve(12, 10, 0, VOID)]), vec![CREATED]);
    assert!(!tb.closed(1));
    assert_eq!(tb.balances(1), [0, 0, 0, 0]);
}

#[test]
fn balancing_credit_moves_at_most_what_the_credit_account_may_take() {
    let mut tb = Tb::new();
    assert_eq!(tb.run(&[t(10, 4, 1, 30, TransferFlags::empty())]), vec![CREATED]); // 4 may now take 30
    assert_eq!(tb.run(&[t(11, 2, 4, 100, TransferFlags::BALANCING_CREDIT)]), vec![CREATED]);
    assert_eq!(tb.ledger.transfer(11).unwrap().amount, 30);
    assert_eq!(tb.run(&[t(12, 2, 4, 100, TransferFlags::BALANCING_CREDIT)]), vec![CREATED]);
    assert_eq!(tb.ledger.transfer(12).unwrap().amount, 0, "nothing left to take is a transfer of 0");
}

#[test]
fn balancing_debit_from_an_empty_account_is_created_with_amount_zero() {
    let mut tb = Tb::new();
    assert_eq!(tb.run(&[t(10, 3, 2, 50, TransferFlags::BALANCING_DEBIT)]), vec![CREATED]);
    assert_eq!(tb.ledger.transfer(10).unwrap().amount, 0);
    // A retry with a bound at least the recorded amount is the same transfer.
    assert_eq!(tb.run(&[t(10, 3, 2, 70, TransferFlags::BALANCING_DEBIT)]), vec![EXISTS]);
}

#[test]
fn zero_amounts_are_transfers_and_posting_zero_releases_the_hold() {
    let mut tb = Tb::new();
    assert_eq!(tb.run(&[t(10, 1, 2, 0, TransferFlags::empty()), t(11, 1, 2, 0, PENDING)]), vec![CREATED, CREATED]);
    assert_eq!(tb.run(&[t(12, 1, 2, 10, PENDING)]), vec![CREATED]);
    assert_eq!(tb.run(&[resolve(13, 12, 0, POST)]), vec![CREATED]);
    assert_eq!(tb.ledger.transfer(13).unwrap().amount, 0);
    assert_eq!(tb.balances(1), [0, 0, 0, 0]);
    assert_eq!(tb.ledger.pending_record(12).unwrap().state, PendingState::Posted);
}

#[test]
fn posting_all_names_the_whole_pending_amount() {
    let mut tb = Tb::new();
    tb.run(&[t(10, 1, 2, 10, PENDING)]);
    assert_eq!(tb.run(&[resolve(11, 10, AMOUNT_ALL, POST)]), vec![CREATED]);
    assert_eq!(tb.ledger.transfer(11).unwrap().amount, 10);
    assert_eq!(tb.run(&[resolve(11, 10, AMOUNT_ALL, POST)]), vec![EXISTS]);
    assert_eq!(tb.run(&[resolve(11, 10, 9, POST)]), vec![Err(E::ExistsWithDifferentAmount)]);
}

#[test]
fn a_void_above_the_hold_exceeds_the_pending_amount() {
    let mut tb = Tb::new();
    tb.run(&[t(10, 1, 2, 10, PENDING)]);
    assert_eq!(tb.run(&[resolve(11, 10, 11, VOID)]), vec![Err(E::ExceedsPendingTransferAmount)]);
    assert_eq!(tb.run(&[resolve(12, 10, 9, VOID)]), vec![Err(E::PendingTransferHasDifferentAmount)]);
    // The amount is checked before whether the hold is still pending.
    tb.run(&[resolve(13, 10, 0, VOID)]);
    assert_eq!(tb.run(&[resolve(14, 10, 11, POST)]), vec![Err(E::ExceedsPendingTransferAmount)]);
}

#[test]
fn a_retry_that_differs_only_in_linked_exists_with_different_flags() {
    let mut tb = Tb::new();
    tb.run(&[t(10, 1, 2, 5, LINKED), t(11, 1, 2, 5, TransferFlags::empty())]);
    assert_eq!(tb.run(&[t(10, 1, 2, 5, TransferFlags::empty())]), vec![Err(E::ExistsWithDifferentFlags)]);
    let account = NewAccount { id: 20, currency: cny(), code: 1, flags: AccountFlags::LINKED, user_data: 0 };
    let plain = NewAccount { id: 21, flags: AccountFlags::empty(), ..account };
    assert_eq!(tb.accounts(&[account, plain]), vec![Ok(Outcome::Created); 2]);
    assert_eq!(tb.accounts(&[NewAccount { flags: AccountFlags::empty(), ..account }]), vec![Err(AccountError::ExistsWithDifferentFlags)]);
}

#[test]
fn an_account_closed_by_a_closing_hold_differs_from_its_creation() {
    let mut tb = Tb::new();
    tb.run(&[t(10, 1, 2, 1, PENDING.union(TransferFlags::CLOSING_DEBIT))]);
    let again = NewAccount { id: 1, currency: cny(), code: 1, flags: AccountFlags::empty(), user_data: 0 };
    assert_eq!(tb.accounts(&[again]), vec![Err(AccountError::ExistsWithDifferentFlags)]);
    assert_eq!(tb.accounts(&[NewAccount { flags: AccountFlags::CLOSED, ..again }]), vec![Ok(Outcome::Exists)]);
}

#[test]
fn a_post_with_no_user_data_takes_the_holds() {
    let mut tb = Tb::new();
    tb.run(&[NewTransfer { user_data: 77, ..t(10, 1, 2, 10, PENDING) }]);
    assert_eq!(tb.run(&[resolve(11, 10, 10, POST)]), vec![CREATED]);
    assert_eq!(tb.ledger.transfer(11).unwrap().user_data, 77);
    assert_eq!(tb.run(&[NewTransfer { user_data: 77, ..resolve(11, 10, 10, POST) }]), vec![EXISTS]);
    assert_eq!(tb.run(&[resolve(11, 10, 10, POST)]), vec![EXISTS]);
    assert_eq!(tb.run(&[NewTransfer { user_data: 78, ..resolve(11, 10, 10, POST) }]), vec![Err(E::ExistsWithDifferentUserData)]);
}

#[test]
fn checks_come_in_tigerbeetles_order() {
    let mut tb = Tb::new();
    // Two faults: the earlier check answers.
    let both = NewTransfer { pending_id: 5, ..t(10, 1, 1, 1, TransferFlags::empty()) };
    assert_eq!(tb.run(&[both]), vec![Err(E::AccountsMustBeDifferent)]);
    // A retry with a field fault is compared with what exists first.
    tb.run(&[t(11, 1, 2, 1, TransferFlags::empty())]);
    let timeout = NewTransfer { timeout_s: 5, ..t(11, 1, 2, 1, TransferFlags::empty()) };
    assert_eq!(tb.run(&[timeout]), vec![Err(E::ExistsWithDifferentTimeout)]);
    let same_accounts = t(11, 2, 2, 1, TransferFlags::empty());
    assert_eq!(tb.run(&[same_accounts]), vec![Err(E::ExistsWithDifferentDebitAccountId)]);
    // user_data before currency before code.
    let late = NewTransfer { user_data: 1, code: 9, ..t(11, 1, 2, 1, TransferFlags::empty()) };
    assert_eq!(tb.run(&[late]), vec![Err(E::ExistsWithDifferentUserData)]);
    // Closing without pending: the timeout is checked first, then the closing rule.
    let closing = t(12, 1, 2, 1, TransferFlags::CLOSING_DEBIT);
    assert_eq!(tb.run(&[closing]), vec![Err(E::ClosingTransferMustBePending)]);
    assert_eq!(tb.run(&[NewTransfer { timeout_s: 1, ..closing }]), vec![Err(E::TimeoutReservedForPendingTransfer)]);
}

#[test]
fn accounts_are_compared_with_what_exists_before_their_own_fields() {
    let mut tb = Tb::new();
    let existing = NewAccount { id: 3, currency: cny(), code: 1, flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS, user_data: 0 };
    assert_eq!(tb.accounts(&[NewAccount { code: 0, ..existing }]), vec![Err(AccountError::ExistsWithDifferentCode)]);
    let both = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.union(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    assert_eq!(tb.accounts(&[NewAccount { flags: both, ..existing }]), vec![Err(AccountError::ExistsWithDifferentFlags)]);
    // An account may be created closed.
    let closed = NewAccount { id: 30, flags: AccountFlags::CLOSED, ..existing };
    assert_eq!(tb.accounts(&[closed]), vec![Ok(Outcome::Created)]);
    assert_eq!(tb.run(&[t(40, 30, 2, 0, TransferFlags::empty())]), vec![Err(E::DebitAccountAlreadyClosed)]);
}

#[test]
fn only_transient_failures_are_recorded() {
    let mut tb = Tb::new();
    // accounts_must_be_different depends on the request alone: a corrected retry succeeds.
    assert_eq!(tb.run(&[t(10, 1, 1, 5, TransferFlags::empty())]), vec![Err(E::AccountsMustBeDifferent)]);
    assert_eq!(tb.run(&[t(10, 1, 2, 5, TransferFlags::empty())]), vec![CREATED]);
    // A chain's victim is not recorded: retried alone it is evaluated again.
    assert_eq!(
        tb.run(&[t(11, 1, 2, 5, LINKED), t(12, 3, 2, 5, TransferFlags::empty())]),
        vec![Err(E::LinkedEventFailed), Err(E::ExceedsCredits)]
    );
    assert_eq!(tb.run(&[t(11, 1, 2, 5, TransferFlags::empty())]), vec![CREATED]);
    // exceeds_credits is transient: the id never succeeds, even once the money is there.
    tb.run(&[t(13, 1, 3, 100, TransferFlags::empty())]);
    assert_eq!(tb.run(&[t(12, 3, 2, 5, TransferFlags::empty())]), vec![Err(E::ExceedsCredits)], "the same request: its first answer");
    assert_eq!(tb.run(&[t(12, 3, 2, 6, TransferFlags::empty())]), vec![Err(E::IdAlreadyFailed)], "another request with that id");
    assert!(tb.ledger.transfer(12).is_none());
}

#[test]
fn a_transient_failure_burns_the_id_within_its_own_batch() {
    let mut tb = Tb::new();
    let results = tb.run(&[t(10, 3, 2, 5, TransferFlags::empty()), t(10, 1, 2, 5, TransferFlags::empty())]);
    assert_eq!(results, vec![Err(E::ExceedsCredits), Err(E::IdAlreadyFailed)]);
}

#[test]
fn a_pending_transfer_past_its_timeout_is_expired_before_the_sweep_runs() {
    let mut tb = Tb::new();
    tb.run(&[NewTransfer { timeout_s: 1, ..t(10, 1, 2, 10, PENDING) }]);
    tb.clock += 2_000_000_000;
    assert_eq!(tb.run(&[resolve(11, 10, 10, POST)]), vec![Err(E::PendingTransferExpired)]);
    // Not transient: once the hold is known expired, the same post still answers so.
    assert!(tb.ledger.failed(11).is_none());
}
