//! Replay protection for the merchant API: a signed request's nonce may be used once within the
//! signature window, on any instance and across restarts. Each nonce is remembered durably (a guard of
//! a committer request: requests arriving together share one transaction); an in-memory copy answers
//! replays to this instance without a write. Nonces older than twice the window are forgotten.

use super::{Merchants, store};
use crate::Result;
use std::collections::HashMap;
use std::sync::Mutex;

/// The signature window (WeChat's: a request's timestamp within five minutes of the server's clock).
pub const NONCE_WINDOW_S: i64 = 300;
/// Nonces this instance remembers in memory at most (beyond, the oldest half goes; the database still
/// remembers them all).
const NONCES_IN_MEMORY_MAX: usize = 200_000;

#[derive(Default)]
pub(super) struct Nonces(Mutex<HashMap<(String, String), i64>>);

impl Nonces {
    /// False if this instance saw the nonce within the window.
    fn fresh_here(&self, mchid: &str, nonce: &str, now_s: i64) -> bool {
        let mut seen = self.0.lock().expect("nonces");
        if seen.len() >= NONCES_IN_MEMORY_MAX {
            seen.retain(|_, at| *at > now_s - NONCE_WINDOW_S * 2);
            if seen.len() >= NONCES_IN_MEMORY_MAX {
                let mut ats: Vec<i64> = seen.values().copied().collect();
                ats.sort_unstable();
                let median = ats[ats.len() / 2];
                seen.retain(|_, at| *at > median);
            }
        }
        seen.insert((mchid.to_string(), nonce.to_string()), now_s).is_none_or(|at| at < now_s - NONCE_WINDOW_S * 2)
    }
}

impl Merchants {
    /// Remember a request's nonce; false if it was used before (here, on another instance, or before a
    /// restart) within the window.
    pub async fn fresh_nonce(&self, mchid: &str, nonce: &str, now_s: i64) -> Result<bool> {
        if !self.nonces.fresh_here(mchid, nonce, now_s) {
            return Ok(false);
        }
        self.core.commit_rows(vec![store::remember_nonce(mchid, nonce, now_s)], Vec::new()).await
    }

    /// Forget nonces no signature window can reach (run by the deadline task).
    pub(crate) async fn purge_nonces(&self, limit: i64) -> Result<u64> {
        // Signature windows are real time (a request's timestamp against the system clock).
        let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let before = now_s - NONCE_WINDOW_S * 2;
        self.core.write(move |c| store::purge_nonces(c, before, limit)).await
    }

    /// This instance is alive: how many instances are (seen within `window_ms`), for limits that hold
    /// across all of them.
    pub async fn heartbeat(&self, instance: &str, window_ms: i64) -> Result<i64> {
        let (id, now) = (instance.to_string(), self.core.now_ms());
        self.core.write(move |c| store::heartbeat(c, &id, now, window_ms)).await
    }
}
