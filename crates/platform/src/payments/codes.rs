//! Payment codes: a wallet shows a one-time code (18 digits, a minute, one order); the merchant scans it
//! (`codepay`). At or below the no-PIN threshold the order is paid at once; above, it waits
//! (USERPAYING) for the person's PIN in the wallet. A merchant may reverse a payment-code order.

use super::refunds::NewRefund;
use super::{NewOrder, Order, PayOrder, Payments, TradeState, TradeType, store};
use crate::merchants::MerchantAuth;
use crate::{Conflict, MerchantId, PersonId, PlatformError, Result, crypto};
use serde::Serialize;

/// How long a payment code shown by a wallet stays valid (WeChat's codes refresh every minute).
pub const PAYMENT_CODE_TTL_MS: i64 = 60_000;
/// How long a payment-code order waits for the person's PIN before it closes.
pub const USERPAYING_TTL_MS: i64 = 5 * 60_000;
/// Expired codes are kept this long after expiry (a late scan is told it expired), then purged.
const CODE_KEPT_MS: i64 = 86_400_000;

/// A one-time payment code for a merchant to scan.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentCode {
    /// 18 digits; 13… for mainland wallets, 15… for Hong Kong ones (WeChat's prefixes 10–15).
    pub code: String,
    /// The same code as an EMVCo consumer-presented payload (base64 BER-TLV), for card-scheme QR
    /// terminals; `codepay` takes either as `auth_code`.
    pub emv_cpm: String,
    pub expires_at_ms: i64,
}

/// Qianbao's application identifier in consumer-presented codes: a proprietary AID (ISO 7816-5: an
/// AID starting with F is not registered), F0 followed by "QIANBAO".
pub const CPM_AID: [u8; 8] = [0xF0, b'Q', b'I', b'A', b'N', b'B', b'A', b'O'];

impl Payments {
    /// The CPM payload of a payment code: 85 "CPV01", then the application template 61 with the AID
    /// (4F), the label (50), the code as the token PAN (5A, BCD) and the transparent template 64 with
    /// the cryptogram (9F26: 8 bytes of the server's MAC over the code) and the counter (9F36).
    pub fn cpm_of(&self, code: &str) -> String {
        use emvqr::cpm::{Tlv, bcd, build};
        let cryptogram = self.core.mac_raw(format!("cpm\n{code}").as_bytes())[..8].to_vec();
        let application = Tlv::constructed(
            0x61,
            vec![
                Tlv::primitive(0x4F, CPM_AID.to_vec()),
                Tlv::primitive(0x50, b"QIANBAO".to_vec()),
                Tlv::primitive(0x5A, bcd(code)),
                Tlv::constructed(0x64, vec![Tlv::primitive(0x9F26, cryptogram), Tlv::primitive(0x9F36, vec![0, 1])]),
            ],
        );
        build(&[Tlv::primitive(0x85, emvqr::cpm::FORMAT_INDICATOR.to_vec()), application])
    }

    /// The payment code a CPM payload carries, if it is Qianbao's and its cryptogram verifies.
    pub fn code_of_cpm(&self, payload: &str) -> Option<String> {
        let objects = emvqr::cpm::parse(payload).ok()?;
        let app = objects.iter().find(|o| o.tag == 0x61 && o.child(0x4F).and_then(|a| a.bytes()) == Some(&CPM_AID[..]))?;
        let code = emvqr::cpm::digits_of_bcd(app.child(0x5A)?.bytes()?)?;
        let cryptogram = app.child(0x64)?.child(0x9F26)?.bytes()?;
        let expected = &self.core.mac_raw(format!("cpm\n{code}").as_bytes())[..8];
        (valid_payment_code(&code) && crypto::constant_time_eq(expected, cryptogram)).then_some(code)
    }
}

/// `^1[0-5][0-9]{16}$`, what merchants' POS software accepts.
pub fn valid_payment_code(code: &str) -> bool {
    code.len() == 18 && code.bytes().all(|b| b.is_ascii_digit()) && code.starts_with('1') && (b'0'..=b'5').contains(&code.as_bytes()[1])
}

/// How often a reversal is tried when the order was paid while it was being reversed.
const REVERSE_TRIES_MAX: usize = 3;

impl Payments {
    /// A fresh one-time payment code for the person (each lives a minute and pays one order).
    pub async fn issue_payment_code(&self, person: PersonId) -> Result<PaymentCode> {
        let region = self.people.person(person).await?.region;
        let prefix = if region == "HK" { "15" } else { "13" };
        let now = self.core.now_ms();
        let expires_at = now + PAYMENT_CODE_TTL_MS;
        for _ in 0..4 {
            let code = format!("{prefix}{:08}{:08}", crypto::random_in(0, 99_999_999), crypto::random_in(0, 99_999_999));
            debug_assert!(valid_payment_code(&code));
            let c = code.clone();
            if self.core.write(move |conn| store::insert_code(conn, &c, person, now, expires_at)).await? {
                return Ok(PaymentCode { emv_cpm: self.cpm_of(&code), code, expires_at_ms: expires_at });
            }
        }
        Err(PlatformError::Internal("no free payment code after four tries".into()))
    }

    /// The merchant scanned a payment code: the order is the code's person's to pay. `sp` is the
    /// institution acting for its sub-merchant, when one does.
    pub async fn charge_payment_code(
        &self,
        merchant: &MerchantAuth,
        sp: Option<&MerchantAuth>,
        mut new: NewOrder,
        auth_code: &str,
    ) -> Result<Order> {
        // A consumer-presented EMV payload stands for the code it carries.
        let from_cpm = emvqr::cpm::looks_like(auth_code).then(|| self.code_of_cpm(auth_code)).flatten();
        let auth_code = from_cpm.as_deref().unwrap_or(auth_code);
        if !valid_payment_code(auth_code) {
            return Err(PlatformError::invalid("payer.auth_code", "18 digits starting 10 to 15, or Qianbao's EMV consumer-presented code"));
        }
        let (code, now) = (auth_code.to_string(), self.core.now_ms());
        let invalid = || PlatformError::invalid("payer.auth_code", "this payment code is unknown, used or expired: ask for a fresh one");
        let (person, expires_at, used_by) = self.core.read(move |c| store::code(c, &code)).await?.ok_or_else(invalid)?;
        new.trade_type = TradeType::Micropay;
        new.payer_openid = Some(self.merchants.openid(&new.appid, person));
        new.time_expire_s = None;
        new.sub_appid = None;
        // A retried request (same out_trade_no) finds its order; anything else needs a fresh, unused code.
        if let Ok(existing) = self.order_by_out_trade_no(merchant.merchant.id, &new.out_trade_no).await
            && used_by == Some(existing.id)
        {
            return Ok(existing);
        }
        if used_by.is_some() || expires_at <= now {
            return Err(invalid());
        }
        let order = self.create_order(merchant, sp, new).await?;
        let (code, order_id) = (auth_code.to_string(), order.id);
        if !self.core.write(move |c| store::bind_code(c, &code, order_id, now)).await? {
            self.close_order(merchant.merchant.id, &order.out_trade_no).await?;
            return Err(invalid());
        }
        // The threshold is in minor units of the person's home currency: an order in another currency
        // (a yen has no decimals) always asks for the PIN.
        let region = self.people.person(person).await?.region;
        let home = self.core.config.region(&region).map(|r| r.home_currency);
        if home == Some(order.currency) && order.total_minor <= self.core.config.no_pin_threshold_minor {
            // The payment's key is the order's: a retried codepay is the same attempt.
            let key = format!("codepay-{}", order.id);
            return match self
                .pay_order(person, order.clone(), PayOrder { pin: None, card: None, balance_currency: None, quote: None }, Some(&key))
                .await
            {
                Ok(paid) => Ok(paid),
                Err(e) => {
                    self.close_order(merchant.merchant.id, &order.out_trade_no).await?;
                    Err(e)
                }
            };
        }
        let deadline = now + USERPAYING_TTL_MS;
        self.core.write(move |c| store::set_user_paying(c, order_id, deadline)).await?;
        self.order(order.id).await
    }

    /// Payment-code orders waiting for this person's PIN.
    pub async fn orders_awaiting_pin(&self, person: PersonId) -> Result<Vec<Order>> {
        self.core.read(move |c| store::awaiting_pin(c, person)).await
    }

    /// Reverse a payment-code order: unpaid, it is revoked; paid, it is refunded in full and revoked.
    pub async fn reverse_order(&self, merchant: MerchantId, out_trade_no: &str) -> Result<Order> {
        // The person may enter the PIN while the order is being reversed: once more then refunds it.
        for _ in 0..REVERSE_TRIES_MAX {
            let reversed = self.reverse_once(merchant, out_trade_no).await?;
            if reversed.trade_state != TradeState::Success {
                return Ok(reversed);
            }
        }
        Err(PlatformError::Unavailable)
    }

    async fn reverse_once(&self, merchant: MerchantId, out_trade_no: &str) -> Result<Order> {
        let order = self.order_by_out_trade_no(merchant, out_trade_no).await?;
        if order.trade_type != TradeType::Micropay {
            return Err(PlatformError::conflict(
                Conflict::InvalidRequest,
                "only payment-code orders are reversed; close or refund this one",
            ));
        }
        if order.paid() && order.refunded_minor < order.total_minor {
            let refund = NewRefund {
                sp_merchant_id: order.sp_merchant_id,
                transaction_id: None,
                out_trade_no: Some(order.out_trade_no.clone()),
                out_refund_no: format!("REVERSE-{}", order.out_trade_no),
                reason: Some("reversed".into()),
                notify_url: None,
                refund_minor: order.total_minor - order.refunded_minor,
                total_minor: order.total_minor,
                currency: order.currency.code().to_string(),
            };
            self.refund_order(merchant, refund).await?;
        }
        let (id, now) = (order.id, self.core.now_ms());
        self.core.write(move |c| store::revoke(c, id, now)).await?;
        self.order(order.id).await
    }

    /// Forget codes long expired, a bounded number.
    pub(crate) async fn purge_codes(&self, limit: i64) -> Result<u64> {
        let before = self.core.now_ms() - CODE_KEPT_MS;
        self.core.write(move |c| store::purge_codes(c, before, limit)).await
    }
}
