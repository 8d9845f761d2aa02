//! PostgreSQL's LISTEN/NOTIFY, for what instances must tell each other at once (a cache entry another
//! instance changed). `notify` sends on a connection of the caller's; `listen` holds a connection of its
//! own and hands every message to its handler, reconnecting when the connection is lost. A lost
//! connection may have lost messages, so the handler is then told `None`: "assume anything changed".

use crate::db::Conn;
use crate::{DatabaseUrl, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the listener looks at its stop flag while no message comes.
const POLL: Duration = Duration::from_millis(500);
/// How long the listener waits before reconnecting after the connection was lost.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// PostgreSQL refuses a payload of 8000 bytes or more.
pub const PAYLOAD_BYTES_MAX: usize = 7_999;

/// Send `payload` on `channel` (delivered to listeners when the caller's transaction commits, or at once
/// outside one). A no-op on SQLite: an embedded database has one instance.
pub fn notify(c: &mut dyn Conn, channel: &str, payload: &str) -> Result<()> {
    assert!(payload.len() <= PAYLOAD_BYTES_MAX, "a notification's payload fits PostgreSQL's limit");
    if c.dialect() == crate::Dialect::Postgres {
        c.execute("SELECT pg_notify($1, $2)", crate::params![channel, payload])?;
    }
    Ok(())
}

/// Listen on `channel` until `stop` is set, on a thread of its own; `None` for SQLite. The handler gets
/// `Some(payload)` per message and `None` after a reconnection (messages may have been missed).
pub fn listen(
    url: &DatabaseUrl,
    channel: &str,
    stop: Arc<AtomicBool>,
    handler: impl FnMut(Option<&str>) + Send + 'static,
) -> Option<std::thread::JoinHandle<()>> {
    let DatabaseUrl::Postgres(url) = url else { return None };
    let (url, channel) = (url.clone(), channel.to_string());
    assert!(channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "a channel name is an identifier");
    let thread = std::thread::Builder::new().name(format!("listen-{channel}")).spawn(move || {
        let mut handler = handler;
        let mut first = true;
        while !stop.load(Ordering::Relaxed) {
            let listening = postgres::Client::connect(&url, postgres::NoTls)
                .and_then(|mut client| client.batch_execute(&format!("LISTEN {channel}")).map(|()| client));
            if let Ok(mut client) = listening {
                if !first {
                    handler(None);
                }
                first = false;
                receive(&mut client, &stop, &mut handler);
            }
            if !stop.load(Ordering::Relaxed) {
                std::thread::sleep(RECONNECT_DELAY);
            }
        }
    });
    thread.ok()
}

/// Hand each message to the handler until the connection fails or `stop` is set.
fn receive(client: &mut postgres::Client, stop: &AtomicBool, handler: &mut impl FnMut(Option<&str>)) {
    while !stop.load(Ordering::Relaxed) {
        {
            let mut messages = client.notifications();
            let mut iter = messages.timeout_iter(POLL);
            loop {
                match postgres::fallible_iterator::FallibleIterator::next(&mut iter) {
                    Ok(Some(message)) => handler(Some(message.payload())),
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
        }
        // A quiet connection may have died without a word: a round trip tells.
        if client.is_closed() || client.simple_query("").is_err() {
            return;
        }
    }
}
