//! Inspired Gifts: a charity publishes a catalogue of priced items for one of its campaigns (a vaccine
//! pack, a school kit); a person gives one **in a friend's name**. The money is an ordinary donation to
//! the campaign (the giver's receipt, their limits, the match); in the same commit the item's count
//! goes up (a guard: only while the charity offers it) and the friend's gift card is written. The
//! friend sees the card in their wallet and may thank the giver, once.

use super::donate::{Donate, Purpose};
use super::funding::Authority;
use super::{Charities, DonationView, store};
use crate::ids::as_string;
use crate::wallet::decimal;
use crate::{Conflict, MerchantId, PersonId, PlatformError, Result};
use money::Currency;
use serde::Serialize;

/// Items in one campaign's catalogue at most.
pub const ITEMS_PER_CAMPAIGN_MAX: i64 = 50;
/// An item's name and description, and a note or a thank-you, in characters.
pub const ITEM_NAME_CHARS_MAX: usize = 60;
pub const ITEM_DESCRIPTION_CHARS_MAX: usize = 500;
pub const NOTE_CHARS_MAX: usize = 200;

text_enum! {
    pub enum ItemState {
        Offered => "offered",
        /// No longer given (its cards and counts stay).
        Withdrawn => "withdrawn",
    }
}

/// An item of a charity's catalogue, with how many were given.
#[derive(Debug, Clone, Serialize)]
pub struct GiftItem {
    #[serde(serialize_with = "as_string")]
    pub id: i64,
    #[serde(skip)]
    pub charity: MerchantId,
    #[serde(serialize_with = "as_string")]
    pub campaign_id: i64,
    pub out_item_no: String,
    pub name: String,
    pub description: String,
    pub currency: Currency,
    #[serde(skip)]
    pub price_minor: i64,
    /// The price as a decimal of the currency's major unit.
    pub price: String,
    pub sold: i64,
    pub state: ItemState,
    pub created_at_ms: i64,
}

/// What a charity publishes (the price in minor units of the campaign's currency).
#[derive(Debug, Clone, Copy)]
pub struct NewGiftItem<'a> {
    pub out_item_no: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub price_minor: i64,
    pub currency: &'a str,
}

/// What a giver asks.
#[derive(Debug, Clone, Copy)]
pub struct SendGift<'a> {
    pub item: i64,
    pub friend: PersonId,
    pub note: Option<&'a str>,
    pub pin: Option<&'a str>,
    pub card: Option<i64>,
    pub balance_currency: Option<&'a str>,
}

/// The friend's card, as the gift's commit writes it.
#[derive(Debug, Clone)]
pub(crate) struct GiftCard {
    pub item_id: i64,
    pub recipient: PersonId,
    pub note: Option<String>,
}

/// A gift card as stored, with its item's and people's names.
#[derive(Debug, Clone)]
pub(crate) struct StoredGiftCard {
    pub id: i64,
    pub item_id: i64,
    pub recipient: PersonId,
    pub note: Option<String>,
    pub thanks: Option<String>,
    pub thanked_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub item_name: String,
    pub item_description: String,
    pub currency: Currency,
    pub price_minor: i64,
    pub charity_name: String,
    pub giver_name: String,
    pub recipient_name: String,
}

/// A gift card as its giver or its friend sees it.
#[derive(Debug, Clone, Serialize)]
pub struct GiftCardView {
    /// The donation's id.
    #[serde(serialize_with = "as_string")]
    pub id: i64,
    #[serde(serialize_with = "as_string")]
    pub item_id: i64,
    pub item: String,
    pub description: String,
    pub charity: String,
    pub amount: String,
    pub currency: Currency,
    /// The giver's name, and the friend's.
    pub from: String,
    pub to: String,
    /// This person received it (else they sent it).
    pub received: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thanks: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thanked_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

impl StoredGiftCard {
    fn view(&self, person: PersonId) -> GiftCardView {
        GiftCardView {
            id: self.id,
            item_id: self.item_id,
            item: self.item_name.clone(),
            description: self.item_description.clone(),
            charity: self.charity_name.clone(),
            amount: decimal(self.price_minor, self.currency),
            currency: self.currency,
            from: self.giver_name.clone(),
            to: self.recipient_name.clone(),
            received: self.recipient == person,
            note: self.note.clone(),
            thanks: self.thanks.clone(),
            thanked_at_ms: self.thanked_at_ms,
            created_at_ms: self.created_at_ms,
        }
    }
}

/// A short text of at most `max` characters with no control characters (trimmed), or `None`.
fn short_text(field: &'static str, text: Option<&str>, max: usize) -> Result<Option<String>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() > max || t.chars().any(char::is_control) => {
            Err(PlatformError::invalid(field, format!("at most {max} characters, no control characters")))
        }
        t => Ok(t.map(str::to_string)),
    }
}

impl Charities {
    /// A charity publishes an item for one of its campaigns; the same `out_item_no` is the same item.
    pub async fn publish_item(&self, charity: MerchantId, campaign_id: i64, ask: NewGiftItem<'_>) -> Result<GiftItem> {
        let campaign = self.stored_campaign(campaign_id).await?;
        if campaign.charity != charity {
            return Err(PlatformError::NotFound("campaign"));
        }
        let out_no = ask.out_item_no;
        if out_no.is_empty() || out_no.len() > 32 || !out_no.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
            return Err(PlatformError::invalid("out_item_no", "1 to 32 letters, digits, '-' or '_'"));
        }
        let name = short_text("name", Some(ask.name), ITEM_NAME_CHARS_MAX)?.ok_or_else(|| PlatformError::invalid("name", "required"))?;
        let description = short_text("description", Some(ask.description), ITEM_DESCRIPTION_CHARS_MAX)?.unwrap_or_default();
        let currency = crate::wallet::parse_currency(ask.currency)?;
        if currency != campaign.currency {
            return Err(PlatformError::invalid("currency", format!("this campaign takes {}", campaign.currency)));
        }
        if ask.price_minor < campaign.min_minor.max(1) || ask.price_minor > crate::payments::ORDER_TOTAL_MAX {
            return Err(PlatformError::invalid("price", "at least the campaign's smallest gift, at most what one payment may be"));
        }
        let now = self.core.now_ms();
        let item = GiftItem {
            id: crate::ids::object_id(now),
            charity,
            campaign_id,
            out_item_no: out_no.to_string(),
            name,
            description,
            currency,
            price_minor: ask.price_minor,
            price: decimal(ask.price_minor, currency),
            sold: 0,
            state: ItemState::Offered,
            created_at_ms: now,
        };
        let row = item.clone();
        let listed = self.core.read(move |c| store::items_of(c, campaign_id, ITEMS_PER_CAMPAIGN_MAX)).await?;
        if let Some(same) = listed.iter().find(|i| i.out_item_no == out_no) {
            return self.same_item(same, &item);
        }
        if listed.len() as i64 >= ITEMS_PER_CAMPAIGN_MAX {
            return Err(PlatformError::invalid("out_item_no", format!("a campaign offers at most {ITEMS_PER_CAMPAIGN_MAX} items")));
        }
        if !self.core.write(move |c| store::insert_item(c, &row)).await? {
            // Published meanwhile by a retry: answer that item.
            let out = item.out_item_no.clone();
            let found = self.core.read(move |c| store::item_by_out_no(c, charity, &out)).await?;
            let found = found.ok_or_else(|| PlatformError::Internal("an item's insert failed with no row".into()))?;
            return self.same_item(&found, &item);
        }
        self.item(item.id).await
    }

    /// A retried publication answers the item it made; a number reused for another item is refused.
    fn same_item(&self, found: &GiftItem, asked: &GiftItem) -> Result<GiftItem> {
        if found.campaign_id == asked.campaign_id && found.name == asked.name && found.price_minor == asked.price_minor {
            return Ok(found.clone());
        }
        Err(PlatformError::conflict(Conflict::GiftItemNoUsed, "this out_item_no names another item"))
    }

    pub async fn item(&self, id: i64) -> Result<GiftItem> {
        self.core.read(move |c| store::item(c, id)).await?.ok_or(PlatformError::NotFound("gift item"))
    }

    /// The charity withdraws an item: no more are given (its count and cards stay).
    pub async fn withdraw_item(&self, charity: MerchantId, id: i64) -> Result<GiftItem> {
        if self.item(id).await?.charity != charity {
            return Err(PlatformError::NotFound("gift item"));
        }
        self.core.write(move |c| store::set_item_state(c, id, ItemState::Withdrawn)).await?;
        self.item(id).await
    }

    /// A campaign's catalogue: every item with its count (`offered_only` for people choosing one).
    pub async fn catalogue(&self, campaign_id: i64, offered_only: bool) -> Result<Vec<GiftItem>> {
        let items = self.core.read(move |c| store::items_of(c, campaign_id, ITEMS_PER_CAMPAIGN_MAX)).await?;
        Ok(items.into_iter().filter(|i| !offered_only || i.state == ItemState::Offered).collect())
    }

    /// Give an item in a friend's name: a donation of its price to its campaign, the friend's card and
    /// the item's count in its commit. The same key is the same gift.
    pub async fn send_gift(&self, person: PersonId, ask: SendGift<'_>, key: Option<&str>) -> Result<DonationView> {
        let id = self.core.request_id("inspired-gift", person, key);
        // A retry answers the gift it made, even once the item is withdrawn.
        if let Some(made) = self.core.read(move |c| store::donation(c, id)).await?.filter(|d| d.donor == person) {
            return Ok(made.view(false));
        }
        let item = self.item(ask.item).await.map_err(|e| match e {
            PlatformError::NotFound(_) => PlatformError::invalid("item_id", "no such gift"),
            e => e,
        })?;
        if item.state != ItemState::Offered {
            return Err(PlatformError::conflict(Conflict::GiftWithdrawn, "the charity no longer offers this gift"));
        }
        if ask.friend == person {
            return Err(PlatformError::invalid("friend_id", "an Inspired Gift is given in a friend's name"));
        }
        self.social
            .require_friends(person, ask.friend)
            .await
            .map_err(|_| PlatformError::Forbidden("a gift is sent in a friend's name: this person is not your friend".into()))?;
        let note = short_text("note", ask.note, NOTE_CHARS_MAX)?;
        let amount = decimal(item.price_minor, item.currency);
        let donate = Donate {
            amount: &amount,
            currency: item.currency.code(),
            pin: ask.pin,
            card: ask.card,
            balance_currency: ask.balance_currency,
            ..Donate::default()
        };
        let card = super::gifts::GiftCard { item_id: item.id, recipient: ask.friend, note };
        self.give(person, item.campaign_id, &donate, id, Authority::Pin(ask.pin), Purpose { recurring: None, gift: Some(card) }).await
    }

    /// The gift cards a person received or sent, newest first.
    pub async fn gift_cards(&self, person: PersonId) -> Result<Vec<GiftCardView>> {
        let cards = self.core.read(move |c| store::gift_cards_of(c, person, super::LISTED_MAX)).await?;
        Ok(cards.iter().map(|g| g.view(person)).collect())
    }

    /// The friend who received a gift thanks its giver (once).
    pub async fn thank(&self, person: PersonId, card: i64, thanks: &str) -> Result<GiftCardView> {
        let text = short_text("thanks", Some(thanks), NOTE_CHARS_MAX)?.ok_or_else(|| PlatformError::invalid("thanks", "required"))?;
        let now = self.core.now_ms();
        let thanked = self.core.write(move |c| store::thank(c, card, person, &text, now)).await?;
        let found = self.core.read(move |c| store::gift_card(c, card)).await?.filter(|g| g.recipient == person);
        match (found, thanked) {
            (Some(g), true) => Ok(g.view(person)),
            (Some(_), false) => Err(PlatformError::conflict(Conflict::GiftThanked, "you thanked them for this gift already")),
            (None, _) => Err(PlatformError::NotFound("gift card")),
        }
    }
}
