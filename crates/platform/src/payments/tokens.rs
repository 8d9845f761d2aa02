//! The tokens in a payment's codes and links: `<order id, 16 hex><MAC, 16 hex>` under the server
//! secret, so nobody can make one for another order (a guess succeeds once in 2^64). A `prepay_id` is
//! `wx` + the order's creation time (yyyymmddHHMMSS, CST) + its token; a Native `code_url` and a static
//! code carry a token in WeChat's URL shape (merchant code that checks the prefix keeps working).

use super::{Order, Payments};
use crate::{OrderId, PlatformError, Result, crypto};

/// The MAC part of an order token: 8 bytes (16 hex characters).
const TOKEN_MAC_BYTES: usize = 8;
const TOKEN_CHARS: usize = 16 + 2 * TOKEN_MAC_BYTES;
const CODE_URL_PREFIX: &str = "weixin://wxpay/bizpayurl?pr=";
const STATIC_CODE_PREFIX: &str = "weixin://wxpay/bizpayurl?sr=";

impl Payments {
    fn token(&self, id: i64) -> String {
        let mac = self.core.mac_raw(format!("order-token\n{id}").as_bytes());
        format!("{:016x}{}", id, crypto::hex(&mac[..TOKEN_MAC_BYTES]))
    }

    /// The id a token stands for, if the token is genuine.
    pub(crate) fn of_token(&self, token: &str) -> Result<i64> {
        let bad = || PlatformError::invalid("token", "not a Qianbao payment code");
        if token.len() != TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let id = i64::from_str_radix(&token[..16], 16).map_err(|_| bad())?;
        if id <= 0 || !crypto::constant_time_eq(self.token(id).as_bytes(), token.as_bytes()) {
            return Err(bad());
        }
        Ok(id)
    }

    pub fn prepay_id(&self, order: &Order) -> String {
        let t = wxpay::time::civil(order.created_at_ms / 1000 + wxpay::time::CST_OFFSET_S);
        format!("wx{:04}{:02}{:02}{:02}{:02}{:02}{}", t.year, t.month, t.day, t.hour, t.minute, t.second, self.token(order.id.get()))
    }

    pub fn order_of_prepay_id(&self, prepay_id: &str) -> Result<OrderId> {
        match prepay_id.strip_prefix("wx") {
            Some(rest) if rest.len() == 14 + TOKEN_CHARS && rest.is_char_boundary(14) => self.of_token(&rest[14..]).map(OrderId::new),
            _ => Err(PlatformError::invalid("prepay_id", "not a Qianbao prepay_id")),
        }
    }

    /// The Native payment link a merchant shows as a QR code.
    pub fn code_url(&self, order: &Order) -> String {
        format!("{CODE_URL_PREFIX}{}", self.token(order.id.get()))
    }

    pub fn order_of_code_url(&self, code_url: &str) -> Result<OrderId> {
        match code_url.strip_prefix(CODE_URL_PREFIX) {
            Some(token) => self.of_token(token).map(OrderId::new),
            None => Err(PlatformError::invalid("code_url", "not a Qianbao payment code")),
        }
    }

    pub(crate) fn static_code_url(&self, id: i64) -> String {
        format!("{STATIC_CODE_PREFIX}{}", self.token(id))
    }

    pub(crate) fn static_code_of(&self, code_url: &str) -> Result<i64> {
        code_url
            .strip_prefix(STATIC_CODE_PREFIX)
            .ok_or_else(|| PlatformError::invalid("code_url", "not a Qianbao payment code"))
            .and_then(|token| self.of_token(token))
    }

    pub(crate) fn static_code_url_of_token(&self, token: &str) -> String {
        format!("{STATIC_CODE_PREFIX}{token}")
    }

    pub(crate) fn code_url_of_token(&self, token: &str) -> String {
        format!("{CODE_URL_PREFIX}{token}")
    }

    /// Whether a scanned code is a merchant's static code (the person enters the amount).
    pub fn is_static_code(code_url: &str) -> bool {
        code_url.starts_with(STATIC_CODE_PREFIX)
    }

    /// The page a phone browser opens to pay an H5 order.
    pub fn h5_url(&self, order: &Order) -> String {
        format!("{}/pay/h5?prepay_id={}", self.core.config.public_url.trim_end_matches('/'), self.prepay_id(order))
    }
}
