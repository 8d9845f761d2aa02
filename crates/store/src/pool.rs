//! A bounded pool of connections, opened on demand: the platform's statements (`db::Db`) and the
//! ledger's readers (`Store`) both draw from one.

use crate::Result;
use std::sync::{Condvar, Mutex};

/// Idle connections and how many are open, under one lock: a caller that finds the pool full waits on
/// `returned`, and every change that frees a place is made under that lock, so no wake-up is missed.
pub(crate) struct Pool<T> {
    state: Mutex<State<T>>,
    returned: Condvar,
    open_max: usize,
}

struct State<T> {
    idle: Vec<T>,
    open: usize,
}

impl<T> Pool<T> {
    /// A pool holding `first`, open already (so a bad address fails before the pool exists).
    pub(crate) fn new(first: T, open_max: usize) -> Pool<T> {
        Pool { state: Mutex::new(State { idle: vec![first], open: 1 }), returned: Condvar::new(), open_max: open_max.max(1) }
    }

    /// An idle connection, or a new one from `connect` while fewer than `open_max` are open, or else
    /// the next one given back.
    pub(crate) fn take(&self, connect: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut state = self.state.lock().expect("pool lock");
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open < self.open_max {
                state.open += 1; // the place is taken before connecting, so two callers never both pass
                drop(state);
                return connect().inspect_err(|_| self.discard());
            }
            state = self.returned.wait(state).expect("pool lock");
        }
    }

    pub(crate) fn give_back(&self, conn: T) {
        self.state.lock().expect("pool lock").idle.push(conn);
        self.returned.notify_one();
    }

    /// A taken connection was dropped (lost, or broken): its place is free.
    pub(crate) fn discard(&self) {
        self.state.lock().expect("pool lock").open -= 1;
        self.returned.notify_one();
    }

    /// Close all idle connections but `keep`.
    pub(crate) fn close_idle_but(&self, keep: usize) {
        let mut state = self.state.lock().expect("pool lock");
        while state.idle.len() > keep {
            state.idle.pop();
            state.open -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_more_than_open_max_are_open_and_a_waiter_gets_a_freed_place() {
        let pool = Arc::new(Pool::new(0usize, 3));
        let opened = Arc::new(AtomicUsize::new(1));
        let taken: Vec<usize> = (0..3).map(|_| pool.take(|| Ok(opened.fetch_add(1, Ordering::SeqCst))).unwrap()).collect();
        assert_eq!(opened.load(Ordering::SeqCst), 3, "the first plus two new ones");
        let waiter = {
            let (pool, opened) = (pool.clone(), opened.clone());
            std::thread::spawn(move || pool.take(|| Ok(opened.fetch_add(1, Ordering::SeqCst))).unwrap())
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished(), "a full pool makes the caller wait");
        pool.discard(); // one of the three was lost
        let got = waiter.join().unwrap();
        assert_eq!((got, opened.load(Ordering::SeqCst)), (3, 4), "the freed place was used for a new connection");
        drop(taken);
    }

    #[test]
    fn a_failed_connect_frees_its_place() {
        let pool = Pool::new(0usize, 2);
        let _first = pool.take(|| unreachable!("the first is idle")).unwrap();
        assert!(pool.take(|| Err(crate::StoreError::Unavailable)).is_err());
        assert_eq!(pool.take(|| Ok(7)).unwrap(), 7, "the failed attempt's place is free again");
    }
}
