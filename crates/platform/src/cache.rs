//! Small time-bounded caches for what nearly every request reads: a session's person and a person's row.
//! An entry lives `TTL` at most, so a change made by another instance (a sign-out, a KYC upgrade) is seen
//! here within that time; changes made by this instance forget the entry at once. Each cache holds at most
//! `ENTRIES_MAX` entries and starts over when full (a burst of new sessions cannot grow it without bound).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(5);
pub const ENTRIES_MAX: usize = 100_000;

pub struct TimedCache<K, V>(Mutex<HashMap<K, (Instant, V)>>, Duration);

impl<K, V> Default for TimedCache<K, V> {
    fn default() -> Self {
        TimedCache::with_ttl(TTL)
    }
}

impl<K, V> TimedCache<K, V> {
    /// A cache whose entries live `ttl` at most.
    pub fn with_ttl(ttl: Duration) -> Self {
        TimedCache(Mutex::new(HashMap::new()), ttl)
    }
}

impl<K: Eq + Hash, V: Clone> TimedCache<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.0.lock().expect("cache lock");
        entries.get(key).filter(|(at, _)| at.elapsed() < self.1).map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.0.lock().expect("cache lock");
        if entries.len() >= ENTRIES_MAX {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn forget(&self, key: &K) {
        self.0.lock().expect("cache lock").remove(key);
    }

    pub fn clear(&self) {
        self.0.lock().expect("cache lock").clear();
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
        assert!(cache.0.lock().unwrap().len() <= ENTRIES_MAX);
    }
}
