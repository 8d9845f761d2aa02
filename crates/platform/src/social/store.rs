//! The social domain's storage: `friendships`, `chat_groups`, `group_members`.

use super::{FriendState, Group};
use crate::PersonId;
use store::{Conn, Result, StoreError, params};

/// One side of a friendship: (state, requested_by).
pub(crate) fn friendship(c: &mut dyn Conn, person: PersonId, other: PersonId) -> Result<Option<(FriendState, PersonId)>> {
    let row = c.query_one("SELECT state, requested_by FROM friendships WHERE person_id = $1 AND friend_id = $2", params![person, other])?;
    row.map(|r| {
        let state = FriendState::parse(&r.text("state")?).ok_or_else(|| StoreError::Database("unknown friendship state".into()))?;
        Ok((state, PersonId::new(r.int("requested_by")?)))
    })
    .transpose()
}

/// Both sides of a new request (a request that raced in first is kept: `ON CONFLICT DO NOTHING`).
pub(crate) fn insert_request(c: &mut dyn Conn, by: PersonId, to: PersonId, now_ms: i64) -> Result<()> {
    for (a, b) in [(by, to), (to, by)] {
        c.execute(
            "INSERT INTO friendships (person_id, friend_id, state, requested_by, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (person_id, friend_id) DO NOTHING",
            params![a, b, FriendState::Requested, by, now_ms],
        )?;
    }
    Ok(())
}

pub(crate) fn accept(c: &mut dyn Conn, person: PersonId, other: PersonId) -> Result<()> {
    c.execute(
        "UPDATE friendships SET state = $3 WHERE (person_id = $1 AND friend_id = $2) OR (person_id = $2 AND friend_id = $1)",
        params![person, other, FriendState::Accepted],
    )?;
    Ok(())
}

/// A person's friends and requests: (friend, display name, state, requested_by), oldest first.
pub(crate) fn friends(c: &mut dyn Conn, person: PersonId) -> Result<Vec<(PersonId, String, FriendState, PersonId)>> {
    let rows = c.query(
        "SELECT f.friend_id, p.display_name, f.state, f.requested_by FROM friendships f JOIN people p ON p.id = f.friend_id WHERE f.person_id = $1 ORDER BY f.created_at",
        params![person],
    )?;
    rows.iter()
        .map(|r| {
            let state = FriendState::parse(&r.text("state")?).ok_or_else(|| StoreError::Database("unknown friendship state".into()))?;
            Ok((PersonId::new(r.int("friend_id")?), r.text("display_name")?, state, PersonId::new(r.int("requested_by")?)))
        })
        .collect()
}

/// Which of `others` are `person`'s accepted friends.
pub(crate) fn are_friends(c: &mut dyn Conn, person: PersonId, others: &[PersonId]) -> Result<Vec<bool>> {
    others
        .iter()
        .map(|o| {
            Ok(c.query_one(
                "SELECT 1 AS yes FROM friendships WHERE person_id = $1 AND friend_id = $2 AND state = $3",
                params![person, *o, FriendState::Accepted],
            )?
            .is_some())
        })
        .collect()
}

pub(crate) fn insert_group(c: &mut dyn Conn, id: i64, name: &str, owner: PersonId, members: &[PersonId], now_ms: i64) -> Result<()> {
    c.execute("INSERT INTO chat_groups (id, name, owner_id, created_at) VALUES ($1, $2, $3, $4)", params![id, name, owner, now_ms])?;
    add_members(c, id, members, now_ms)
}

/// Members already in the group stay as they are.
pub(crate) fn add_members(c: &mut dyn Conn, group: i64, members: &[PersonId], now_ms: i64) -> Result<()> {
    for m in members {
        c.execute(
            "INSERT INTO group_members (group_id, person_id, joined_at) VALUES ($1, $2, $3) ON CONFLICT (group_id, person_id) DO NOTHING",
            params![group, *m, now_ms],
        )?;
    }
    Ok(())
}

pub(crate) fn is_member(c: &mut dyn Conn, person: PersonId, group: i64) -> Result<bool> {
    Ok(c.query_one("SELECT 1 AS yes FROM group_members WHERE group_id = $1 AND person_id = $2", params![group, person])?.is_some())
}

pub(crate) fn groups_of(c: &mut dyn Conn, person: PersonId) -> Result<Vec<i64>> {
    let rows = c.query("SELECT group_id FROM group_members WHERE person_id = $1 ORDER BY group_id", params![person])?;
    rows.iter().map(|r| r.int("group_id")).collect()
}

pub(crate) fn group(c: &mut dyn Conn, group: i64) -> Result<Option<Group>> {
    let Some(head) = c.query_one("SELECT id, name, owner_id FROM chat_groups WHERE id = $1", params![group])? else { return Ok(None) };
    let members = c.query("SELECT person_id FROM group_members WHERE group_id = $1 ORDER BY person_id", params![group])?;
    Ok(Some(Group {
        id: head.int("id")?,
        name: head.text("name")?,
        owner_id: PersonId::new(head.int("owner_id")?),
        members: members.iter().map(|r| Ok(PersonId::new(r.int("person_id")?))).collect::<Result<_>>()?,
    }))
}
