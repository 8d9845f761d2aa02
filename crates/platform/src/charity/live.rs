//! Live totals: who is watching a campaign's totals learns of each change without polling.
//!
//! Each campaign being watched has a version counter here; a donation or refund committed on this
//! instance bumps it at once. A donation committed on another instance is seen at the next check, at
//! most [`LIVE_CHECK_MS`] later: the watcher reads the totals again on that tick (a primary-key read).
//! What a watcher is sent is always the totals as committed, never a sum kept beside them.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// The longest a change committed on another instance waits to be seen.
pub const LIVE_CHECK_MS: u64 = 1_000;
/// Campaigns watched at once on one instance (each costs a counter).
pub const WATCHED_MAX: usize = 10_000;

pub struct Live {
    watched: Mutex<HashMap<i64, watch::Sender<u64>>>,
}

impl Live {
    pub(crate) fn new() -> Live {
        Live { watched: Mutex::new(HashMap::new()) }
    }

    /// A receiver that changes whenever this instance commits a change to the campaign's totals;
    /// `None` when too many campaigns are watched already.
    pub fn watch(&self, campaign: i64) -> Option<watch::Receiver<u64>> {
        let mut watched = self.watched.lock().expect("live totals");
        if !watched.contains_key(&campaign) {
            // Forget campaigns nobody watches any more before refusing a new one.
            if watched.len() >= WATCHED_MAX {
                watched.retain(|_, sender| sender.receiver_count() > 0);
            }
            if watched.len() >= WATCHED_MAX {
                return None;
            }
        }
        Some(watched.entry(campaign).or_insert_with(|| watch::channel(0).0).subscribe())
    }

    /// The campaign's totals changed (a commit on this instance).
    pub(crate) fn changed(&self, campaign: i64) {
        if let Some(sender) = self.watched.lock().expect("live totals").get(&campaign) {
            sender.send_modify(|version| *version += 1);
        }
    }
}
