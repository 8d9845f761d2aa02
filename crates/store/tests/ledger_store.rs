//! The durable ledger, against SQLite always and PostgreSQL when `QIANBAO_TEST_DATABASE_URL` is set.
//! Every test body runs once per backend; each PostgreSQL run gets its own schema.

use ledger::*;
use money::Currency;
use std::sync::Arc;
use store::{Clock, CommitterConfig, DatabaseUrl, ManualClock, Store, SystemClock};

struct TestDb {
    url: DatabaseUrl,
    _dir: Option<TempDir>,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{name}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

fn sqlite(name: &str) -> TestDb {
    let dir = std::env::temp_dir().join(unique(&format!("qianbao_{name}")));
    std::fs::create_dir_all(&dir).unwrap();
    TestDb { url: DatabaseUrl::Sqlite(dir.join("ledger.db")), _dir: Some(TempDir(dir)) }
}

fn postgres(name: &str) -> Option<TestDb> {
    let base = std::env::var("QIANBAO_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
    let schema = unique(&format!("t_{name}")).to_lowercase();
    let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("QIANBAO_TEST_DATABASE_URL is reachable");
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(TestDb { url: DatabaseUrl::Postgres(format!("{base}{sep}options=-csearch_path%3D{schema}")), _dir: None })
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[test] fn $name() { super::$name(super::sqlite(stringify!($name))); })*
        }
        mod postgres_backend {
            $(#[test] fn $name() {
                match super::postgres(stringify!($name)) {
                    Some(db) => super::$name(db),
                    None => eprintln!("QIANBAO_TEST_DATABASE_URL not set: PostgreSQL run of {} skipped", stringify!($name)),
                }
            })*
        }
    };
}

both_backends!(
    committed_transfers_survive_a_reopen,
    a_retry_after_restart_answers_the_first_result,
    errors_change_nothing_in_the_database,
    pending_transfers_expire_when_the_clock_passes_their_timeout,
    a_hot_account_credited_by_a_whole_batch_is_exact,
    two_committers_on_one_database_never_double_spend,
    a_committer_sees_what_another_committed_since_its_own_last_batch,
    migrations_are_versioned_and_applied_once,
    verify_finds_a_tampered_balance,
    guards_and_effects_commit_with_their_transfers_or_not_at_all,
    a_request_whose_statement_fails_fails_alone,
    reserved_ids_in_a_failed_chain_are_never_recorded,
    pipelined_and_serial_batches_answer_alike,
    a_hold_expires_while_plain_batches_keep_coming,
    a_pipelined_batch_applied_on_a_stale_balance_runs_again,
    business_rows_written_between_batches_leave_the_working_set_trusted,
    money_held_past_its_timeout_is_free_for_the_next_batch,
);

fn cny() -> Currency {
    Currency::from_code("CNY").unwrap()
}

const SOURCE: Id = 1;

fn wallet(id: Id) -> NewAccount {
    NewAccount { id, currency: cny(), code: 1, flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS, user_data: 0 }
}

fn source() -> NewAccount {
    NewAccount { id: SOURCE, currency: cny(), code: 2, flags: AccountFlags::empty(), user_data: 0 }
}

fn transfer(id: Id, debit: Id, credit: Id, amount: u64) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        pending_id: 0,
        currency: Some(cny()),
        code: 10,
        flags: TransferFlags::empty(),
        timeout_s: 0,
        user_data: 0,
    }
}

fn open(db: &TestDb) -> Store {
    Store::open(&db.url).expect("store opens")
}

fn fast() -> CommitterConfig {
    CommitterConfig { idle_tick_ms: 10, ..CommitterConfig::default() }
}

/// Accounts SOURCE and 2..=n+1, each wallet funded with `funds`.
fn setup(store: &Store, wallets: u128, funds: u64) {
    let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let mut accounts = vec![source()];
    accounts.extend((2..2 + wallets).map(wallet));
    let results = committer.submit_accounts(accounts).unwrap().wait_blocking().unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let funding: Vec<NewTransfer> = (2..2 + wallets).map(|w| transfer(1_000_000 + w, SOURCE, w, funds)).collect();
    let results = committer.submit_transfers(funding).unwrap().wait_blocking().unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

fn assert_books_balance(store: &Store) {
    let report = store.verify().unwrap();
    assert!(report.ok(), "{:#?}", report.problems);
}

fn committed_transfers_survive_a_reopen(db: TestDb) {
    {
        let store = open(&db);
        setup(&store, 2, 10_000);
        let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
        let results = committer.submit_transfers(vec![transfer(10, 2, 3, 2_500)]).unwrap().wait_blocking().unwrap();
        assert_eq!(results, vec![Ok(Outcome::Created)]);
    }
    let store = open(&db);
    let a = store.account(2).unwrap().unwrap();
    assert_eq!((a.debits_posted, a.credits_posted), (2_500, 10_000));
    let (t, pending) = store.transfer(10).unwrap().unwrap();
    assert_eq!((t.debit_account_id, t.credit_account_id, t.amount), (2, 3, 2_500));
    assert!(pending.is_none());
    assert_books_balance(&store);
}

fn a_retry_after_restart_answers_the_first_result(db: TestDb) {
    {
        let store = open(&db);
        setup(&store, 2, 100);
        let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
        let results = committer.submit_transfers(vec![transfer(10, 2, 3, 60), transfer(11, 2, 3, 60)]).unwrap().wait_blocking().unwrap();
        assert_eq!(results, vec![Ok(Outcome::Created), Err(TransferError::ExceedsCredits)]);
    }
    let store = open(&db);
    let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    committer.submit_transfers(vec![transfer(12, 3, 2, 60)]).unwrap().wait_blocking().unwrap(); // 2 could now pay
    let again = committer
        .submit_transfers(vec![transfer(10, 2, 3, 60), transfer(11, 2, 3, 60), transfer(10, 2, 3, 61)])
        .unwrap()
        .wait_blocking()
        .unwrap();
    assert_eq!(again, vec![Ok(Outcome::Exists), Err(TransferError::ExceedsCredits), Err(TransferError::ExistsWithDifferentAmount)]);
    assert_eq!(store.failed_transfer(11).unwrap().unwrap().error, TransferError::ExceedsCredits);
    assert_books_balance(&store);
}

fn errors_change_nothing_in_the_database(db: TestDb) {
    let store = open(&db);
    setup(&store, 2, 100);
    let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let before = (store.account(2).unwrap(), store.account(3).unwrap());
    let bad = vec![
        transfer(0, 2, 3, 1),
        NewTransfer { timeout_s: 5, ..transfer(20, 2, 3, 1) },
        transfer(21, 2, 2, 1),
        transfer(22, 2, 99, 1),
        NewTransfer { flags: TransferFlags::LINKED, ..transfer(23, 2, 3, 50) },
        transfer(24, 2, 3, 1_000),
    ];
    let results = committer.submit_transfers(bad).unwrap().wait_blocking().unwrap();
    assert!(results.iter().all(|r| r.is_err()), "{results:?}");
    assert_eq!((store.account(2).unwrap(), store.account(3).unwrap()), before);
    assert!(store.transfer(23).unwrap().is_none(), "a failed chain leaves no transfer");
    assert_books_balance(&store);
}

fn pending_transfers_expire_when_the_clock_passes_their_timeout(db: TestDb) {
    let store = open(&db);
    setup(&store, 2, 10_000);
    let clock = Arc::new(ManualClock::new(SystemClock.now_ns() + 1_000_000_000_000));
    let committer = store.start_committer(fast(), clock.clone()).unwrap();
    let hold = NewTransfer { flags: TransferFlags::PENDING, timeout_s: 86_400, ..transfer(30, 2, 3, 4_000) };
    assert_eq!(committer.submit_transfers(vec![hold]).unwrap().wait_blocking().unwrap(), vec![Ok(Outcome::Created)]);
    assert_eq!(store.account(2).unwrap().unwrap().debits_pending, 4_000);
    clock.advance_s(86_401);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.transfer(30).unwrap().unwrap().1.unwrap().state != PendingState::Expired {
        assert!(std::time::Instant::now() < deadline, "the committer expired the transfer within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(store.account(2).unwrap().unwrap().debits_pending, 0);
    let post = NewTransfer {
        flags: TransferFlags::POST_PENDING,
        pending_id: 30,
        debit_account_id: 0,
        credit_account_id: 0,
        currency: None,
        code: 0,
        ..transfer(31, 0, 0, 4_000)
    };
    assert_eq!(committer.submit_transfers(vec![post]).unwrap().wait_blocking().unwrap(), vec![Err(TransferError::PendingTransferExpired)]);
    assert_books_balance(&store);
}

fn a_hot_account_credited_by_a_whole_batch_is_exact(db: TestDb) {
    let store = open(&db);
    setup(&store, 100, 1_000);
    let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let merchant = 500;
    committer.submit_accounts(vec![NewAccount { code: 3, ..wallet(merchant) }]).unwrap().wait_blocking().unwrap();
    let mut pending = Vec::new();
    for round in 0..10u128 {
        let batch: Vec<NewTransfer> = (2..102u128).map(|w| transfer(10_000 + round * 1_000 + w, w, merchant, 7)).collect();
        pending.push(committer.submit_transfers(batch).unwrap());
    }
    for p in pending {
        assert!(p.wait_blocking().unwrap().iter().all(|r| *r == Ok(Outcome::Created)));
    }
    assert_eq!(store.account(merchant).unwrap().unwrap().credits_posted, 100 * 10 * 7);
    assert_eq!(store.account(2).unwrap().unwrap().debits_posted, 70);
    assert_books_balance(&store);
}

fn two_committers_on_one_database_never_double_spend(db: TestDb) {
    let wallets = 20u128;
    let funds = 1_000u64;
    let store = open(&db);
    setup(&store, wallets, funds);
    // Two independent committers (as two qianbao processes would have), each with its own connection,
    // both trying to spend every wallet's whole balance several times over, concurrently.
    let other = Store::open(&db.url).unwrap();
    let a = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let b = other.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let spend = |committer: store::Committer, base: u128| {
        std::thread::spawn(move || {
            let mut created = 0u64;
            for round in 0..20u128 {
                let batch: Vec<NewTransfer> = (2..2 + wallets)
                    .map(|w| transfer(base + round * 1_000 + w, w, 2 + (w + 1 + round) % wallets, 300))
                    .filter(|t| t.debit_account_id != t.credit_account_id)
                    .collect();
                let results = committer.submit_transfers(batch).unwrap().wait_blocking().unwrap();
                created += results.iter().filter(|r| r.is_ok()).count() as u64;
                for r in results {
                    assert!(matches!(r, Ok(Outcome::Created) | Err(TransferError::ExceedsCredits)), "{r:?}");
                }
            }
            created
        })
    };
    let (ta, tb) = (spend(a, 1 << 40), spend(b, 2 << 40));
    let created = ta.join().unwrap() + tb.join().unwrap();
    assert!(created > 0);
    let mut total = 0u64;
    for w in 2..2 + wallets {
        let acc = store.account(w).unwrap().unwrap();
        assert!(acc.debits_posted + acc.debits_pending <= acc.credits_posted, "wallet {w} overspent: {acc:?}");
        total += acc.credits_posted - acc.debits_posted;
    }
    assert_eq!(total, wallets as u64 * funds, "money was neither created nor lost");
    assert_books_balance(&store);
}

/// A committer keeps the accounts its batches wrote in memory; another instance's batch in between must
/// make it read them again, or it would spend a balance that is gone.
fn a_committer_sees_what_another_committed_since_its_own_last_batch(db: TestDb) {
    let store = open(&db);
    setup(&store, 2, 1_000);
    let other = Store::open(&db.url).unwrap();
    let a = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let b = other.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let one = |c: &store::Committer, t: NewTransfer| c.submit_transfers(vec![t]).unwrap().wait_blocking().unwrap()[0];
    assert_eq!(one(&a, transfer(10, 2, 3, 100)), Ok(Outcome::Created), "A's batch leaves wallet 2 at 900, cached");
    assert_eq!(one(&b, transfer(11, 2, 3, 900)), Ok(Outcome::Created), "B spends the 900 left");
    assert_eq!(one(&a, transfer(12, 2, 3, 1)), Err(TransferError::ExceedsCredits), "A knows wallet 2 is empty");
    assert_eq!(one(&b, transfer(13, 3, 2, 50)), Ok(Outcome::Created), "B gives 50 back");
    assert_eq!(one(&a, transfer(14, 2, 3, 50)), Ok(Outcome::Created), "A spends exactly those 50");
    let wallet = store.account(2).unwrap().unwrap();
    assert_eq!((wallet.debits_posted, wallet.credits_posted), (1_050, 1_050));
    assert_books_balance(&store);
}

fn migrations_are_versioned_and_applied_once(db: TestDb) {
    let store = open(&db);
    assert_eq!(store.schema_version().unwrap(), 16);
    drop(store);
    let store = open(&db);
    assert_eq!(store.schema_version().unwrap(), 16);
}

fn verify_finds_a_tampered_balance(db: TestDb) {
    let store = open(&db);
    setup(&store, 2, 500);
    assert_books_balance(&store);
    let sql = "UPDATE accounts SET credits_posted = credits_posted + 1 WHERE code = 1";
    match &db.url {
        DatabaseUrl::Sqlite(path) => {
            rusqlite::Connection::open(path).unwrap().execute(sql, []).unwrap();
        }
        DatabaseUrl::Postgres(url) => {
            postgres::Client::connect(url, postgres::NoTls).unwrap().execute(sql, &[]).unwrap();
        }
    }
    let report = store.verify().unwrap();
    assert!(!report.ok());
    assert!(report.problems.iter().any(|p| p.contains("stored")), "{:?}", report.problems);
}

fn guards_and_effects_commit_with_their_transfers_or_not_at_all(db: TestDb) {
    use store::{Conditions, Effect, GuardFailed, Value};
    let store = open(&db);
    setup(&store, 2, 100);
    let rows = store::Db::open(&db.url, 2).unwrap();
    rows.with(|c| {
        c.batch(
            "CREATE TABLE guard_rows (id BIGINT PRIMARY KEY, state TEXT NOT NULL); INSERT INTO guard_rows VALUES (1, 'open'), (3, 'open')",
        )
    })
    .unwrap();
    let state = |id: i64| -> Option<String> {
        rows.with(|c| c.query_one("SELECT state FROM guard_rows WHERE id = $1", &[Value::Int(id)]))
            .unwrap()
            .map(|r| r.text("state").unwrap())
    };
    let take =
        |id: i64| Effect { sql: "UPDATE guard_rows SET state = 'taken' WHERE id = $1 AND state = 'open'", params: vec![Value::Int(id)] };
    let note = |id: i64| Effect {
        sql: "INSERT INTO guard_rows (id, state) VALUES ($1, 'effect') ON CONFLICT (id) DO NOTHING",
        params: vec![Value::Int(id)],
    };
    let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let guarded = |transfers: Vec<NewTransfer>, guard: i64, effect: i64| {
        runtime
            .block_on(committer.create_transfers_guarded(transfers, Conditions { guards: vec![take(guard)], effects: vec![note(effect)] }))
            .unwrap()
    };

    // The guard holds: the row, the transfer and the effect commit together.
    assert_eq!(guarded(vec![transfer(20, 2, 3, 60)], 1, 2), Ok(vec![Ok(Outcome::Created)]));
    assert_eq!((state(1).as_deref(), state(2).as_deref()), (Some("taken"), Some("effect")));
    // The same guard again changes no row: the transfer is never applied (not even recorded as failed).
    assert_eq!(guarded(vec![transfer(21, 2, 3, 10)], 1, 4), Err(GuardFailed(0)));
    assert!(store.transfer(21).unwrap().is_none() && store.failed_transfer(21).unwrap().is_none());
    assert_eq!(state(4), None);
    // The guard holds but the transfer fails: the guard's change is rolled back, the effect never runs.
    assert_eq!(guarded(vec![transfer(22, 2, 3, 1000)], 3, 5), Ok(vec![Err(TransferError::ExceedsCredits)]));
    assert_eq!((state(3).as_deref(), state(5)), (Some("open"), None));
    assert_eq!(store.account(2).unwrap().unwrap().debits_posted, 60);
    assert_books_balance(&store);
}

fn a_request_whose_statement_fails_fails_alone(db: TestDb) {
    use store::{Conditions, Effect};
    let store = open(&db);
    setup(&store, 2, 1_000_000);
    let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    // Queued from a plain thread faster than a batch commits, so the poisoned requests share batches
    // with valid ones.
    let poison = || Conditions { guards: Vec::new(), effects: vec![Effect { sql: "UPDATE no_such_table SET x = 1", params: Vec::new() }] };
    let mut waiting = Vec::new();
    for i in 0..400u128 {
        let t = transfer(10_000 + i, 2, 3, 1);
        let conditions = if i % 40 == 0 { poison() } else { Conditions::default() };
        waiting.push((i, committer.submit_transfers_with(vec![t], conditions).unwrap()));
    }
    let mut committed = 0;
    for (i, pending) in waiting {
        let answer = pending.wait_blocking();
        if i % 40 == 0 {
            assert!(matches!(answer, Err(store::StoreError::Database(_))), "request {i}: {answer:?}");
        } else {
            assert_eq!(answer.unwrap(), vec![Ok(Outcome::Created)], "request {i}");
            committed += 1;
        }
    }
    assert_eq!(committed, 390);
    // The poisoned requests' transfers were never committed.
    assert!(store.transfer(10_000).unwrap().is_none() && store.failed_transfer(10_000).unwrap().is_none());
    assert_eq!(store.account(3).unwrap().unwrap().credits_posted, 1_000_000 + 390);
    assert_books_balance(&store);
}

fn reserved_ids_in_a_failed_chain_are_never_recorded(db: TestDb) {
    let store = open(&db);
    setup(&store, 2, 100);
    let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let post_missing = |id| NewTransfer {
        pending_id: 999,
        flags: TransferFlags::POST_PENDING.union(TransferFlags::LINKED),
        debit_account_id: 0,
        credit_account_id: 0,
        currency: None,
        code: 0,
        ..transfer(id, 0, 0, 1)
    };
    for reserved in [0, u128::MAX] {
        let batch = vec![post_missing(10), transfer(reserved, 2, 3, 1)];
        for _ in 0..2 {
            let results = committer.submit_transfers(batch.clone()).unwrap().wait_blocking().unwrap();
            assert_eq!(results[0], Err(TransferError::PendingTransferNotFound));
            assert_eq!(results[1], Err(TransferError::LinkedEventFailed));
        }
        assert!(store.failed_transfer(reserved).unwrap().is_none());
    }
    assert_books_balance(&store);
}

/// A second, empty database on the same backend as `db`.
fn another(db: &TestDb, name: &str) -> TestDb {
    match &db.url {
        DatabaseUrl::Sqlite(_) => sqlite(name),
        DatabaseUrl::Postgres(_) => postgres(name).expect("PostgreSQL is configured"),
    }
}

/// A request of the mixed workload below: plain transfers, holds, posts and voids of holds made one or
/// two requests earlier (often still in flight), retries of earlier ids, overdrafts, linked chains
/// whose second half fails.
fn mixed_request(round: u64, seed: &mut u64, holds: &mut Vec<Id>) -> Vec<NewTransfer> {
    let mut next = || {
        *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        *seed >> 33
    };
    let mut batch = Vec::new();
    for i in 0..40u64 {
        let id = u128::from(1_000_000 + round * 100 + i);
        let (debit, credit) = (2 + u128::from(next() % 8), 2 + u128::from(next() % 8));
        let amount = 1 + next() % 400;
        let t = match next() % 6 {
            0 => NewTransfer { flags: TransferFlags::PENDING, ..transfer(id, debit, credit, amount) },
            1 if !holds.is_empty() => {
                let pending_id = holds.remove((next() as usize) % holds.len());
                let flags = if next() % 2 == 0 { TransferFlags::POST_PENDING } else { TransferFlags::VOID_PENDING };
                NewTransfer {
                    flags,
                    pending_id,
                    debit_account_id: 0,
                    credit_account_id: 0,
                    currency: None,
                    code: 0,
                    ..transfer(id, 0, 0, 0)
                }
            }
            2 if round > 0 => transfer(u128::from(1_000_000 + (round - 1) * 100 + next() % 40), debit, credit, amount),
            3 if i + 1 < 40 => {
                batch.push(NewTransfer { flags: TransferFlags::LINKED, ..transfer(id, debit, credit, amount) });
                continue;
            }
            _ => transfer(id, debit, credit, amount),
        };
        if t.flags.contains(TransferFlags::PENDING) {
            holds.push(id);
        }
        batch.push(t);
    }
    if batch.last().is_some_and(|t| t.flags.contains(TransferFlags::LINKED)) {
        batch.pop();
    }
    batch
}

/// Run the mixed workload with three requests in flight; every answer, in order, and how many batches
/// were pipelined.
fn run_mixed(store: &Store, pipelined: bool) -> (Vec<Vec<TransferResult>>, u64) {
    setup(store, 8, 2_000);
    let pipelined_before = store.metrics.batches_pipelined.load(std::sync::atomic::Ordering::Relaxed);
    let committer = store.start_committer(CommitterConfig { pipelined, ..fast() }, Arc::new(SystemClock)).unwrap();
    let (mut seed, mut holds) = (7u64, Vec::new());
    let mut in_flight = std::collections::VecDeque::new();
    let mut answers = Vec::new();
    for round in 0..60 {
        if in_flight.len() == 3 {
            answers.push(in_flight.pop_front().map(|p: store::Pending<_>| p.wait_blocking().unwrap()).unwrap());
        }
        in_flight.push_back(committer.submit_transfers(mixed_request(round, &mut seed, &mut holds)).unwrap());
    }
    answers.extend(in_flight.into_iter().map(|p| p.wait_blocking().unwrap()));
    (answers, store.metrics.batches_pipelined.load(std::sync::atomic::Ordering::Relaxed) - pipelined_before)
}

/// Pipelining changes no outcome: the same requests answer the same and leave the same balances
/// whether each batch is applied while the one before is written, or all run one after another.
fn pipelined_and_serial_batches_answer_alike(db: TestDb) {
    let serial_db = another(&db, "serial");
    let (pipelined, serial) = (open(&db), open(&serial_db));
    let (answers, batches_pipelined) = run_mixed(&pipelined, true);
    let (serial_answers, serial_batches_pipelined) = run_mixed(&serial, false);
    assert_eq!(answers, serial_answers, "the same answers, request by request");
    let balances = |store: &Store, w: Id| {
        let a = store.account(w).unwrap().unwrap();
        (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
    };
    for w in 2..10 {
        assert_eq!(balances(&pipelined, w), balances(&serial, w), "wallet {w}");
    }
    let failures: usize = answers.iter().flatten().filter(|r| r.is_err()).count();
    assert!(failures > 0 && failures < answers.iter().map(Vec::len).sum::<usize>() / 2, "the workload mixes successes and failures");
    assert!(batches_pipelined > 0, "batches were pipelined");
    assert_eq!(serial_batches_pipelined, 0);
    assert_books_balance(&pipelined);
    assert_books_balance(&serial);
}

/// Pipelined batches check for due expiries after each commit: a hold past its timeout expires even
/// when the committer is never idle (its idle tick, which would find it too, is out of reach here).
fn a_hold_expires_while_plain_batches_keep_coming(db: TestDb) {
    let store = open(&db);
    setup(&store, 3, 10_000);
    let clock = Arc::new(ManualClock::new(SystemClock.now_ns() + 1_000_000_000_000));
    let config = CommitterConfig { idle_tick_ms: 3_600_000, ..fast() };
    let committer = store.start_committer(config, clock.clone()).unwrap();
    let hold = NewTransfer { flags: TransferFlags::PENDING, timeout_s: 60, ..transfer(50, 2, 3, 4_000) };
    assert_eq!(committer.submit_transfers(vec![hold]).unwrap().wait_blocking().unwrap(), vec![Ok(Outcome::Created)]);
    clock.advance_s(61);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut id = 100;
    while store.transfer(50).unwrap().unwrap().1.unwrap().state != PendingState::Expired {
        assert!(std::time::Instant::now() < deadline, "the hold expired within 10 s of plain batches");
        id += 1;
        let results = committer.submit_transfers(vec![transfer(id, 3, 4, 1)]).unwrap().wait_blocking().unwrap();
        assert_eq!(results, vec![Ok(Outcome::Created)]);
    }
    assert_eq!(store.account(2).unwrap().unwrap().debits_pending, 0);
    assert_books_balance(&store);
}

/// A committer that keeps its working set between pipelined batches must not spend a balance another
/// instance spent meanwhile: the batch applied on the stale balance is refused where it is written,
/// and runs again on what the database holds.
fn a_pipelined_batch_applied_on_a_stale_balance_runs_again(db: TestDb) {
    // Ids above the journal's largest, so that A takes them for new without a read.
    const NEW: Id = 1 << 40;
    let store = open(&db);
    setup(&store, 2, 1_000);
    let other = Store::open(&db.url).unwrap();
    let a = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let b = other.start_committer(CommitterConfig { pipelined: false, ..fast() }, Arc::new(SystemClock)).unwrap();
    let one = |c: &store::Committer, t: NewTransfer| c.submit_transfers(vec![t]).unwrap().wait_blocking().unwrap()[0];
    assert_eq!(one(&a, transfer(NEW + 10, 2, 3, 100)), Ok(Outcome::Created), "A keeps wallet 2 at 900 in memory");
    assert_eq!(one(&b, transfer(NEW + 11, 2, 3, 900)), Ok(Outcome::Created), "B spends the 900");
    let rerun = || store.metrics.batches_rerun.load(std::sync::atomic::Ordering::Relaxed);
    let before = rerun();
    assert_eq!(one(&a, transfer(NEW + 12, 2, 3, 1)), Err(TransferError::ExceedsCredits), "A's batch ran again on the real balance");
    assert_eq!(rerun(), before + 1, "the batch applied on the stale balance was refused and run again");
    assert_books_balance(&store);
}

/// Only the ledger's writers disturb a committer: rows the platform writes to the same database on its
/// own connections between two batches (orders, notifications) leave the working set trusted, so no
/// batch is refused for them and run again.
fn business_rows_written_between_batches_leave_the_working_set_trusted(db: TestDb) {
    const NEW: Id = 1 << 40;
    let store = open(&db);
    setup(&store, 2, 1_000);
    let committer = store.start_committer(fast(), Arc::new(SystemClock)).unwrap();
    let rows = store::Db::open(&db.url, 1).unwrap();
    rows.with(|c| c.execute("CREATE TABLE probe_rows (n BIGINT NOT NULL)", &[])).unwrap();
    for n in 0..5 {
        let results = committer.submit_transfers(vec![transfer(NEW + n, 2, 3, 1)]).unwrap().wait_blocking().unwrap();
        assert_eq!(results, vec![Ok(Outcome::Created)]);
        rows.with(|c| c.execute("INSERT INTO probe_rows (n) VALUES ($1)", &[store::Value::Int(n as i64)])).unwrap();
    }
    assert_eq!(store.metrics.batches_rerun.load(std::sync::atomic::Ordering::Relaxed), 0, "no batch was refused");
    assert!(store.metrics.batches_pipelined.load(std::sync::atomic::Ordering::Relaxed) >= 5);
    assert_eq!(store.account(3).unwrap().unwrap().credits_posted, 1_000 + 5);
}

/// A batch's transfers see every hold due by their time already expired, pipelined or not: the wallet
/// whose money a timed-out hold reserved can spend it in the very next batch (and the id of a transfer
/// refused for lack of it would keep that refusal forever).
fn money_held_past_its_timeout_is_free_for_the_next_batch(db: TestDb) {
    const NEW: Id = 1 << 40;
    let store = open(&db);
    setup(&store, 2, 1_000);
    let clock = Arc::new(ManualClock::new(SystemClock.now_ns() + 1_000_000_000_000));
    let committer = store.start_committer(CommitterConfig { idle_tick_ms: 3_600_000, ..fast() }, clock.clone()).unwrap();
    let one = |t: NewTransfer| committer.submit_transfers(vec![t]).unwrap().wait_blocking().unwrap()[0];
    assert_eq!(one(transfer(NEW, 3, 2, 1)), Ok(Outcome::Created), "a plain batch first: the committer is pipelining");
    let hold = NewTransfer { flags: TransferFlags::PENDING, timeout_s: 60, ..transfer(NEW + 1, 2, 3, 1_001) };
    assert_eq!(one(hold), Ok(Outcome::Created));
    clock.advance_s(61);
    assert_eq!(one(transfer(NEW + 2, 2, 3, 1_001)), Ok(Outcome::Created), "the hold expired before this batch");
    assert_eq!(store.transfer(NEW + 1).unwrap().unwrap().1.unwrap().state, PendingState::Expired);
    assert_books_balance(&store);
}
