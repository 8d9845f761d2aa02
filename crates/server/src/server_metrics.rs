//! Counters of the HTTP side that the ledger's metrics do not cover: merchant API answers by code and
//! notification deliveries by outcome, with their latency. Rendered after the ledger's at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

pub struct ServerMetrics {
    /// Merchant API answers: `OK` or the error code.
    merchant_answers: Mutex<BTreeMap<&'static str, u64>>,
    /// Notification deliveries: delivered, failed.
    deliveries: Mutex<BTreeMap<&'static str, u64>>,
    delivery_seconds: store::Histogram,
}

impl Default for ServerMetrics {
    fn default() -> ServerMetrics {
        ServerMetrics {
            merchant_answers: Mutex::default(),
            deliveries: Mutex::default(),
            delivery_seconds: store::Histogram::new(&[0.005, 0.02, 0.1, 0.5, 1.0, 5.0]),
        }
    }
}

impl ServerMetrics {
    pub fn merchant_answer(&self, code: &'static str) {
        *self.merchant_answers.lock().expect("metrics").entry(code).or_default() += 1;
    }

    pub fn delivery(&self, delivered: bool, seconds: f64) {
        *self.deliveries.lock().expect("metrics").entry(if delivered { "delivered" } else { "failed" }).or_default() += 1;
        self.delivery_seconds.observe(seconds);
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP qianbao_merchant_api_answers_total Merchant API answers by code (OK for 2xx).");
        let _ = writeln!(out, "# TYPE qianbao_merchant_api_answers_total counter");
        for (code, n) in self.merchant_answers.lock().expect("metrics").iter() {
            let _ = writeln!(out, "qianbao_merchant_api_answers_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP qianbao_notification_deliveries_total Notification delivery attempts by outcome.");
        let _ = writeln!(out, "# TYPE qianbao_notification_deliveries_total counter");
        for (outcome, n) in self.deliveries.lock().expect("metrics").iter() {
            let _ = writeln!(out, "qianbao_notification_deliveries_total{{outcome=\"{outcome}\"}} {n}");
        }
        self.delivery_seconds.render("qianbao_notification_delivery_seconds", "Time from POST to the merchant's answer.", out);
    }
}
