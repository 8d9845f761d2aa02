//! `qianbao bench risk`: what the risk engine costs a payment. Drives the engine's counters and rules
//! (the same code the payment path runs, behind the same lock) with a realistic rule set over many people,
//! payees, merchants and cards, and holds the time per judged-and-recorded attempt against its budget:
//! 5% of one payment at the 20,000 payments/s goal (2.5 µs).

use crate::report::{Better, Report};
use platform::PersonId;
use platform::risk::engine::{Counters, Kind, Outcome, parse_rules};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct RiskBench {
    /// Attempts judged (and recorded when allowed).
    #[arg(long, default_value_t = 1_000_000)]
    pub attempts: u64,
    /// Distinct people paying (payees, merchants and cards are spread as widely).
    #[arg(long, default_value_t = 100_000)]
    pub people: u64,
    #[command(flatten)]
    pub output: crate::report::Output,
}

/// The payments/s goal the budget is a share of, and the share.
const PAYMENTS_PER_S_GOAL: f64 = 20_000.0;
const BUDGET_SHARE: f64 = 0.05;

const RULES: &str = r#"[
  {"id": "burst-minute", "when": {"velocity": {"scope": "person", "measure": "count", "window_s": 60, "max": 20}}, "then": "decline"},
  {"id": "burst-hour", "when": {"velocity": {"scope": "person", "measure": "count", "window_s": 3600, "max": 200}}, "then": "step_up"},
  {"id": "amount-day", "when": {"velocity": {"scope": "person", "measure": "amount", "window_s": 86400, "max": 5000000}}, "then": "step_up"},
  {"id": "payee-day", "when": {"velocity": {"scope": "payee", "measure": "amount", "window_s": 86400, "max": 2000000}}, "then": "decline"},
  {"id": "merchant-minute", "when": {"velocity": {"scope": "merchant", "measure": "count", "window_s": 60, "max": 100000}}, "then": "decline"},
  {"id": "card-testing", "when": {"velocity": {"scope": "card", "measure": "declines", "window_s": 600, "max": 3}}, "then": "decline"},
  {"id": "new-payee", "when": {"new_payee": {"amount_minor_over": 50000}}, "then": "step_up"},
  {"id": "first-abroad", "when": {"first_abroad": {}}, "then": "step_up"},
  {"id": "address-minute", "when": {"velocity": {"scope": "ip", "measure": "count", "window_s": 60, "max": 600}}, "then": "step_up"},
  {"id": "anomaly", "when": {"amount_anomaly": {"times": 10, "history_min": 5}}, "then": "hold"},
  {"id": "mule", "when": {"mule": {"strangers_min": 10, "window_s": 86400}}, "then": "hold"}
]"#;

pub fn run(args: &RiskBench) -> Result<(), String> {
    let rules = parse_rules(RULES.as_bytes()).map_err(|e| e.to_string())?;
    let counters = Mutex::new(Counters::default());
    let people = args.people.max(1);
    let (mut declined, mut stepped, mut held) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    let mut now_ms: i64 = 1_781_488_800_000;
    for i in 0..args.attempts {
        now_ms += 1;
        let person = PersonId::new((1 + i % people) as i64);
        let kind = match i {
            _ if i % 97 == 0 => Kind::Withdrawal,
            _ if i % 2 == 0 => Kind::Transfer,
            _ => Kind::Payment,
        };
        let attempt = platform::risk::Attempt {
            payee: (i % 2 == 0).then(|| PersonId::new((1 + (i * 7_919) % people) as i64)),
            merchant: (i % 2 == 1).then_some((1 + i % 10_000) as i64),
            card: (i % 4 == 0).then_some((i % 50_000) as i64),
            cross_border: i % 50 == 0,
            ip: Some((i % 20_000) as i64),
            ..platform::risk::Attempt::of(kind, person, 156, 100 + (i % 5_000) as i64)
        };
        let mut c = counters.lock().expect("counters");
        match c.judge(&rules, &attempt, now_ms).outcome {
            Outcome::Decline => declined += 1,
            outcome => {
                stepped += u64::from(outcome == Outcome::StepUp);
                held += u64::from(outcome == Outcome::Hold);
                c.record(&attempt, false, now_ms);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ns = elapsed * 1e9 / args.attempts.max(1) as f64;
    say!("{} attempts over {people} people in {elapsed:.2} s: {declined} declined, {stepped} stepped up, {held} held", args.attempts);
    let budget_ns = 1e9 / PAYMENTS_PER_S_GOAL * BUDGET_SHARE;
    let mut report = Report::new("risk engine");
    report.figure("judged and recorded", ns, "ns/attempt").compare(
        "judged and recorded",
        "5% of a payment at 20,000 payments/s",
        budget_ns,
        Better::Lower,
        1.0,
    );
    report.finish();
    Ok(())
}
