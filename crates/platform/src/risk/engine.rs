//! The risk engine: rules evaluated before money moves, in memory, in microseconds. The risk role edits
//! the rules (`PUT /admin/api/risk/rules`, a whole set that parses or changes nothing); every instance
//! picks a new set up within [`RULES_RELOAD_MS`]. Each rule looks at the attempt and at what the
//! instance has seen recently (counts, amounts and card declines per person, payee, merchant, card, client
//! address and device in sliding windows; payees paid before; money in from strangers; the person's usual
//! amounts) and answers allow, step-up (the PIN even under the no-PIN threshold), hold for review (the
//! money held as a pending transfer until a reviewer releases or returns it, see [`super::reviews`]) or
//! decline with its code. Where an attempt cannot be held (a merchant payment, a top-up, a red packet:
//! the payer is waiting at the till) a hold is a decline. The counters are this instance's: with N instances behind a balancer a velocity limit holds
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
    /// The client's IP address, as the connection saw it.
    Ip,
    /// The app's device id (`Qianbao-Device` header), when the app sends one.
    Device,
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
    /// More than `times` the person's mean amount in this currency over their last movements (within
    /// [`WINDOW_S_MAX`], at least `history_min` of them: no history, no anomaly).
    AmountAnomaly { times: i64, history_min: i64 },
    /// Money leaving the platform (a withdrawal) after money in from at least `strangers_min` different
    /// people this person never paid, within `window_s`: a money mule's pattern.
    Mule { strangers_min: i64, window_s: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allow,
    StepUp,
    /// Held for review (the PIN asked as for a step-up); a decline where the attempt cannot wait.
    Hold,
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
            Condition::AmountAnomaly { times, history_min }
                if !(2..=1_000).contains(times) || !(1..=EVENTS_PER_KEY_MAX as i64).contains(history_min) =>
            {
                let why = format!("{}: times 2 to 1000, history_min 1 to {EVENTS_PER_KEY_MAX}", rule.id);
                return Err(PlatformError::invalid("rules", why));
            }
            Condition::Mule { strangers_min, window_s }
                if !(1..=EVENTS_PER_KEY_MAX as i64).contains(strangers_min) || !(1..=WINDOW_S_MAX).contains(window_s) =>
            {
                let why = format!("{}: strangers_min 1 to {EVENTS_PER_KEY_MAX}, window_s 1 to {WINDOW_S_MAX}", rule.id);
                return Err(PlatformError::invalid("rules", why));
            }
            _ => {}
        }
    }
    Ok(rules)
}

/// What kind of movement an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Transfer,
    RedPacket,
    Withdrawal,
    TopUp,
    Payment,
}

impl Kind {
    /// Whether an attempt of this kind can wait for a reviewer (its money held meanwhile).
    pub fn can_hold(self) -> bool {
        matches!(self, Kind::Transfer | Kind::Withdrawal)
    }
}

/// Where a request came from: set by the HTTP layer around each request that may move money
/// ([`ORIGIN`]), read by [`Attempt::of`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<std::net::IpAddr>,
    /// The app's device id, 1 to 64 printable ASCII characters.
    pub device: Option<String>,
}

tokio::task_local! {
    /// The origin of the request this task serves.
    pub static ORIGIN: Origin;
}

/// A subject id for a string-valued scope (an address, a device id): stable within the process, which
/// is as long as the counters live.
fn subject_of(value: &impl std::hash::Hash) -> i64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(value) as i64
}

/// What is about to move.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub kind: Kind,
    pub person: PersonId,
    pub payee: Option<PersonId>,
    /// The merchant's id (`MerchantId`'s number).
    pub merchant: Option<i64>,
    pub card: Option<i64>,
    pub currency: u16,
    pub amount_minor: i64,
    pub cross_border: bool,
    pub ip: Option<i64>,
    pub device: Option<i64>,
}

impl Attempt {
    /// An attempt with no payee, merchant or card, from the origin of the request being served.
    pub fn of(kind: Kind, person: PersonId, currency: u16, amount_minor: i64) -> Attempt {
        let origin = ORIGIN.try_with(Clone::clone).unwrap_or_default();
        Attempt {
            kind,
            person,
            payee: None,
            merchant: None,
            card: None,
            currency,
            amount_minor,
            cross_border: false,
            ip: origin.ip.as_ref().map(subject_of),
            device: origin.device.as_ref().map(subject_of),
        }
    }
}

/// What an attempt that may go ahead needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Allow,
    /// The PIN, even under the no-PIN threshold.
    StepUp,
    /// A reviewer (and the PIN): the money is held until one releases or returns it.
    Hold(Held),
}

/// Why an attempt is held: the rule, and what the engine saw (for the reviewer).
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub rule: String,
    pub evidence: serde_json::Value,
}

/// The engine's answer: the strongest outcome and the rule that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub rule: Option<String>,
}

/// A movement seen.
#[derive(Debug, Clone, Copy)]
struct Event {
    at_ms: i64,
    amount_minor: i64,
    /// A card charge that was refused.
    declined: bool,
    /// Money in (a top-up), not spending: the person's usual amounts leave it out.
    inbound: bool,
}

/// What an instance has seen recently, and the rules' judgement of an attempt against it (the engine
/// holds one behind a lock; the benchmark drives one directly).
#[derive(Default)]
pub struct Counters {
    /// (scope, subject id, currency) → what happened, oldest first.
    events: HashMap<(Scope, i64, u16), VecDeque<Event>>,
    payees: HashSet<(PersonId, PersonId)>,
    abroad: HashSet<PersonId>,
    /// receiver → (when, sender) of money in, oldest first.
    inbound: HashMap<PersonId, VecDeque<(i64, PersonId)>>,
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
        Scope::Ip => a.ip,
        Scope::Device => a.device,
    }
}

const SCOPES: [Scope; 6] = [Scope::Person, Scope::Payee, Scope::Merchant, Scope::Card, Scope::Ip, Scope::Device];

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

    /// Refuse a declined attempt (`RISK_DECLINED`, naming the rule), and one held where it cannot wait;
    /// else what it needs: nothing, the PIN, or a reviewer.
    pub async fn check(&self, a: &Attempt) -> Result<Judgement> {
        let rules = self.rules().await?;
        let now = self.core.now_ms();
        let seen = self.seen.lock().expect("risk counters");
        let v = seen.judge(&rules, a, now);
        let rule = v.rule.as_deref().unwrap_or_default();
        match v.outcome {
            Outcome::Allow => Ok(Judgement::Allow),
            Outcome::StepUp => Ok(Judgement::StepUp),
            Outcome::Hold if a.kind.can_hold() => {
                let evidence = rules.iter().find(|r| r.id == rule).map(|r| seen.evidence(r, a, now)).unwrap_or_default();
                Ok(Judgement::Hold(Held { rule: rule.to_string(), evidence }))
            }
            Outcome::Hold => Err(PlatformError::conflict(
                Conflict::RiskDeclined,
                format!("declined by the risk rule {rule} (it holds for review, and this payment cannot wait)"),
            )),
            Outcome::Decline => Err(PlatformError::conflict(Conflict::RiskDeclined, format!("declined by the risk rule {rule}"))),
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
            let mut oldest: Vec<i64> = seen.events.values().map(|e| e.back().map_or(0, |x| x.at_ms)).collect();
            oldest.sort_unstable();
            let cut = oldest[oldest.len() / 2];
            seen.events.retain(|_, e| e.back().is_some_and(|x| x.at_ms > cut));
        }
        for (scope, subject) in SCOPES.into_iter().filter_map(|s| subject(a, s).map(|id| (s, id))) {
            let events = seen.events.entry((scope, subject, a.currency)).or_default();
            while events.front().is_some_and(|e| e.at_ms < now - WINDOW_S_MAX * 1_000) || events.len() >= EVENTS_PER_KEY_MAX {
                events.pop_front();
            }
            events.push_back(Event { at_ms: now, amount_minor: a.amount_minor, declined, inbound: a.kind == Kind::TopUp });
        }
        if !declined {
            if let Some(payee) = a.payee {
                seen.payees.insert((a.person, payee));
                if seen.inbound.len() >= KEYS_MAX {
                    seen.inbound.retain(|_, e| e.back().is_some_and(|x| x.0 >= now - 86_400_000));
                }
                let inbound = seen.inbound.entry(payee).or_default();
                while inbound.front().is_some_and(|e| e.0 < now - WINDOW_S_MAX * 1_000) || inbound.len() >= EVENTS_PER_KEY_MAX {
                    inbound.pop_front();
                }
                inbound.push_back((now, a.person));
            }
            if a.cross_border {
                seen.abroad.insert(a.person);
            }
        }
    }
}

impl Counters {
    /// Different people who paid `person` since `since_ms` and whom `person` never paid.
    fn strangers_in(&self, person: PersonId, since_ms: i64) -> usize {
        let senders = self.inbound.get(&person).into_iter().flatten().filter(|e| e.0 >= since_ms).map(|e| e.1);
        senders.filter(|s| !self.payees.contains(&(person, *s))).collect::<HashSet<_>>().len()
    }

    /// The person's spending in the attempt's currency since `since_ms` (not money in, not declines):
    /// count and amount.
    fn person_totals(&self, a: &Attempt, since_ms: i64) -> (i64, i64) {
        let events = self.events.get(&(Scope::Person, a.person.get(), a.currency)).into_iter().flatten();
        let spent = events.filter(|e| e.at_ms >= since_ms && !e.declined && !e.inbound);
        spent.fold((0, 0), |(n, sum), e| (n + 1, sum.saturating_add(e.amount_minor)))
    }

    /// What a reviewer sees of a held attempt: the rule, the attempt, and the person's last day here.
    pub fn evidence(&self, rule: &Rule, a: &Attempt, now_ms: i64) -> serde_json::Value {
        let day = now_ms - 86_400_000;
        let (count, amount) = self.person_totals(a, day);
        serde_json::json!({
            "rule": rule.id,
            "when": rule.when,
            "attempt": {
                "kind": a.kind, "amount_minor": a.amount_minor, "currency": a.currency, "payee": a.payee,
                "merchant": a.merchant, "card": a.card, "cross_border": a.cross_border,
                "new_payee": a.payee.is_some_and(|p| !self.payees.contains(&(a.person, p))),
            },
            "last_24h": {"spent_count": count, "spent_minor": amount, "strangers_paying_in": self.strangers_in(a.person, day)},
        })
    }
}

fn fires(seen: &Counters, when: &Condition, a: &Attempt, now_ms: i64) -> bool {
    match when {
        Condition::Velocity { scope, measure, window_s, max } => {
            let Some(subject) = subject(a, *scope) else { return false };
            let since = now_ms - window_s * 1_000;
            let events = seen.events.get(&(*scope, subject, a.currency));
            let recent = events.into_iter().flatten().filter(|e| e.at_ms >= since);
            match measure {
                Measure::Count => recent.filter(|e| !e.declined).count() as i64 + 1 > *max,
                Measure::Amount => recent.filter(|e| !e.declined).fold(a.amount_minor, |sum, e| sum.saturating_add(e.amount_minor)) > *max,
                Measure::Declines => recent.filter(|e| e.declined).count() as i64 >= *max,
            }
        }
        Condition::NewPayee { amount_minor_over } => {
            a.payee.is_some_and(|p| !seen.payees.contains(&(a.person, p))) && a.amount_minor > *amount_minor_over
        }
        Condition::FirstAbroad {} => a.cross_border && !seen.abroad.contains(&a.person),
        Condition::AmountAnomaly { times, history_min } => {
            let (count, sum) = seen.person_totals(a, now_ms - WINDOW_S_MAX * 1_000);
            // amount > times × (sum / count), without dividing.
            count >= *history_min && i128::from(a.amount_minor) * i128::from(count) > i128::from(*times) * i128::from(sum)
        }
        Condition::Mule { strangers_min, window_s } => {
            a.kind == Kind::Withdrawal && seen.strangers_in(a.person, now_ms - window_s * 1_000) as i64 >= *strangers_min
        }
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

    fn attempt(kind: Kind, person: i64, payee: Option<i64>, amount_minor: i64) -> Attempt {
        Attempt { payee: payee.map(PersonId::new), ..Attempt::of(kind, PersonId::new(person), 156, amount_minor) }
    }

    #[test]
    fn the_mule_pattern_is_money_leaving_after_money_in_from_strangers() {
        let rules = parse_rules(br#"[{"id":"mule","when":{"mule":{"strangers_min":2,"window_s":3600}},"then":"hold"}]"#).unwrap();
        let (mut c, now) = (Counters::default(), 1_800_000_000_000);
        c.record(&attempt(Kind::Transfer, 1, Some(2), 100), false, now);
        c.record(&attempt(Kind::Transfer, 2, Some(1), 100), false, now);
        c.record(&attempt(Kind::Transfer, 3, Some(1), 100), false, now);
        let out = attempt(Kind::Withdrawal, 1, None, 300);
        assert_eq!(c.judge(&rules, &out, now).outcome, Outcome::Allow, "2 was paid by 1 before: one stranger only");
        c.record(&attempt(Kind::Transfer, 4, Some(1), 100), false, now);
        assert_eq!(c.judge(&rules, &out, now).outcome, Outcome::Hold);
        assert_eq!(c.judge(&rules, &attempt(Kind::Transfer, 1, Some(2), 300), now).outcome, Outcome::Allow, "only money leaving");
        assert_eq!(c.judge(&rules, &out, now + 3_601_000).outcome, Outcome::Allow, "outside the window");
    }

    #[test]
    fn an_anomaly_is_against_the_persons_own_spending_and_needs_a_history() {
        let rules = parse_rules(br#"[{"id":"odd","when":{"amount_anomaly":{"times":3,"history_min":2}},"then":"step_up"}]"#).unwrap();
        let (mut c, now) = (Counters::default(), 1_800_000_000_000);
        c.record(&attempt(Kind::TopUp, 1, None, 1_000_000), false, now);
        c.record(&attempt(Kind::Payment, 1, None, 100), false, now);
        assert_eq!(c.judge(&rules, &attempt(Kind::Payment, 1, None, 10_000), now).outcome, Outcome::Allow, "one payment is no history");
        c.record(&attempt(Kind::Payment, 1, None, 300), false, now);
        assert_eq!(c.judge(&rules, &attempt(Kind::Payment, 1, None, 600), now).outcome, Outcome::Allow, "3 × 200 is not more");
        assert_eq!(c.judge(&rules, &attempt(Kind::Payment, 1, None, 601), now).outcome, Outcome::StepUp);
        assert_eq!(c.judge(&rules, &attempt(Kind::Payment, 2, None, 601), now).outcome, Outcome::Allow, "another person has no history");
    }

    #[test]
    fn new_rule_kinds_are_checked_when_the_set_is_parsed() {
        for bad in [
            &br#"[{"id":"a","when":{"amount_anomaly":{"times":1,"history_min":3}},"then":"hold"}]"#[..],
            br#"[{"id":"a","when":{"amount_anomaly":{"times":5,"history_min":0}},"then":"hold"}]"#,
            br#"[{"id":"a","when":{"mule":{"strangers_min":0,"window_s":60}},"then":"hold"}]"#,
            br#"[{"id":"a","when":{"mule":{"strangers_min":3,"window_s":99999999}},"then":"hold"}]"#,
        ] {
            assert!(parse_rules(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(
            parse_rules(br#"[{"id":"a","when":{"velocity":{"scope":"device","measure":"count","window_s":60,"max":5}},"then":"hold"}]"#)
                .is_ok()
        );
    }
}
