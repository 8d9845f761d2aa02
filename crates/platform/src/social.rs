//! Friends (requested by one, accepted by the other) and groups (up to the configured member count).
//! Money goes only between friends, or into a group the sender belongs to.

use crate::people::parse_name;
use crate::{Platform, PlatformError, Result, ids};
use serde::Serialize;
use store::params;

#[derive(Debug, Clone, Serialize)]
pub struct Friend {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub person_id: i64,
    pub display_name: String,
    /// requested (by `requested_by`) or accepted
    pub state: String,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub requested_by: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub name: String,
    #[serde(serialize_with = "crate::ids::as_string")]
    pub owner_id: i64,
    #[serde(serialize_with = "crate::ids::vec_as_string")]
    pub members: Vec<i64>,
}

impl Platform {
    /// Ask `other` to be friends. If they had already asked, this accepts.
    pub async fn request_friend(&self, person: i64, other: i64) -> Result<Friend> {
        if person == other {
            return Err(PlatformError::invalid("person_id", "you cannot befriend yourself"));
        }
        let other_person = self.person(other).await?;
        let now = self.now_ms();
        let state = self
            .blocking(move |db| {
                Ok(db.transaction(|c| {
                    let existing = c.query_one("SELECT state, requested_by FROM friendships WHERE person_id = $1 AND friend_id = $2", params![person, other])?;
                    match existing {
                        Some(r) if r.text(0)? == "accepted" => Ok("accepted".to_string()),
                        Some(r) if r.int(1)? == other => {
                            c.execute("UPDATE friendships SET state = 'accepted' WHERE (person_id = $1 AND friend_id = $2) OR (person_id = $2 AND friend_id = $1)", params![person, other])?;
                            Ok("accepted".to_string())
                        }
                        Some(_) => Ok("requested".to_string()),
                        None => {
                            for (a, b) in [(person, other), (other, person)] {
                                c.execute(
                                    "INSERT INTO friendships (person_id, friend_id, state, requested_by, created_at) VALUES ($1, $2, 'requested', $3, $4)",
                                    params![a, b, person, now],
                                )?;
                            }
                            Ok("requested".to_string())
                        }
                    }
                })?)
            })
            .await?;
        let requested_by = if state == "accepted" { other } else { person };
        Ok(Friend { person_id: other, display_name: other_person.display_name, state, requested_by })
    }

    /// Accept a friend request `other` sent.
    pub async fn accept_friend(&self, person: i64, other: i64) -> Result<Friend> {
        let p = self.person(other).await?;
        let changed = self
            .blocking(move |db| {
                Ok(db.transaction(|c| {
                    let row = c.query_one("SELECT state, requested_by FROM friendships WHERE person_id = $1 AND friend_id = $2", params![person, other])?;
                    match row {
                        None => Ok(Err(PlatformError::NotFound("friend request"))),
                        Some(r) if r.text(0)? == "accepted" => Ok(Ok(())),
                        Some(r) if r.int(1)? == person => Ok(Err(PlatformError::conflict("NOT_YOURS_TO_ACCEPT", "the other person has to accept your request"))),
                        Some(_) => {
                            c.execute("UPDATE friendships SET state = 'accepted' WHERE (person_id = $1 AND friend_id = $2) OR (person_id = $2 AND friend_id = $1)", params![person, other])?;
                            Ok(Ok(()))
                        }
                    }
                })?)
            })
            .await?;
        changed?;
        Ok(Friend { person_id: other, display_name: p.display_name, state: "accepted".into(), requested_by: other })
    }

    pub async fn friends(&self, person: i64) -> Result<Vec<Friend>> {
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query(
                        "SELECT f.friend_id, p.display_name, f.state, f.requested_by FROM friendships f JOIN people p ON p.id = f.friend_id WHERE f.person_id = $1 ORDER BY f.created_at",
                        params![person],
                    )
                })?)
            })
            .await?;
        rows.iter()
            .map(|r| Ok(Friend { person_id: r.int(0)?, display_name: r.text(1)?, state: r.text(2)?, requested_by: r.int(3)? }))
            .collect()
    }

    pub(crate) async fn require_friends(&self, person: i64, other: i64) -> Result<()> {
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    c.query_one(
                        "SELECT 1 FROM friendships WHERE person_id = $1 AND friend_id = $2 AND state = 'accepted'",
                        params![person, other],
                    )
                })?)
            })
            .await?;
        row.map(|_| ()).ok_or_else(|| PlatformError::Forbidden("you can only pay friends (accepted friend requests)".into()))
    }

    /// Make a group of the owner and some of their friends.
    pub async fn create_group(&self, owner: i64, name: &str, members: &[i64]) -> Result<Group> {
        let name = parse_name("name", name, self.config.name_chars_max)?;
        let mut all: Vec<i64> = std::iter::once(owner).chain(members.iter().copied()).collect();
        all.sort_unstable();
        all.dedup();
        if all.len() > self.config.group_members_max {
            return Err(PlatformError::invalid("members", format!("a group has at most {} members", self.config.group_members_max)));
        }
        for m in all.iter().filter(|m| **m != owner) {
            self.require_friends(owner, *m)
                .await
                .map_err(|_| PlatformError::Forbidden(format!("{m} is not your friend: only friends can be added")))?;
        }
        let now = self.now_ms();
        let id = ids::object_id(now);
        let (n, members) = (name.clone(), all.clone());
        self.blocking(move |db| {
            Ok(db.transaction(|c| {
                c.execute(
                    "INSERT INTO chat_groups (id, name, owner_id, created_at) VALUES ($1, $2, $3, $4)",
                    params![id, n.as_str(), owner, now],
                )?;
                for m in &members {
                    c.execute("INSERT INTO group_members (group_id, person_id, joined_at) VALUES ($1, $2, $3)", params![id, *m, now])?;
                }
                Ok(())
            })?)
        })
        .await?;
        Ok(Group { id, name, owner_id: owner, members: all })
    }

    /// Add members (friends of whoever adds them, who must be a member).
    pub async fn add_group_members(&self, person: i64, group: i64, members: &[i64]) -> Result<Group> {
        let g = self.group(person, group).await?;
        let new: Vec<i64> = members.iter().copied().filter(|m| !g.members.contains(m)).collect();
        if g.members.len() + new.len() > self.config.group_members_max {
            return Err(PlatformError::invalid("members", format!("a group has at most {} members", self.config.group_members_max)));
        }
        for m in &new {
            self.require_friends(person, *m)
                .await
                .map_err(|_| PlatformError::Forbidden(format!("{m} is not your friend: only friends can be added")))?;
        }
        let now = self.now_ms();
        self.blocking(move |db| {
            Ok(db.transaction(|c| {
                for m in &new {
                    c.execute("INSERT INTO group_members (group_id, person_id, joined_at) VALUES ($1, $2, $3)", params![group, *m, now])?;
                }
                Ok(())
            })?)
        })
        .await?;
        self.group(person, group).await
    }

    /// Whether a person belongs to a group (one index lookup, whatever the group's size).
    pub(crate) async fn is_member(&self, person: i64, group: i64) -> Result<bool> {
        let row = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query_one("SELECT 1 FROM group_members WHERE group_id = $1 AND person_id = $2", params![group, person]))?)
            })
            .await?;
        Ok(row.is_some())
    }

    /// The groups a person belongs to.
    pub async fn groups(&self, person: i64) -> Result<Vec<Group>> {
        let rows = self
            .blocking(move |db| {
                Ok(db.with(|c| c.query("SELECT group_id FROM group_members WHERE person_id = $1 ORDER BY group_id", params![person]))?)
            })
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.group(person, r.int(0)?).await?);
        }
        Ok(out)
    }

    /// A group, as one of its members sees it.
    pub async fn group(&self, person: i64, group: i64) -> Result<Group> {
        let (head, members) = self
            .blocking(move |db| {
                Ok(db.with(|c| {
                    let head = c.query_one("SELECT id, name, owner_id FROM chat_groups WHERE id = $1", params![group])?;
                    let members = c.query("SELECT person_id FROM group_members WHERE group_id = $1 ORDER BY person_id", params![group])?;
                    Ok((head, members))
                })?)
            })
            .await?;
        let head = head.ok_or(PlatformError::NotFound("group"))?;
        let members: Vec<i64> = members.iter().map(|r| r.int(0)).collect::<store::Result<_>>()?;
        if !members.contains(&person) {
            return Err(PlatformError::NotFound("group"));
        }
        Ok(Group { id: head.int(0)?, name: head.text(1)?, owner_id: head.int(2)?, members })
    }
}
