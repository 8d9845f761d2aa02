//! Sign-in throttling: failed attempts per phone number and per client address in a sliding window.
//! Past `attempts_max` failures, sign-in from that phone (or that address) waits until the oldest
//! failure leaves the window, whatever the password. Per instance, in memory, bounded.

use crate::{PlatformError, Result};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most per map; past it the map starts over (a flood of keys cannot grow it).
const KEYS_MAX: usize = 100_000;

pub(crate) struct Throttle {
    attempts_max: usize,
    window: Duration,
    phones: Mutex<HashMap<String, VecDeque<Instant>>>,
    addresses: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

fn wait_s<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, VecDeque<Instant>>>, key: &K, max: usize, window: Duration) -> Option<u64> {
    let mut map = map.lock().expect("throttle lock");
    let failures = map.get_mut(key)?;
    let now = Instant::now();
    while failures.front().is_some_and(|at| now.duration_since(*at) >= window) {
        failures.pop_front();
    }
    if failures.len() < max {
        return None;
    }
    let oldest = *failures.front()?;
    Some((window.saturating_sub(now.duration_since(oldest))).as_secs().max(1))
}

fn note<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, VecDeque<Instant>>>, key: K, max: usize) {
    let mut map = map.lock().expect("throttle lock");
    if map.len() >= KEYS_MAX {
        map.clear();
    }
    let failures = map.entry(key).or_default();
    failures.push_back(Instant::now());
    while failures.len() > max {
        failures.pop_front();
    }
}

impl Throttle {
    pub fn new(attempts_max: u32, window_s: u64) -> Throttle {
        Throttle {
            attempts_max: attempts_max.max(1) as usize,
            window: Duration::from_secs(window_s.max(1)),
            phones: Default::default(),
            addresses: Default::default(),
        }
    }

    pub fn check(&self, phone: &str, client: Option<IpAddr>) -> Result<()> {
        let by_phone = wait_s(&self.phones, &phone.to_string(), self.attempts_max, self.window);
        let by_address = client.and_then(|a| wait_s(&self.addresses, &a, self.attempts_max, self.window));
        match by_phone.max(by_address) {
            Some(retry_after_s) => Err(PlatformError::TooManyAttempts { retry_after_s }),
            None => Ok(()),
        }
    }

    pub fn failed(&self, phone: &str, client: Option<IpAddr>) {
        note(&self.phones, phone.to_string(), self.attempts_max);
        if let Some(a) = client {
            note(&self.addresses, a, self.attempts_max);
        }
    }

    pub fn succeeded(&self, phone: &str) {
        self.phones.lock().expect("throttle lock").remove(phone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_limit_wait_and_others_do_not() {
        let t = Throttle::new(3, 60);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check("+8613800000001", Some(a)).is_ok());
            t.failed("+8613800000001", Some(a));
        }
        assert!(matches!(t.check("+8613800000001", None), Err(PlatformError::TooManyAttempts { .. })));
        assert!(matches!(t.check("+8613800000002", Some(a)), Err(PlatformError::TooManyAttempts { .. })), "the address too");
        assert!(t.check("+8613800000002", None).is_ok());
    }
}
