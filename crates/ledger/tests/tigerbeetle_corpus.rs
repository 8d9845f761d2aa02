//! Batches that were sent to a real TigerBeetle (0.17.9, built from source; see `tigerbeetle/README.md`),
//! with every answer and every account's balances as TigerBeetle gave them, replayed through Qianbao's
//! engine: each answer and each balance must be the same. Runs without TigerBeetle (the answers are
//! recorded in `tigerbeetle/corpus/*.json`).
//!
//! The mapping is the one the README's "Decisions worth knowing" states: a ledger number is a currency
//! (1 CNY, 2 HKD, 0 none), `user_data_128` is `user_data`, TigerBeetle's `AMOUNT_MAX` (2^128−1) is
//! [`AMOUNT_ALL`], result names differ only where the field does (`ledger` → `currency`,
//! `user_data_128` → `user_data`, `reserved_flag` → `flags_reserved`), and an identical retry of a
//! transient failure answers its first result where TigerBeetle answers `id_already_failed`.

use ledger::*;
use money::Currency;
use serde_json::Value;
use std::collections::HashMap;

fn u128_of(v: &Value) -> u128 {
    v.as_str().expect("a decimal string").parse().expect("a u128")
}

/// TigerBeetle's amounts are u128. `AMOUNT_MAX` is [`AMOUNT_ALL`]; another amount past Qianbao's cap only
/// appears as a post's or void's (the generator derives one from a balancing hold's bound), where it
/// exceeds any hold either way: it becomes `AMOUNT_ALL - 1`.
fn amount_of(v: &Value, resolving: bool) -> u64 {
    match u128_of(v) {
        u128::MAX => AMOUNT_ALL,
        a if a > u128::from(AMOUNT_MAX) => {
            assert!(resolving, "amount {a} past the cap on a plain transfer");
            AMOUNT_ALL - 1
        }
        a => u64::try_from(a).unwrap(),
    }
}

fn currency_of(ledger: &Value) -> Option<Currency> {
    match ledger.as_u64().expect("ledger is a number") {
        0 => None,
        1 => Some(Currency::from_code("CNY").unwrap()),
        2 => Some(Currency::from_code("HKD").unwrap()),
        other => panic!("ledger {other} is not in the mapping"),
    }
}

fn names(v: &Value) -> Vec<String> {
    v.as_array().expect("flags are a list").iter().map(|f| f.as_str().unwrap().to_string()).collect()
}

fn transfer_of(e: &Value) -> NewTransfer {
    let flags = TransferFlags::from_names(&names(&e["flags"])).expect("known transfer flags");
    let resolving = flags.contains(TransferFlags::POST_PENDING) || flags.contains(TransferFlags::VOID_PENDING);
    NewTransfer {
        id: u128_of(&e["id"]),
        debit_account_id: u128_of(&e["debit_account_id"]),
        credit_account_id: u128_of(&e["credit_account_id"]),
        amount: amount_of(&e["amount"], resolving),
        pending_id: u128_of(&e["pending_id"]),
        currency: currency_of(&e["ledger"]),
        code: u16::try_from(e["code"].as_u64().unwrap()).unwrap(),
        flags,
        timeout_s: u32::try_from(e["timeout"].as_u64().unwrap()).unwrap(),
        user_data: u128_of(&e["user_data"]),
    }
}

fn account_of(e: &Value) -> NewAccount {
    NewAccount {
        id: u128_of(&e["id"]),
        currency: currency_of(&e["ledger"]).expect("accounts always have a currency"),
        code: u16::try_from(e["code"].as_u64().unwrap()).unwrap(),
        flags: AccountFlags::from_names(&names(&e["flags"])).expect("known account flags"),
        user_data: u128_of(&e["user_data"]),
    }
}

/// TigerBeetle's result name in Qianbao's words.
fn ours(tigerbeetle: &str) -> String {
    match tigerbeetle {
        "reserved_flag" => "flags_reserved".into(),
        "ledger_must_not_be_zero" => "currency_must_not_be_none".into(),
        "exists_with_different_user_data_128" => "exists_with_different_user_data".into(),
        other => other.replace("ledger", "currency"),
    }
}

fn answer(r: Result<Outcome, &'static str>) -> String {
    match r {
        Ok(Outcome::Created) => "created".into(),
        Ok(Outcome::Exists) => "exists".into(),
        Err(e) => e.to_string(),
    }
}

struct Replay {
    ledger: Ledger,
    clock: u64,
    /// What TigerBeetle recorded as an id's transient failure: the request and its answer.
    failed: HashMap<u128, (NewTransfer, String)>,
}

impl Replay {
    fn transfers(&mut self, events: &[Value], expected: &[String], at: &str) {
        let batch: Vec<NewTransfer> = events.iter().map(transfer_of).collect();
        self.clock += 1_000_000;
        let results = self.ledger.create_transfers(&batch, self.clock, &mut Changes::default());
        for (i, (t, tb)) in batch.iter().zip(expected).enumerate() {
            let mut want = ours(tb);
            if want == "id_already_failed"
                && let Some((first, error)) = self.failed.get(&t.id)
                && first == t
            {
                want = error.clone(); // the stated difference: the same request hears its first answer
            }
            let got = answer(results[i].map_err(|e| e.code()));
            assert_eq!(got, want, "{at}, event {i}: {t:?}");
            if TransferError::from_code(&want).is_some_and(TransferError::is_transient) {
                self.failed.entry(t.id).or_insert((*t, want));
            }
        }
        self.ledger.check_invariants().unwrap_or_else(|e| panic!("{at}: {e}"));
    }

    fn accounts(&mut self, events: &[Value], expected: &[String], at: &str) {
        let batch: Vec<NewAccount> = events.iter().map(account_of).collect();
        self.clock += 1_000_000;
        let results = self.ledger.create_accounts(&batch, self.clock, &mut Changes::default());
        for (i, (a, tb)) in batch.iter().zip(expected).enumerate() {
            assert_eq!(answer(results[i].map_err(|e| e.code())), ours(tb), "{at}, account event {i}: {a:?}");
        }
    }

    fn balances(&self, balances: &serde_json::Map<String, Value>, at: &str) {
        for (id, b) in balances {
            let id: u128 = id.parse().unwrap();
            let Some(a) = self.ledger.account(id) else {
                panic!("{at}: TigerBeetle has account {id}, Qianbao does not");
            };
            let want = [&b["debits_pending"], &b["debits_posted"], &b["credits_pending"], &b["credits_posted"]].map(u128_of);
            let got = [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted].map(u128::from);
            assert_eq!(got, want, "{at}: balances of account {id}");
            let flags = AccountFlags::from_names(&names(&b["flags"])).unwrap();
            assert_eq!(a.flags, flags, "{at}: flags of account {id}");
        }
    }
}

/// Replays one corpus; returns how many events it compared.
fn replay(name: &str, corpus: &Value) -> usize {
    let mut compared = 0;
    let mut r = Replay { ledger: Ledger::new(), clock: 1_700_000_000_000_000_000, failed: HashMap::new() };
    let accounts: Vec<Value> = corpus["accounts"].as_array().unwrap().clone();
    let created = vec!["created".to_string(); accounts.len()];
    r.accounts(&accounts, &created, &format!("{name}: the accounts"));
    for (n, batch) in corpus["batches"].as_array().unwrap().iter().enumerate() {
        let at = format!("{name}, batch {n}");
        let events = batch["events"].as_array().unwrap();
        let expected: Vec<String> = batch["results"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect();
        assert_eq!(events.len(), expected.len(), "{at}: one result per event");
        compared += events.len();
        match batch["kind"].as_str().unwrap() {
            "transfers" => r.transfers(events, &expected, &at),
            "accounts" => r.accounts(events, &expected, &at),
            other => panic!("{at}: unknown batch kind {other}"),
        }
        r.balances(batch["balances"].as_object().unwrap(), &at);
    }
    compared
}

#[test]
fn every_recorded_tigerbeetle_answer_and_balance_is_reproduced() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tigerbeetle/corpus");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    let mut compared = 0;
    for file in files {
        let corpus: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        compared += replay(&file.file_name().unwrap().to_string_lossy(), &corpus);
    }
    assert!(compared > 5_000, "only {compared} events compared");
}
