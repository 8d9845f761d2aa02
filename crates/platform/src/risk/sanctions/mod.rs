//! Sanctions screening. An operator imports a list (OFAC's SDN CSV, the UN consolidated XML; a new
//! import replaces that list whole, in one transaction, or changes nothing); people are screened when
//! they give their legal name (KYC), merchants when they are onboarded, and everyone screened before is
//! screened again when a list changes. A possible match (a similarity of at least
//! [`names::MATCH_THRESHOLD`]) never passes silently and never blocks silently: it becomes a hit for the
//! risk role to review, and the subject is frozen with the hit as the reason until a risk operator
//! clears the hit and a second lifts the freeze (or confirms it). Cross-border payments are held to it
//! through the freeze every movement of money checks.

pub mod lists;
pub mod names;
mod store;

use super::freezes::{FreezeKind, Freezes};
use crate::audit::Audit;
use crate::core::Core;
use crate::operators::Acting;
use crate::{Conflict, PlatformError, Result, ids};
pub use lists::{ListError, ListKind, Listed};
use std::sync::{Arc, Mutex};

text_enum! {
    pub enum HitState {
        /// Waiting for the risk role.
        Pending => "pending",
        /// Not the listed party: the subject may be unfrozen (by four eyes).
        Cleared => "cleared",
        /// The listed party: the freeze stays.
        Confirmed => "confirmed",
    }
}

/// A possible match awaiting (or after) review.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub kind: FreezeKind,
    pub subject: String,
    /// The name screened.
    pub name: String,
    pub list: ListKind,
    pub reference: String,
    pub listed_name: String,
    /// Similarity, in thousandths.
    pub score_permille: i64,
    pub state: HitState,
    pub decided_by: Option<String>,
    pub created_at_ms: i64,
}

/// Hits listed at most.
impl Hit {
    /// A possible match just found: (score, reference, listed name, list) as [`Sanctions::matches`] gives.
    fn pending(kind: FreezeKind, subject: &str, name: &str, found: (f64, String, String, ListKind), now_ms: i64) -> Hit {
        let (score, reference, listed_name, list) = found;
        Hit {
            id: ids::object_id(now_ms),
            kind,
            subject: subject.to_string(),
            name: name.to_string(),
            list,
            reference,
            listed_name,
            score_permille: (score * 1000.0).floor() as i64,
            state: HitState::Pending,
            decided_by: None,
            created_at_ms: now_ms,
        }
    }
}

pub const HITS_PAGE_MAX: i64 = 500;
/// Hits kept per screening at most (the best ones).
const HITS_PER_SCREENING_MAX: usize = 5;

/// A listed name ready to compare.
#[derive(Debug, Clone)]
struct Entry {
    list: ListKind,
    reference: String,
    name: String,
    words: Vec<String>,
}

pub struct Sanctions {
    core: Arc<Core>,
    audit: Arc<Audit>,
    /// The lists in memory, with the version they were read at (a change anywhere reloads them).
    loaded: Mutex<Option<(i64, Arc<Vec<Entry>>)>>,
}

impl Sanctions {
    pub(crate) fn new(core: Arc<Core>, audit: Arc<Audit>) -> Sanctions {
        Sanctions { core, audit, loaded: Mutex::new(None) }
    }

    /// Replace a list with the one given; nothing changes if it does not parse. The names it now holds.
    pub async fn import(&self, acting: Acting<'_>, kind: ListKind, text: &str) -> Result<usize> {
        let listed = lists::parse(kind, text).map_err(|e| PlatformError::invalid("list", format!("line {}: {}", e.line, e.message)))?;
        let count = listed.len();
        let rows: Vec<(String, String, String)> =
            listed.into_iter().map(|l| (l.reference, names::words(&l.name).join(" "), l.name)).collect();
        let now = self.core.now_ms();
        let audit =
            self.audit.effect(&acting.by.actor(), "screening.import", &format!("list:{kind}"), &format!("{count} names"), acting.reason);
        self.core.transaction(move |c| store::replace_list(c, kind, &rows, now, &audit)).await?;
        Ok(count)
    }

    async fn entries(&self) -> Result<Arc<Vec<Entry>>> {
        let version = self.core.read(store::version).await?;
        if let Some((v, entries)) = self.loaded.lock().expect("sanctions lock").as_ref()
            && *v == version
        {
            return Ok(entries.clone());
        }
        let rows = self.core.read(store::entries).await?;
        let entries: Arc<Vec<Entry>> = Arc::new(
            rows.into_iter()
                .map(|(list, reference, name, normalized)| Entry {
                    list,
                    reference,
                    name,
                    words: normalized.split(' ').map(str::to_string).collect(),
                })
                .collect(),
        );
        *self.loaded.lock().expect("sanctions lock") = Some((version, entries.clone()));
        Ok(entries)
    }

    /// Screen a name: the possible matches, best first (none below the threshold).
    pub async fn matches(&self, name: &str) -> Result<Vec<(f64, String, String, ListKind)>> {
        let words = names::words(name);
        let entries = self.entries().await?;
        let found = self
            .core
            .blocking(move || {
                let mut found: Vec<(f64, String, String, ListKind)> = entries
                    .iter()
                    .filter_map(|e| {
                        let score = names::similarity(&words, &e.words);
                        (score >= names::MATCH_THRESHOLD).then(|| (score, e.reference.clone(), e.name.clone(), e.list))
                    })
                    .collect();
                found.sort_by(|a, b| b.0.total_cmp(&a.0));
                found.truncate(HITS_PER_SCREENING_MAX);
                found
            })
            .await?;
        Ok(found)
    }

    /// Screen a subject by name; each possible match becomes a pending hit (once per listed entry) and
    /// the subject is frozen until review. The hits recorded now.
    pub async fn screen(&self, freezes: &Freezes, kind: FreezeKind, subject: &str, name: &str) -> Result<Vec<Hit>> {
        let found = self.matches(name).await?;
        let mut hits = Vec::new();
        for found in found {
            let hit = Hit::pending(kind, subject, name, found, self.core.now_ms());
            let h = hit.clone();
            if self.core.write(move |c| store::insert_hit(c, &h)).await? {
                hits.push(hit);
            }
        }
        if let Some(first) = hits.first() {
            let reason = format!(
                "sanctions screening: {} may be {} ({} {}, {}‰)",
                first.name, first.listed_name, first.list, first.reference, first.score_permille
            );
            match freezes.freeze_by_screening(kind, subject, &reason).await {
                Ok(_) | Err(PlatformError::Conflict { code: Conflict::AlreadyFrozen, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(hits)
    }

    /// Screen a payee who is not one of ours (a partner network's merchant, by the name its code
    /// carries) before a cross-border payment to it: a possible match becomes a hit for review and the
    /// payment is refused (`SCREENING_REVIEW`) until a reviewer clears that hit; a confirmed one stays
    /// refused. Nothing is frozen: the payee has no account here.
    pub async fn screen_payee(&self, subject: &str, name: &str) -> Result<()> {
        for found in self.matches(name).await? {
            let hit = Hit::pending(FreezeKind::Merchant, subject, name, found, self.core.now_ms());
            let (subject, list, reference) = (subject.to_string(), hit.list, hit.reference.clone());
            let state = self
                .core
                .transaction(move |c| {
                    store::insert_hit(c, &hit)?;
                    store::hit_state(c, FreezeKind::Merchant, &subject, list, &reference)
                })
                .await?;
            if state != Some(HitState::Cleared) {
                return Err(PlatformError::conflict(
                    Conflict::ScreeningReview,
                    "this payee's name is under a sanctions review: the payment was not made",
                ));
            }
        }
        Ok(())
    }

    pub async fn hits(&self, state: Option<HitState>) -> Result<Vec<Hit>> {
        self.core.read(move |c| store::hits(c, state, HITS_PAGE_MAX)).await
    }

    /// Review a pending hit: cleared (not the listed party) or confirmed. The freeze is lifted apart, by
    /// four eyes.
    pub async fn decide(&self, acting: Acting<'_>, id: i64, state: HitState) -> Result<Hit> {
        if state == HitState::Pending {
            return Err(PlatformError::invalid("state", "cleared or confirmed"));
        }
        let (by, now) = (acting.by.actor(), self.core.now_ms());
        let audit = self.audit.effect(&by, &format!("screening.{state}"), &format!("hit:{id}"), "", acting.reason);
        if !self.core.transaction(move |c| store::decide(c, id, state, &by, now, &audit)).await? {
            return Err(PlatformError::conflict(Conflict::AlreadyResolved, "this hit is decided already, or there is no such hit"));
        }
        self.core.read(move |c| store::hit(c, id)).await?.ok_or(PlatformError::NotFound("hit"))
    }
}
