//! Official accounts: how a merchant or a charity keeps a relation with people ("payment is not the
//! end of a transaction but the beginning of the next"). An account is the owner's app of kind
//! `official_account` (its app id is the id people search and its QR code carries); people follow it,
//! mute it, unfollow it, and read what it publishes in their inbox: news and appeals to every follower,
//! a receipt or a notice to one follower (named by their openid at the account, the same privacy rule as
//! apps: the account never learns who a person is).
//!
//! Delivery is fan-out on read: a message is one row, and a follower's inbox is the messages of the
//! accounts they follow since they followed, in the account's order (ids are time-ordered). So an appeal
//! to a million followers is one write, no follower misses one or sees one twice, and a retried publish
//! (the same `out_message_no`) is the same message. A follow's read mark gives the unread count.

mod store;

use crate::core::Core;
use crate::merchants::Merchants;
use crate::{MerchantId, PersonId, PlatformError, Result};
use serde::Serialize;
use std::sync::Arc;

/// Accounts one person follows at most.
pub const FOLLOWS_MAX: i64 = 1_000;
/// Messages to all followers one account sends in a day at most (one-to-one messages are not counted).
pub const BROADCASTS_PER_DAY_MAX: i64 = 20;
/// Inbox messages on one page at most.
pub const INBOX_PAGE_MAX: i64 = 100;
const TITLE_CHARS_MAX: usize = 64;
const BODY_CHARS_MAX: usize = 2_000;
const DAY_MS: i64 = 86_400_000;

text_enum! {
    pub enum MessageKind {
        News => "news",
        /// An emergency or fundraising appeal.
        Appeal => "appeal",
        /// To one follower: a receipt or a notice about their own dealings.
        Receipt => "receipt",
    }
}

/// An account as stored (with its owner and follower count).
#[derive(Debug, Clone)]
pub(crate) struct AccountRow {
    pub appid: String,
    pub name: String,
    pub owner: MerchantId,
    pub owner_name: String,
    pub charity: bool,
    pub followers: i64,
}

/// An account as people see it.
#[derive(Debug, Clone, Serialize)]
pub struct OfficialAccount {
    pub appid: String,
    pub name: String,
    /// The merchant or charity that runs it.
    pub owner: String,
    /// Run by a registered charity (the verified badge).
    pub charity: bool,
    pub followers: i64,
    /// What its QR code carries: people scan it to follow.
    pub follow_url: String,
}

/// One of a person's follows.
#[derive(Debug, Clone, Serialize)]
pub struct Follow {
    pub appid: String,
    pub name: String,
    /// The person's openid at this account.
    pub openid: String,
    pub muted: bool,
    pub unread: i64,
}

/// A message as stored.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub id: i64,
    pub appid: String,
    pub account_name: String,
    pub out_message_no: String,
    pub kind: MessageKind,
    pub title: String,
    pub body: String,
    pub to_person: Option<PersonId>,
    pub created_at_ms: i64,
}

/// A message as a follower (or its account) sees it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    pub appid: String,
    pub account: String,
    pub out_message_no: String,
    pub kind: MessageKind,
    pub title: String,
    pub body: String,
    /// To this follower only.
    pub personal: bool,
    pub unread: bool,
    pub created_at_ms: i64,
}

impl Message {
    fn view(&self, read_id: i64) -> MessageView {
        MessageView {
            id: self.id,
            appid: self.appid.clone(),
            account: self.account_name.clone(),
            out_message_no: self.out_message_no.clone(),
            kind: self.kind,
            title: self.title.clone(),
            body: self.body.clone(),
            personal: self.to_person.is_some(),
            unread: self.id > read_id,
            created_at_ms: self.created_at_ms,
        }
    }
}

/// What an account's owner publishes.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The owner's own number for it: the same number again is the same message.
    pub out_message_no: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    /// A follower's openid at the account: to them only (a receipt); else to every follower.
    pub to_openid: Option<String>,
}

pub struct OfficialAccounts {
    core: Arc<Core>,
    merchants: Arc<Merchants>,
}

fn text(field: &'static str, value: &str, chars_max: usize) -> Result<String> {
    let value = value.trim();
    let bad = |c: char| c.is_control() && c != '\n';
    if value.is_empty() || value.chars().count() > chars_max || value.chars().any(bad) {
        return Err(PlatformError::invalid(field, format!("1 to {chars_max} characters")));
    }
    Ok(value.to_string())
}

impl OfficialAccounts {
    pub(crate) fn new(core: Arc<Core>, merchants: Arc<Merchants>) -> OfficialAccounts {
        OfficialAccounts { core, merchants }
    }

    fn view(&self, a: AccountRow) -> OfficialAccount {
        let base = self.core.config.public_url.trim_end_matches('/');
        OfficialAccount {
            follow_url: format!("{base}/wallet/accounts/{}", a.appid),
            appid: a.appid,
            name: a.name,
            owner: a.owner_name,
            charity: a.charity,
            followers: a.followers,
        }
    }

    async fn row(&self, appid: &str) -> Result<AccountRow> {
        let id = appid.to_string();
        self.core.read(move |c| store::account(c, &id)).await?.ok_or(PlatformError::NotFound("official account"))
    }

    pub async fn account(&self, appid: &str) -> Result<OfficialAccount> {
        Ok(self.view(self.row(appid).await?))
    }

    /// Accounts by id, or by the start of their name (at most 20).
    pub async fn search(&self, query: &str) -> Result<Vec<OfficialAccount>> {
        let q = query.trim().to_string();
        if q.is_empty() || q.chars().count() > 64 {
            return Err(PlatformError::invalid("q", "1 to 64 characters of an account's id or name"));
        }
        let found = self.core.read(move |c| store::search(c, &q, 20)).await?;
        Ok(found.into_iter().map(|a| self.view(a)).collect())
    }

    /// A merchant's official accounts (the wallet offers to follow them after a payment).
    pub async fn accounts_of(&self, merchant: MerchantId) -> Result<Vec<OfficialAccount>> {
        let found = self.core.read(move |c| store::accounts_of(c, merchant)).await?;
        Ok(found.into_iter().map(|a| self.view(a)).collect())
    }

    /// Follow an account (following it already changes nothing).
    pub async fn follow(&self, person: PersonId, appid: &str) -> Result<Follow> {
        let account = self.row(appid).await?;
        let follows = self.core.read(move |c| store::count_follows(c, person)).await?;
        if follows >= FOLLOWS_MAX && !self.follows(person).await?.iter().any(|f| f.appid == account.appid) {
            return Err(PlatformError::invalid("appid", format!("at most {FOLLOWS_MAX} accounts followed")));
        }
        let openid = self.merchants.openid(&account.appid, person);
        let (appid, now) = (account.appid.clone(), self.core.now_ms());
        self.core.transaction(move |c| store::follow(c, &appid, person, &openid, now)).await?;
        self.follow_of(person, &account.appid).await
    }

    pub async fn unfollow(&self, person: PersonId, appid: &str) -> Result<()> {
        let id = self.row(appid).await?.appid;
        self.core.transaction(move |c| store::unfollow(c, &id, person)).await?;
        Ok(())
    }

    /// Mute an account (its messages still arrive, without a notice) or unmute it.
    pub async fn set_muted(&self, person: PersonId, appid: &str, muted: bool) -> Result<Follow> {
        let id = self.row(appid).await?.appid;
        let id2 = id.clone();
        if !self.core.transaction(move |c| store::set_muted(c, &id2, person, muted)).await? {
            return Err(PlatformError::NotFound("follow"));
        }
        self.follow_of(person, &id).await
    }

    async fn follow_of(&self, person: PersonId, appid: &str) -> Result<Follow> {
        self.follows(person).await?.into_iter().find(|f| f.appid == appid).ok_or(PlatformError::NotFound("follow"))
    }

    /// The accounts the person follows, each with its unread count.
    pub async fn follows(&self, person: PersonId) -> Result<Vec<Follow>> {
        self.core.read(move |c| store::follows(c, person)).await
    }

    /// The unread messages across every follow.
    pub async fn unread(&self, person: PersonId) -> Result<i64> {
        Ok(self.follows(person).await?.iter().map(|f| f.unread).sum())
    }

    /// The inbox, newest first, a page before message `before` (the previous page's last id).
    pub async fn inbox(&self, person: PersonId, before: Option<i64>, limit: i64) -> Result<Vec<MessageView>> {
        let (before, limit) = (before.unwrap_or(i64::MAX), limit.clamp(1, INBOX_PAGE_MAX));
        let found = self.core.read(move |c| store::inbox(c, person, before, limit)).await?;
        Ok(found.iter().map(|(m, read)| m.view(*read)).collect())
    }

    /// The person read an account's messages up to `up_to` (the newest when absent).
    pub async fn mark_read(&self, person: PersonId, appid: &str, up_to: Option<i64>) -> Result<Follow> {
        let id = self.row(appid).await?.appid;
        let up_to = up_to.unwrap_or(i64::MAX);
        let id2 = id.clone();
        self.core.transaction(move |c| store::mark_read(c, &id2, person, up_to)).await?;
        self.follow_of(person, &id).await
    }

    /// The account's owner publishes a message: to every follower, or (with `to_openid`) to one.
    pub async fn publish(&self, owner: MerchantId, appid: &str, new: NewMessage) -> Result<MessageView> {
        let account = self.row(appid).await?;
        if account.owner != owner {
            return Err(PlatformError::NotFound("official account"));
        }
        let out_no = new.out_message_no.trim().to_string();
        if !crate::payments::valid_out_no(&out_no, 1, 32, false) {
            return Err(PlatformError::invalid("out_message_no", "1 to 32 of [0-9A-Za-z_-]"));
        }
        let kind = MessageKind::parse(&new.kind).ok_or_else(|| PlatformError::invalid("kind", "news, appeal or receipt"))?;
        let (appid, now) = (account.appid.clone(), self.core.now_ms());
        let to_person = match new.to_openid.as_deref() {
            Some(openid) => {
                let (id, openid) = (appid.clone(), openid.to_string());
                let found = self.core.read(move |c| store::follower_by_openid(c, &id, &openid)).await?;
                Some(found.ok_or_else(|| PlatformError::invalid("to_openid", "not a follower of this account"))?)
            }
            None if kind == MessageKind::Receipt => {
                return Err(PlatformError::invalid("to_openid", "a receipt goes to one follower"));
            }
            None => None,
        };
        let (id, no) = (appid.clone(), out_no.clone());
        if let Some(existing) = self.core.read(move |c| store::message_by_out_no(c, &id, &no)).await? {
            return Ok(existing.view(i64::MAX));
        }
        if to_person.is_none() {
            let id = appid.clone();
            let sent = self.core.read(move |c| store::broadcasts_since(c, &id, now - DAY_MS)).await?;
            if sent >= BROADCASTS_PER_DAY_MAX {
                return Err(PlatformError::TooManyAttempts { retry_after_s: 3_600 });
            }
        }
        let message = Message {
            id: crate::ids::object_id(now),
            appid: appid.clone(),
            account_name: account.name.clone(),
            out_message_no: out_no.clone(),
            kind,
            title: text("title", &new.title, TITLE_CHARS_MAX)?,
            body: text("body", &new.body, BODY_CHARS_MAX)?,
            to_person,
            created_at_ms: now,
        };
        let row = message.clone();
        self.core.transaction(move |c| store::insert_message(c, &row)).await?;
        let stored = self.core.read(move |c| store::message_by_out_no(c, &appid, &out_no)).await?;
        Ok(stored.unwrap_or(message).view(i64::MAX))
    }
}
