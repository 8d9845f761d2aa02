//! Friends (requested by one, accepted by the other) and groups (up to the configured member count).
//! Money goes only between friends, or into a group the sender belongs to.
//!
//! An accepted friendship is never undone (there is no unfriending), so "these two are friends" stays
//! true once read: each instance keeps the pairs it found friends in memory (`cache::TimedCache`, for
//! `cache::TTL`), and a payment between friends reads no friendship row. Only the positive answer is
//! kept; a pair not (yet) friends is read again, so an acceptance on any instance counts at once. Should
//! friendships ever end, ending one must forget the pair on every instance (`invalidation`) first.

mod store;

use crate::cache::TimedCache;
use crate::core::Core;
use crate::people::{People, parse_name};
use crate::{Conflict, PersonId, PlatformError, Result, ids};
use serde::Serialize;
use std::sync::Arc;

text_enum! {
    pub enum FriendState {
        /// Asked by `requested_by`, not yet accepted.
        Requested => "requested",
        Accepted => "accepted",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Friend {
    pub person_id: PersonId,
    pub display_name: String,
    pub state: FriendState,
    pub requested_by: PersonId,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub name: String,
    pub owner_id: PersonId,
    #[serde(serialize_with = "crate::ids::vec_as_string")]
    pub members: Vec<PersonId>,
}

pub struct Social {
    core: Arc<Core>,
    people: Arc<People>,
    /// Pairs (person, friend) found accepted friends: a fact that never changes (see the module's doc).
    friends: TimedCache<(PersonId, PersonId), ()>,
}

impl Social {
    pub(crate) fn new(core: Arc<Core>, people: Arc<People>) -> Social {
        Social { core, people, friends: TimedCache::default() }
    }

    /// Ask `other` to be friends. If they had already asked, this accepts. Two people asking each other
    /// at once end up friends, never an error.
    pub async fn request_friend(&self, person: PersonId, other: PersonId) -> Result<Friend> {
        if person == other {
            return Err(PlatformError::invalid("person_id", "you cannot befriend yourself"));
        }
        let other_person = self.people.person(other).await?;
        let now = self.core.now_ms();
        let (state, requested_by) = self
            .core
            .transaction(move |c| {
                if store::friendship(c, person, other)?.is_none() {
                    store::insert_request(c, person, other, now)?;
                }
                match store::friendship(c, person, other)?.expect("inserted above") {
                    (FriendState::Requested, by) if by == other => {
                        store::accept(c, person, other)?;
                        Ok((FriendState::Accepted, other))
                    }
                    found => Ok(found),
                }
            })
            .await?;
        Ok(Friend { person_id: other, display_name: other_person.display_name, state, requested_by })
    }

    /// Accept a friend request `other` sent.
    pub async fn accept_friend(&self, person: PersonId, other: PersonId) -> Result<Friend> {
        let p = self.people.person(other).await?;
        let accepted = self
            .core
            .transaction(move |c| match store::friendship(c, person, other)? {
                None => Ok(Err(PlatformError::NotFound("friend request"))),
                Some((FriendState::Accepted, _)) => Ok(Ok(())),
                Some((_, by)) if by == person => {
                    Ok(Err(PlatformError::conflict(Conflict::NotYoursToAccept, "the other person has to accept your request")))
                }
                Some(_) => store::accept(c, person, other).map(Ok),
            })
            .await?;
        accepted?;
        Ok(Friend { person_id: other, display_name: p.display_name, state: FriendState::Accepted, requested_by: other })
    }

    pub async fn friends(&self, person: PersonId) -> Result<Vec<Friend>> {
        let rows = self.core.read(move |c| store::friends(c, person)).await?;
        Ok(rows
            .into_iter()
            .map(|(person_id, display_name, state, requested_by)| Friend { person_id, display_name, state, requested_by })
            .collect())
    }

    /// Only friends (accepted) may be paid.
    pub async fn require_friends(&self, person: PersonId, other: PersonId) -> Result<()> {
        if self.friends.get(&(person, other)).is_some() {
            return Ok(());
        }
        let yes = self.core.read(move |c| store::are_friends(c, person, &[other])).await?;
        if !yes[0] {
            return Err(PlatformError::Forbidden("you can only pay friends (accepted friend requests)".into()));
        }
        self.friends.put((person, other), ());
        Ok(())
    }

    /// Every one of `members` is `person`'s friend (one hop for all of them).
    async fn require_all_friends(&self, person: PersonId, members: Vec<PersonId>) -> Result<()> {
        let check = members.clone();
        let yes = self.core.read(move |c| store::are_friends(c, person, &check)).await?;
        match members.iter().zip(yes).find(|(_, yes)| !yes) {
            Some((m, _)) => Err(PlatformError::Forbidden(format!("{m} is not your friend: only friends can be added"))),
            None => Ok(()),
        }
    }

    /// Make a group of the owner and some of their friends.
    pub async fn create_group(&self, owner: PersonId, name: &str, members: &[PersonId]) -> Result<Group> {
        let name = parse_name("name", name, self.core.config.name_chars_max)?;
        let mut all: Vec<PersonId> = std::iter::once(owner).chain(members.iter().copied()).collect();
        all.sort_unstable();
        all.dedup();
        if all.len() > self.core.config.group_members_max {
            return Err(PlatformError::invalid("members", format!("a group has at most {} members", self.core.config.group_members_max)));
        }
        self.require_all_friends(owner, all.iter().copied().filter(|m| *m != owner).collect()).await?;
        let now = self.core.now_ms();
        let id = ids::object_id(now);
        let (n, m) = (name.clone(), all.clone());
        self.core.transaction(move |c| store::insert_group(c, id, &n, owner, &m, now)).await?;
        Ok(Group { id, name, owner_id: owner, members: all })
    }

    /// Add members (friends of whoever adds them, who must be a member). Adding a member again is fine.
    pub async fn add_group_members(&self, person: PersonId, group: i64, members: &[PersonId]) -> Result<Group> {
        let g = self.group(person, group).await?;
        let mut new: Vec<PersonId> = members.iter().copied().filter(|m| !g.members.contains(m)).collect();
        new.sort_unstable();
        new.dedup();
        if g.members.len() + new.len() > self.core.config.group_members_max {
            return Err(PlatformError::invalid("members", format!("a group has at most {} members", self.core.config.group_members_max)));
        }
        self.require_all_friends(person, new.clone()).await?;
        let now = self.core.now_ms();
        self.core.transaction(move |c| store::add_members(c, group, &new, now)).await?;
        self.group(person, group).await
    }

    /// Whether a person belongs to a group (one index lookup, whatever the group's size).
    pub async fn is_member(&self, person: PersonId, group: i64) -> Result<bool> {
        self.core.read(move |c| store::is_member(c, person, group)).await
    }

    /// The groups a person belongs to.
    pub async fn groups(&self, person: PersonId) -> Result<Vec<Group>> {
        self.core
            .read(move |c| {
                let ids = store::groups_of(c, person)?;
                ids.into_iter().filter_map(|g| store::group(c, g).transpose()).collect()
            })
            .await
    }

    /// A group, as one of its members sees it.
    pub async fn group(&self, person: PersonId, group: i64) -> Result<Group> {
        let found = self.core.read(move |c| store::group(c, group)).await?;
        found.filter(|g| g.members.contains(&person)).ok_or(PlatformError::NotFound("group"))
    }
}
