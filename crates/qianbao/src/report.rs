//! How every `qianbao bench` reports: the lines a person reads while it runs, and at the end what it
//! measured, what that is held against (a bound measured in the same run, such as RSA signing or
//! TigerBeetle's own benchmark, or the goal the project set) and the ratio. With `--json` the lines go to
//! stderr and stdout carries one JSON document for scripts.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// `--json`, shared by every benchmark.
#[derive(Debug, Clone, clap::Args)]
pub struct Output {
    /// Print the results as one JSON document on stdout (the progress lines go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl Output {
    pub fn apply(&self) {
        JSON.store(self.json, Ordering::Relaxed);
    }
}

/// A progress or result line: stdout for people, stderr under `--json`.
pub fn line(text: String) {
    if JSON.load(Ordering::Relaxed) {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

/// `say!("…", args)`: [`line`] with `format!` arguments.
macro_rules! say {
    ($($arg:tt)*) => { $crate::report::line(format!($($arg)*)) };
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// Which way is better for a figure.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Throughput: the ratio is measured / against.
    Higher,
    /// A duration: the ratio is against / measured (above 1 means faster than the mark).
    Lower,
}

/// A figure held against a bound, a peer or a goal.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The name of the figure compared.
    pub figure: String,
    /// What it is compared with, in words ("RSA-2048 bound measured in this run").
    pub against: String,
    pub against_value: f64,
    pub better: Better,
    /// Above 1: better than the mark.
    pub ratio: f64,
    /// The ratio the project asks for.
    pub goal_ratio: f64,
    pub met: bool,
}

/// Everything a benchmark found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bench: String,
    pub figures: Vec<Figure>,
    pub comparisons: Vec<Comparison>,
}

impl Report {
    pub fn new(bench: impl Into<String>) -> Report {
        Report { bench: bench.into(), figures: Vec::new(), comparisons: Vec::new() }
    }

    pub fn figure(&mut self, name: &str, value: f64, unit: &'static str) -> &mut Report {
        self.figures.push(Figure { name: name.into(), value, unit });
        self
    }

    /// Hold the figure `name` (recorded first) against a mark.
    pub fn compare(&mut self, name: &str, against: impl Into<String>, against_value: f64, better: Better, goal_ratio: f64) -> &mut Report {
        let value = self.figures.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no figure {name:?} to compare")).value;
        let ratio = match better {
            Better::Higher => value / against_value,
            Better::Lower => against_value / value,
        };
        self.comparisons.push(Comparison {
            figure: name.into(),
            against: against.into(),
            against_value,
            better,
            ratio,
            goal_ratio,
            met: ratio >= goal_ratio,
        });
        self
    }

    /// The comparisons for people, then (under `--json`) the whole report on stdout.
    pub fn finish(&self) {
        for c in &self.comparisons {
            let unit = self.figures.iter().find(|f| f.name == c.figure).map_or("", |f| f.unit);
            let value = self.figures.iter().find(|f| f.name == c.figure).map_or(f64::NAN, |f| f.value);
            line(format!(
                "{}: {} {unit} against {} {unit} ({}): {:.2}x, goal {:.2}x: {}",
                c.figure,
                human(value),
                human(c.against_value),
                c.against,
                c.ratio,
                c.goal_ratio,
                if c.met { "met" } else { "NOT met" }
            ));
        }
        if JSON.load(Ordering::Relaxed) {
            println!("{}", serde_json::to_string_pretty(self).expect("a report serialises"));
        }
    }
}

/// A figure as people read it: thousands separated, at most two decimals.
fn human(value: f64) -> String {
    if value.abs() >= 100.0 {
        let digits = format!("{:.0}", value);
        let (sign, digits) = digits.strip_prefix('-').map_or(("", digits.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        format!("{sign}{out}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throughput_below_its_goal_is_not_met_and_a_faster_duration_is() {
        let mut r = Report::new("t");
        r.figure("rate", 50.0, "/s").compare("rate", "goal", 100.0, Better::Higher, 1.0);
        r.figure("time", 1.0, "s").compare("time", "goal", 2.0, Better::Lower, 1.0);
        assert_eq!((r.comparisons[0].ratio, r.comparisons[0].met), (0.5, false));
        assert_eq!((r.comparisons[1].ratio, r.comparisons[1].met), (2.0, true));
    }

    #[test]
    fn large_figures_are_grouped_by_thousands() {
        assert_eq!(human(1_234_567.4), "1,234,567");
        assert_eq!(human(312.0), "312");
        assert_eq!(human(1.405), "1.41");
    }
}
