//! The risk engine: rules evaluated before money moves, in memory, in microseconds. The risk role edits
//! the rules (`PUT /admin/api/risk/rules`, a whole set that parses or changes nothing); every instance
//! picks a new set up within [`RULES_RELOAD_MS`]. Each rule looks at the attempt and at what the
//! instance has seen recently (counts, amounts and card declines per person, payee, merchant and card in
//! sliding windows) and answers allow, step-up (the PIN even under the no-PIN threshold) or decline with
//! its code. The counters are this instance's: with N instances behind a balancer a velocity limit holds
//! per instance (a person's requests spread over N instances may reach N times it); the ledger's limits
//! stay exact everywhere.

use crate::core::Core;
use crate::{Conflict, PersonId, PlatformError, Result};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

/// A new rule set reaches every instance within this long.
pub const RULES_RELOAD_MS: i64 = 1_000;
/// Rules in a set at most, and the longest window a rule may look back.
pub const RULES_MAX: usize = 100;
pub const WINDOW_S_MAX: i64 = 30 * 86_400;
/// Events remembered per counter key, and keys remembered, at most (memory stays bounded; past the
/// key bound the oldest half is forgotten).
pub const EVENTS_PER_KEY_MAX: usize = 256;
pub const KEYS_MAX: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Person,
    Payee,
    Merchant,
    Card,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Movements in the window, this one included.
    Count,
    /// Their amount in minor units of the attempt's currency, this one included.
    Amount,
    /// Card charges declined in the window (card testing): the rule fires once they reach `max`.
    Declines,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// More than `max` (count or amount, this attempt included) for the scope within `window_s`, or
    /// `max` declines already.
    Velocity { scope: Scope, measure: Measure, window_s: i64, max: i64 },
    /// Money to someone this person has not paid before (on this instance), above an amount.
    NewPayee { amount_minor_over: i64 },
    /// This person's first cross-border payment (on this instance).
    FirstAbroad {},
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allow,
    StepUp,
    Decline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// 1 to 64 of `a-z 0-9 -`: named in declines and the audit log.
    pub id: String,
    pub when: Condition,
    pub then: Outcome,
}

/// A rule set as the risk role sends it: every rule checked, or the set refused.
pub fn parse_rules(body: &[u8]) -> Result<Vec<Rule>> {
    let rules: Vec<Rule> = serde_json::from_slice(body).map_err(|e| PlatformError::invalid("rules", e.to_string()))?;
    if rules.len() > RULES_MAX {
        return Err(PlatformError::invalid("rules", format!("at most {RULES_MAX} rules")));
    }
    let mut ids = HashSet::new();
    for rule in &rules {
        let id_ok = (1..=64).contains(&rule.id.len()) && rule.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok || !ids.insert(rule.id.as_str()) {
            return Err(PlatformError::invalid("rules", format!("rule id {:?}: 1 to 64 of a-z, 0-9, '-', each once", rule.id)));
        }
        match &rule.when {
            Condition::Velocity { scope, measure, window_s, max } => {
                if !(1..=WINDOW_S_MAX).contains(window_s) || *max < 0 {
                    return Err(PlatformError::invalid("rules", format!("{}: window_s 1 to {WINDOW_S_MAX}, max at least 0", rule.id)));
                }
                if *measure == Measure::Declines && *scope != Scope::Card {
                    return Err(PlatformError::invalid("rules", format!("{}: declines are counted per card", rule.id)));
                }
            }
            Condition::NewPayee { amount_minor_over } if *amount_minor_over < 0 => {
                return Err(PlatformError::invalid("rules", format!("{}: amount_minor_over at least 0", rule.id)));
            }
            _ => {}
        }
    }
    Ok(rules)
}

/// What is about to move.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub person: PersonId,
    pub payee: Option<PersonId>,
    /// The merchant's id (`MerchantId`'s number).
    pub merchant: Option<i64>,
    pub card: Option<i64>,
    pub currency: u16,
    pub amount_minor: i64,
    pub cross_border: bool,
}

/// The engine's answer: the strongest outcome and the rule that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub rule: Option<String>,
}

/// A movement seen: when (ms), its amount (minor units), and whether it was a declined card charge.
type Event = (i64, i64, bool);

/// What an instance has seen recently, and the rules' judgement of an attempt against it (the engine
/// holds one behind a lock; the benchmark drives one directly).
#[derive(Default)]
pub struct Counters {
    /// (scope, subject id, currency) → what happened, oldest first.
    events: HashMap<(Scope, i64, u16), VecDeque<Event>>,
    payees: HashSet<(PersonId, PersonId)>,
    abroad: HashSet<PersonId>,
}

pub struct Engine {
    core: Arc<Core>,
    rules: RwLock<(i64, i64, Arc<Vec<Rule>>)>,
    seen: Mutex<Counters>,
}

/// The attempt's subject in a scope, if it has one there.
fn subject(a: &Attempt, scope: Scope) -> Option<i64> {
    match scope {
        Scope::Person => Some(a.person.get()),
        Scope::Payee => a.payee.map(PersonId::get),
        Scope::Merchant => a.merchant,
        Scope::Card => a.card,
    }
}

const SCOPES: [Scope; 4] = [Scope::Person, Scope::Payee, Scope::Merchant, Scope::Card];

impl Engine {
    pub(crate) fn new(core: Arc<Core>) -> Engine {
        Engine { core, rules: RwLock::new((-1, i64::MIN, Arc::new(Vec::new()))), seen: Mutex::new(Counters::default()) }
    }

    /// The rules in force, read again when the stored set may have changed (at most every second).
    async fn rules(&self) -> Result<Arc<Vec<Rule>>> {
        let now = self.core.now_ms();
        let (version, checked, rules) = self.rules.read().expect("rules lock").clone();
        if now.saturating_sub(checked) < RULES_RELOAD_MS {
            return Ok(rules);
        }
        let stored = self.core.read(super::store::rules).await?;
        let (new_version, body) = stored.unwrap_or((0, "[]".into()));
        let rules = if new_version == version { rules } else { Arc::new(parse_rules(body.as_bytes())?) };
        *self.rules.write().expect("rules lock") = (new_version, now, rules.clone());
        Ok(rules)
    }

    /// The rule set in force now.
    pub async fn current(&self) -> Result<Vec<Rule>> {
        let stored = self.core.read(super::store::rules).await?;
        parse_rules(stored.map_or("[]".into(), |(_, body)| body).as_bytes())
    }

    /// Replace the rule set (checked already by [`parse_rules`]), in one transaction with its audit row;
    /// this instance applies it at once, the others within [`RULES_RELOAD_MS`].
    pub async fn set_rules(&self, rules: Vec<Rule>, by: &str, audit: ::store::Effect) -> Result<()> {
        let body = serde_json::to_string(&rules).map_err(|e| PlatformError::Internal(e.to_string()))?;
        let (by, now) = (by.to_string(), self.core.now_ms());
        self.core.transaction(move |c| super::store::set_rules(c, &body, &by, now, &audit)).await?;
        self.rules.write().expect("rules lock").1 = i64::MIN;
        Ok(())
    }

    /// Judge an attempt against every rule (the strongest outcome wins).
    pub async fn assess(&self, a: &Attempt) -> Result<Verdict> {
        let rules = self.rules().await?;
        Ok(self.judge(&rules, a, self.core.now_ms()))
    }

    fn judge(&self, rules: &[Rule], a: &Attempt, now_ms: i64) -> Verdict {
        self.seen.lock().expect("risk counters").judge(rules, a, now_ms)
    }

    /// Refuse a declined attempt (`RISK_DECLINED`, naming the rule); `true` when it needs the PIN.
    pub async fn check(&self, a: &Attempt) -> Result<bool> {
        let v = self.assess(a).await?;
        match v.outcome {
            Outcome::Allow => Ok(false),
            Outcome::StepUp => Ok(true),
            Outcome::Decline => {
                Err(PlatformError::conflict(Conflict::RiskDeclined, format!("declined by the risk rule {}", v.rule.unwrap_or_default())))
            }
        }
    }

    /// Remember a movement that happened (or, `declined`, a card charge that was refused).
    pub fn record(&self, a: &Attempt, declined: bool) {
        let now = self.core.now_ms();
        self.seen.lock().expect("risk counters").record(a, declined, now);
    }
}

impl Counters {
    /// The strongest outcome of the rules that fire for this attempt.
    pub fn judge(&self, rules: &[Rule], a: &Attempt, now_ms: i64) -> Verdict {
        let mut verdict = Verdict { outcome: Outcome::Allow, rule: None };
        for rule in rules {
            if rule.then <= verdict.outcome || !fires(self, &rule.when, a, now_ms) {
                continue;
            }
            verdict = Verdict { outcome: rule.then, rule: Some(rule.id.clone()) };
        }
        verdict
    }

    /// Remember a movement (or a declined card charge) at `now`.
    pub fn record(&mut self, a: &Attempt, declined: bool, now: i64) {
        let seen = self;
        if seen.events.len() >= KEYS_MAX {
            let mut oldest: Vec<i64> = seen.events.values().map(|e| e.back().map_or(0, |x| x.0)).collect();
            oldest.sort_unstable();
            let cut = oldest[oldest.len() / 2];
            seen.events.retain(|_, e| e.back().is_some_and(|x| x.0 > cut));
        }
        for (scope, subject) in SCOPES.into_iter().filter_map(|s| subject(a, s).map(|id| (s, id))) {
            let events = seen.events.entry((scope, subject, a.currency)).or_default();
            while events.front().is_some_and(|e| e.0 < now - WINDOW_S_MAX * 1_000) || events.len() >= EVENTS_PER_KEY_MAX {
                events.pop_front();
            }
            events.push_back((now, a.amount_minor, declined));
        }
        if !declined {
            if let Some(payee) = a.payee {
                seen.payees.insert((a.person, payee));
            }
            if a.cross_border {
                seen.abroad.insert(a.person);
            }
        }
    }
}

fn fires(seen: &Counters, when: &Condition, a: &Attempt, now_ms: i64) -> bool {
    match when {
        Condition::Velocity { scope, measure, window_s, max } => {
            let Some(subject) = subject(a, *scope) else { return false };
            let since = now_ms - window_s * 1_000;
            let events = seen.events.get(&(*scope, subject, a.currency));
            let recent = events.into_iter().flatten().filter(|e| e.0 >= since);
            match measure {
                Measure::Count => recent.filter(|e| !e.2).count() as i64 + 1 > *max,
                Measure::Amount => recent.filter(|e| !e.2).fold(a.amount_minor, |sum, e| sum.saturating_add(e.1)) > *max,
                Measure::Declines => recent.filter(|e| e.2).count() as i64 >= *max,
            }
        }
        Condition::NewPayee { amount_minor_over } => {
            a.payee.is_some_and(|p| !seen.payees.contains(&(a.person, p))) && a.amount_minor > *amount_minor_over
        }
        Condition::FirstAbroad {} => a.cross_border && !seen.abroad.contains(&a.person),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_set_that_does_not_parse_or_check_is_refused() {
        assert!(
            parse_rules(
                br#"[{"id":"burst","when":{"velocity":{"scope":"person","measure":"count","window_s":60,"max":5}},"then":"decline"}]"#
            )
            .is_ok()
        );
        for bad in [
            &br#"[{"id":"Burst!","when":{"first_abroad":{}},"then":"step_up"}]"#[..],
            br#"[{"id":"a","when":{"first_abroad":{}},"then":"step_up"},{"id":"a","when":{"first_abroad":{}},"then":"decline"}]"#,
            br#"[{"id":"a","when":{"velocity":{"scope":"person","measure":"count","window_s":0,"max":5}},"then":"decline"}]"#,
            br#"[{"id":"a","when":{"velocity":{"scope":"person","measure":"declines","window_s":60,"max":5}},"then":"decline"}]"#,
            br#"[{"id":"a","when":{"teleport":{}},"then":"decline"}]"#,
            br#"[{"id":"a","when":{"first_abroad":{}},"then":"maybe"}]"#,
        ] {
            assert!(parse_rules(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
