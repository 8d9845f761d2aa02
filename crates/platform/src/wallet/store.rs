//! The wallet domain's storage: `cards`, `bank_accounts`, `rail_operations`, and the sandbox rail's
//! memory (`sandbox_rail`). The only place their SQL lives.

use super::{BankAccount, Card, Operation, RailKind, RailState};
use crate::PersonId;
use crate::history::Window;
use money::Currency;
use store::{Conn, Effect, Result, Row, StoreError, params};

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("unknown {what} in a stored row"))
}

pub(crate) fn insert_card(c: &mut dyn Conn, person: PersonId, card: &Card, token: &str, now_ms: i64) -> Result<()> {
    c.execute(
        "INSERT INTO cards (id, person_id, token, brand, last4, exp_month, exp_year, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![card.id, person, token, card.brand, card.last4.as_str(), card.exp_month, card.exp_year, now_ms],
    )?;
    Ok(())
}

fn card_from(r: &Row) -> Result<Card> {
    let stored = r.text("brand")?;
    let brand = super::cards::BRANDS.iter().copied().find(|b| *b == stored).ok_or_else(|| corrupt("card brand"))?;
    Ok(Card { id: r.int("id")?, brand, last4: r.text("last4")?, exp_month: r.int("exp_month")?, exp_year: r.int("exp_year")? })
}

pub(crate) fn cards(c: &mut dyn Conn, person: PersonId) -> Result<Vec<Card>> {
    let rows = c.query(
        "SELECT id, brand, last4, exp_month, exp_year FROM cards WHERE person_id = $1 AND removed_at IS NULL ORDER BY id",
        params![person],
    )?;
    rows.iter().map(card_from).collect()
}

/// The rail token of a person's own card, unless they removed it.
pub(crate) fn card_token(c: &mut dyn Conn, person: PersonId, card: i64) -> Result<Option<String>> {
    let sql = "SELECT token FROM cards WHERE id = $1 AND person_id = $2 AND removed_at IS NULL";
    c.query_one(sql, params![card, person])?.map(|r| r.text("token")).transpose()
}

/// A person removes their card: it is never charged again (records that name it keep it); `false`
/// when they have no such card (or removed it before).
pub(crate) fn remove_card(c: &mut dyn Conn, person: PersonId, card: i64, now_ms: i64) -> Result<bool> {
    let sql = "UPDATE cards SET removed_at = $3 WHERE id = $1 AND person_id = $2 AND removed_at IS NULL";
    Ok(c.execute(sql, params![card, person, now_ms])? == 1)
}

pub(crate) fn insert_bank_account(c: &mut dyn Conn, person: PersonId, a: &BankAccount, token: &str, now_ms: i64) -> Result<()> {
    c.execute(
        "INSERT INTO bank_accounts (id, person_id, token, bank, holder_name, last4, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![a.id, person, token, a.bank.as_str(), a.holder_name.as_str(), a.last4.as_str(), now_ms],
    )?;
    Ok(())
}

pub(crate) fn bank_accounts(c: &mut dyn Conn, person: PersonId) -> Result<Vec<BankAccount>> {
    let rows = c.query("SELECT id, bank, holder_name, last4 FROM bank_accounts WHERE person_id = $1 ORDER BY id", params![person])?;
    rows.iter()
        .map(|r| Ok(BankAccount { id: r.int("id")?, bank: r.text("bank")?, holder_name: r.text("holder_name")?, last4: r.text("last4")? }))
        .collect()
}

pub(crate) fn bank_account_token(c: &mut dyn Conn, person: PersonId, account: i64) -> Result<Option<String>> {
    c.query_one("SELECT token FROM bank_accounts WHERE id = $1 AND person_id = $2", params![account, person])?
        .map(|r| r.text("token"))
        .transpose()
}

const OPERATION: &str = "id, person_id, kind, card_id, bank_account_id, currency, amount, state, rail_reference, failure, created_at";

fn operation_from(r: &Row) -> Result<Operation> {
    let kind = RailKind::parse(&r.text("kind")?).ok_or_else(|| corrupt("rail operation kind"))?;
    let instrument = match kind {
        RailKind::Withdrawal => r.opt_int("bank_account_id")?,
        RailKind::TopUp | RailKind::CardPayment => r.opt_int("card_id")?,
    };
    Ok(Operation {
        id: r.int("id")?,
        person: PersonId::new(r.int("person_id")?),
        kind,
        instrument: instrument.unwrap_or(0),
        currency: Currency::from_numeric(r.uint("currency")?).map_err(|_| corrupt("currency"))?,
        amount_minor: r.int("amount")?,
        state: RailState::parse(&r.text("state")?).ok_or_else(|| corrupt("rail operation state"))?,
        rail_reference: r.opt_text("rail_reference")?,
        failure: r.opt_text("failure")?,
        created_at_ms: r.int("created_at")?,
    })
}

/// A rail operation recorded as pending (the durable intent, before the rail is asked).
pub(crate) fn insert_operation(op: &Operation) -> Effect {
    let (card, bank) = match op.kind {
        RailKind::Withdrawal => (None, Some(op.instrument)),
        RailKind::TopUp | RailKind::CardPayment => (Some(op.instrument), None),
    };
    Effect {
        sql: "INSERT INTO rail_operations (id, person_id, kind, card_id, bank_account_id, currency, amount, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (id) DO NOTHING",
        params: params![op.id, op.person, op.kind, card, bank, op.currency.numeric(), op.amount_minor, op.state, op.created_at_ms].to_vec(),
    }
}

/// Run an effect outside the committer (a row whose commit need not wait for a batch).
pub(crate) fn run(c: &mut dyn Conn, effect: &Effect) -> Result<u64> {
    c.execute(effect.sql, &effect.params)
}

/// A pending operation ends: only once (a guard: it changes no row if it already ended).
pub(crate) fn finish_operation(id: i64, state: RailState, failure: Option<&str>, reference: Option<&str>, now_ms: i64) -> Effect {
    change_operation(id, RailState::Pending, state, failure, reference, now_ms)
}

/// An operation's state changed from `from` (a guard: an operation in another state changes nothing).
pub(crate) fn change_operation(
    id: i64,
    from: RailState,
    to: RailState,
    failure: Option<&str>,
    reference: Option<&str>,
    now_ms: i64,
) -> Effect {
    Effect {
        sql: "UPDATE rail_operations SET state = $2, failure = $3, rail_reference = COALESCE($4, rail_reference), updated_at = $5 WHERE id = $1 AND state = $6",
        params: params![id, to, failure, reference, now_ms, from].to_vec(),
    }
}

pub(crate) fn record_reference(c: &mut dyn Conn, id: i64, reference: &str, now_ms: i64) -> Result<()> {
    c.execute("UPDATE rail_operations SET rail_reference = $1, updated_at = $2 WHERE id = $3", params![reference, now_ms, id])?;
    Ok(())
}

pub(crate) fn operation(c: &mut dyn Conn, id: i64) -> Result<Option<Operation>> {
    c.query_one(&format!("SELECT {OPERATION} FROM rail_operations WHERE id = $1"), params![id])?.as_ref().map(operation_from).transpose()
}

/// Pending operations of a kind, oldest first (the deadline sweep).
pub(crate) fn pending_operations(c: &mut dyn Conn, kind: RailKind, limit: i64) -> Result<Vec<Operation>> {
    let rows = c.query(
        &format!("SELECT {OPERATION} FROM rail_operations WHERE state = $1 AND kind = $2 ORDER BY id LIMIT $3"),
        params![RailState::Pending, kind, limit],
    )?;
    rows.iter().map(operation_from).collect()
}

/// A person's rail operations of a kind in a history window, newest first.
pub(crate) fn operations_of(c: &mut dyn Conn, person: PersonId, kind: RailKind, w: Window) -> Result<Vec<Operation>> {
    let rows = c.query(
        &format!("SELECT {OPERATION} FROM rail_operations WHERE person_id = $1 AND kind = $2 AND created_at >= $3 AND (created_at, id) < ($4, $5) AND ($6 < 0 OR currency = $6) ORDER BY created_at DESC, id DESC LIMIT $7"),
        params![person, kind, w.from_ms, w.before.0, w.before.1, w.currency, w.limit],
    )?;
    rows.iter().map(operation_from).collect()
}

/// One thing the sandbox rail was asked and what it answered.
pub(crate) struct SandboxEntry {
    pub key: String,
    pub reference: String,
    pub operation: &'static str,
    pub behaviour: String,
    pub amount_minor: i64,
    pub refunded_minor: i64,
    pub outcome: String,
    pub reason: Option<String>,
    pub parent: Option<String>,
    pub created_at_ms: i64,
}

fn sandbox_from(r: &Row) -> Result<SandboxEntry> {
    let operation = match r.text("operation")?.as_str() {
        "charge" => "charge",
        "refund" => "refund",
        _ => return Err(corrupt("sandbox operation")),
    };
    Ok(SandboxEntry {
        key: r.text("idempotency_key")?,
        reference: r.text("reference")?,
        operation,
        behaviour: r.text("behaviour")?,
        amount_minor: r.int("amount")?,
        refunded_minor: r.int("refunded")?,
        outcome: r.text("outcome")?,
        reason: r.opt_text("reason")?,
        parent: r.opt_text("parent")?,
        created_at_ms: r.int("created_at")?,
    })
}

const SANDBOX: &str = "idempotency_key, reference, operation, behaviour, amount, refunded, outcome, reason, parent, created_at";

pub(crate) fn sandbox_by_key(c: &mut dyn Conn, key: &str) -> Result<Option<SandboxEntry>> {
    c.query_one(&format!("SELECT {SANDBOX} FROM sandbox_rail WHERE idempotency_key = $1"), params![key])?
        .as_ref()
        .map(sandbox_from)
        .transpose()
}

pub(crate) fn sandbox_by_reference(c: &mut dyn Conn, reference: &str) -> Result<Option<SandboxEntry>> {
    c.query_one(&format!("SELECT {SANDBOX} FROM sandbox_rail WHERE reference = $1"), params![reference])?
        .as_ref()
        .map(sandbox_from)
        .transpose()
}

pub(crate) fn sandbox_insert(c: &mut dyn Conn, e: &SandboxEntry) -> Result<()> {
    c.execute(
        "INSERT INTO sandbox_rail (idempotency_key, reference, operation, behaviour, amount, refunded, outcome, reason, parent, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        params![e.key.as_str(), e.reference.as_str(), e.operation, e.behaviour.as_str(), e.amount_minor, e.refunded_minor, e.outcome.as_str(), e.reason.clone(), e.parent.clone(), e.created_at_ms],
    )?;
    Ok(())
}

pub(crate) fn sandbox_update(c: &mut dyn Conn, reference: &str, outcome: &str, reason: Option<&str>, refunded_minor: i64) -> Result<()> {
    c.execute(
        "UPDATE sandbox_rail SET outcome = $2, reason = $3, refunded = $4 WHERE reference = $1",
        params![reference, outcome, reason, refunded_minor],
    )?;
    Ok(())
}
