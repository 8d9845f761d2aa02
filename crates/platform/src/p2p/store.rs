//! The p2p domain's storage: `p2p_transfers` (who, what and why; the state is the ledger's).

use super::{Hold, Sent};
use crate::PersonId;
use crate::history::Window;
use money::Currency;
use store::{Conn, Effect, Result, Row, StoreError, params};

const COLUMNS: &str = "id, sender_id, receiver_id, currency, amount, note, created_at, expires_at, held";

fn sent_from(r: &Row) -> Result<Sent> {
    Ok(Sent {
        id: r.int("id")?,
        sender: PersonId::new(r.int("sender_id")?),
        receiver: PersonId::new(r.int("receiver_id")?),
        currency: Currency::from_numeric(r.uint("currency")?).map_err(|e| StoreError::Database(e.to_string()))?,
        amount_minor: r.int("amount")?,
        note: r.text("note")?,
        created_at_ms: r.int("created_at")?,
        expires_at_ms: r.int("expires_at")?,
        held: Hold::of(r.int("held")?),
    })
}

/// The row that explains a hold: a guard of the hold's commit (a retry that raced in first wins).
pub(crate) fn insert(s: &Sent) -> Effect {
    Effect {
        sql: "INSERT INTO p2p_transfers (id, sender_id, receiver_id, currency, amount, note, created_at, expires_at, held) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        params: params![
            s.id,
            s.sender,
            s.receiver,
            s.currency.numeric(),
            s.amount_minor,
            s.note.as_str(),
            s.created_at_ms,
            s.expires_at_ms,
            s.held as i64
        ]
        .to_vec(),
    }
}

pub(crate) fn by_id(c: &mut dyn Conn, id: i64) -> Result<Option<Sent>> {
    c.query_one(&format!("SELECT {COLUMNS} FROM p2p_transfers WHERE id = $1"), params![id])?.as_ref().map(sent_from).transpose()
}

/// A person's transfers sent (`outgoing`) or received in a history window, newest first.
pub(crate) fn of(c: &mut dyn Conn, person: PersonId, outgoing: bool, w: Window) -> Result<Vec<Sent>> {
    let sql = if outgoing {
        "SELECT id, sender_id, receiver_id, currency, amount, note, created_at, expires_at, held FROM p2p_transfers WHERE sender_id = $1 AND created_at >= $2 AND (created_at, id) < ($3, $4) AND ($5 < 0 OR currency = $5) ORDER BY created_at DESC, id DESC LIMIT $6"
    } else {
        "SELECT id, sender_id, receiver_id, currency, amount, note, created_at, expires_at, held FROM p2p_transfers WHERE receiver_id = $1 AND created_at >= $2 AND (created_at, id) < ($3, $4) AND ($5 < 0 OR currency = $5) ORDER BY created_at DESC, id DESC LIMIT $6"
    };
    let rows = c.query(sql, params![person, w.from_ms, w.before.0, w.before.1, w.currency, w.limit])?;
    rows.iter().map(sent_from).collect()
}

/// A held transfer's review decided: a guard (`from` must still be its state).
pub(crate) fn set_hold(id: i64, from: Hold, to: Hold) -> Effect {
    Effect { sql: "UPDATE p2p_transfers SET held = $2 WHERE id = $1 AND held = $3", params: params![id, to as i64, from as i64].to_vec() }
}
