//! Red-packet covers merchants publish (an image served by the merchant's CDN and a title) for people to
//! choose when they send one.

use super::{RedPackets, store};
use crate::people::parse_name;
use crate::{PlatformError, Result, ids};
use serde::Serialize;

/// A red-packet cover a merchant published.
#[derive(Debug, Clone, Serialize)]
pub struct Cover {
    #[serde(serialize_with = "crate::ids::as_string")]
    pub id: i64,
    /// The merchant's name.
    pub merchant: String,
    pub title: String,
    pub image_url: String,
    pub created_at_ms: i64,
}

/// Covers listed at most per page.
pub const COVERS_PAGE_MAX: i64 = 100;

impl RedPackets {
    pub async fn publish_cover(&self, mchid: &str, title: &str, image_url: &str, audit: Option<::store::Effect>) -> Result<Cover> {
        let merchant = self.merchants.merchant(mchid).await?;
        let title = parse_name("title", title, self.core.config.name_chars_max)?;
        if !image_url.starts_with("https://") || image_url.len() > 512 || image_url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(PlatformError::invalid("image_url", "an https:// URL of at most 512 characters"));
        }
        let now = self.core.now_ms();
        let id = ids::object_id(now);
        let (merchant_id, t, url) = (merchant.merchant.id, title.clone(), image_url.to_string());
        self.core
            .transaction(move |c| {
                store::insert_cover(c, id, merchant_id, &t, &url, now)?;
                crate::audit::with_audit(c, true, &audit)
            })
            .await?;
        self.cover(id).await
    }

    pub async fn cover(&self, id: i64) -> Result<Cover> {
        let (cover, merchant) = self.core.read(move |c| store::cover(c, id)).await?.ok_or(PlatformError::NotFound("cover"))?;
        Ok(Cover { merchant: self.merchants.name(merchant).await?, ..cover })
    }

    /// One merchant's published covers, newest first (its console lists them).
    pub async fn covers_of(&self, merchant: crate::MerchantId, limit: i64) -> Result<Vec<Cover>> {
        let limit = limit.clamp(1, COVERS_PAGE_MAX);
        let name = self.merchants.name(merchant).await?;
        let rows = self.core.read(move |c| store::covers_of(c, merchant, limit)).await?;
        Ok(rows.into_iter().map(|(cover, _)| Cover { merchant: name.clone(), ..cover }).collect())
    }

    /// Published covers, newest first.
    pub async fn covers(&self, limit: i64) -> Result<Vec<Cover>> {
        let limit = limit.clamp(1, COVERS_PAGE_MAX);
        let rows = self.core.read(move |c| store::covers(c, limit)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (cover, merchant) in rows {
            out.push(Cover { merchant: self.merchants.name(merchant).await?, ..cover });
        }
        Ok(out)
    }
}
