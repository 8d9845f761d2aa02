//! Ledger counters and histograms, rendered in the Prometheus text format by the server.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fixed-bucket histogram (cumulative buckets as Prometheus wants them).
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {total}");
    }
}

const BATCH_SIZE_BOUNDS: &[f64] = &[1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 8190.0];
const LATENCY_BOUNDS_S: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// What the committer counts.
pub struct Metrics {
    pub batches: AtomicU64,
    pub accounts_created: AtomicU64,
    pub transfers_created: AtomicU64,
    pub transfers_expired: AtomicU64,
    pub batch_retries: AtomicU64,
    /// Batches committed by the writer thread while the committer applied the next (see the committer).
    pub batches_pipelined: AtomicU64,
    /// Pipelined batches refused at the writer (another writer came first, or an error) and run again
    /// serially.
    pub batches_rerun: AtomicU64,
    /// Failures by result code.
    pub transfers_failed: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    pub batch_events: Histogram,
    pub commit_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            batches: AtomicU64::new(0),
            accounts_created: AtomicU64::new(0),
            transfers_created: AtomicU64::new(0),
            transfers_expired: AtomicU64::new(0),
            batch_retries: AtomicU64::new(0),
            batches_pipelined: AtomicU64::new(0),
            batches_rerun: AtomicU64::new(0),
            transfers_failed: Mutex::new(Default::default()),
            batch_events: Histogram::new(BATCH_SIZE_BOUNDS),
            commit_seconds: Histogram::new(LATENCY_BOUNDS_S),
        }
    }
}

impl Metrics {
    pub fn render(&self, out: &mut String) {
        let counters = [
            ("qianbao_ledger_batches_total", "Batches committed.", &self.batches),
            ("qianbao_ledger_accounts_created_total", "Accounts created.", &self.accounts_created),
            ("qianbao_ledger_transfers_created_total", "Transfers committed.", &self.transfers_created),
            ("qianbao_ledger_transfers_expired_total", "Pending transfers expired by timeout.", &self.transfers_expired),
            ("qianbao_ledger_batch_retries_total", "Batches retried after a transient database conflict.", &self.batch_retries),
            ("qianbao_ledger_batches_pipelined_total", "Batches written while the next was applied.", &self.batches_pipelined),
            ("qianbao_ledger_batches_rerun_total", "Pipelined batches refused at the writer and run again serially.", &self.batches_rerun),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP qianbao_ledger_transfers_failed_total Transfers refused, by result code.\n# TYPE qianbao_ledger_transfers_failed_total counter"
        );
        for (code, n) in self.transfers_failed.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "qianbao_ledger_transfers_failed_total{{code=\"{code}\"}} {n}");
        }
        self.batch_events.render("qianbao_ledger_batch_events", "Events per committed batch.", out);
        self.commit_seconds.render("qianbao_ledger_commit_seconds", "Time from batch start to durable commit.", out);
    }
}
