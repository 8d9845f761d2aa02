//! Small time-bounded caches for what nearly every request reads: a session's person, a person's row, a
//! person's PIN while it stands clean, the pairs found friends (a fact that never changes back).
//! An entry lives `TTL` at most. Changes made by this instance forget the entry at once; on PostgreSQL,
//! changes made by another instance (a sign-out, a KYC upgrade) are announced and forgotten here within
//! the message's delivery (`invalidation`), and `TTL` is the bound while that channel is down. Each cache holds at most
//! `ENTRIES_MAX` entries and starts over when full (a burst of new sessions cannot grow it without bound),
//! and drops its expired entries whenever it has doubled since it last did (so an idle wallet costs the
//! server no memory once its entries aged out, at an amortised constant cost per `put`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(5);
pub const ENTRIES_MAX: usize = 100_000;

/// The fewest entries at which a cache looks for expired ones to drop.
const PURGE_AT_LEAST: usize = 1_024;

pub struct TimedCache<K, V>(Mutex<Entries<K, V>>, Duration);

struct Entries<K, V> {
    map: HashMap<K, (Instant, V)>,
    /// At this many entries, the expired ones are dropped (twice what was left the last time).
    purge_at: usize,
    /// How many times anything was forgotten (see [`TimedCache::ticket`]).
    forgotten: u64,
}

/// Taken before a read whose answer will be cached: `put_read` keeps the answer only if nothing was
/// forgotten since, so a read that raced a change (the change committed and forgotten while the read was
/// in flight, the old answer arriving after) is not cached as if it were new.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Ticket(u64);

impl<K, V> Default for TimedCache<K, V> {
    fn default() -> Self {
        TimedCache::with_ttl(TTL)
    }
}

impl<K, V> TimedCache<K, V> {
    /// A cache whose entries live `ttl` at most.
    pub fn with_ttl(ttl: Duration) -> Self {
        TimedCache(Mutex::new(Entries { map: HashMap::new(), purge_at: PURGE_AT_LEAST, forgotten: 0 }), ttl)
    }
}

impl<K: Eq + Hash, V: Clone> TimedCache<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.0.lock().expect("cache lock");
        entries.map.get(key).filter(|(at, _)| at.elapsed() < self.1).map(|(_, v)| v.clone())
    }

    /// The ticket for a read about to be made (see [`Ticket`]).
    pub fn ticket(&self) -> Ticket {
        Ticket(self.0.lock().expect("cache lock").forgotten)
    }

    /// Keep what a read taken under `ticket` found, unless something was forgotten since (a change the
    /// read may have missed): then the next read reads again.
    pub fn put_read(&self, ticket: Ticket, key: K, value: V) {
        let mut entries = self.0.lock().expect("cache lock");
        if entries.forgotten == ticket.0 {
            self.insert(&mut entries, key, value);
        }
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.0.lock().expect("cache lock");
        self.insert(&mut entries, key, value);
    }

    fn insert(&self, entries: &mut Entries<K, V>, key: K, value: V) {
        let ttl = self.1;
        if entries.map.len() >= ENTRIES_MAX {
            entries.map.clear();
        }
        if entries.map.len() >= entries.purge_at {
            entries.map.retain(|_, (at, _)| at.elapsed() < ttl);
            entries.map.shrink_to_fit();
            entries.purge_at = (entries.map.len() * 2).max(PURGE_AT_LEAST);
        }
        entries.map.insert(key, (Instant::now(), value));
        debug_assert!(entries.map.len() <= ENTRIES_MAX);
    }

    pub fn forget(&self, key: &K) {
        let mut entries = self.0.lock().expect("cache lock");
        entries.map.remove(key);
        entries.forgotten += 1;
    }

    pub fn clear(&self) {
        let mut entries = self.0.lock().expect("cache lock");
        entries.map.clear();
        entries.forgotten += 1;
    }

    /// Entries held now (expired ones included until they are dropped).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().expect("cache lock").map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_forgotten_on_request_and_never_outgrow_the_bound() {
        let cache: TimedCache<u32, u32> = TimedCache::default();
        cache.put(1, 10);
        assert_eq!(cache.get(&1), Some(10));
        cache.forget(&1);
        assert_eq!(cache.get(&1), None);
        for i in 0..(ENTRIES_MAX as u32 + 10) {
            cache.put(i, i);
        }
        assert!(cache.len() <= ENTRIES_MAX);
    }

    #[test]
    fn a_read_that_raced_a_forget_is_not_kept() {
        let cache: TimedCache<u32, u32> = TimedCache::default();
        let raced = cache.ticket();
        cache.forget(&1); // the change lands while the read is in flight
        cache.put_read(raced, 1, 10);
        assert_eq!(cache.get(&1), None, "the old answer is not cached");
        let clean = cache.ticket();
        cache.put_read(clean, 1, 11);
        assert_eq!(cache.get(&1), Some(11));
    }

    #[test]
    fn expired_entries_are_dropped_as_the_cache_grows() {
        let cache: TimedCache<u32, u32> = TimedCache::with_ttl(Duration::from_millis(1));
        for i in 0..PURGE_AT_LEAST as u32 {
            cache.put(i, i);
        }
        std::thread::sleep(Duration::from_millis(5));
        cache.put(u32::MAX, 0);
        assert_eq!(cache.len(), 1, "the expired entries went when the cache reached its purge mark");
    }
}
