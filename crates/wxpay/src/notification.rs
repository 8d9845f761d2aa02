//! A notification as a merchant receives it, opened: WeChat Pay v3's envelope
//! `{"id", "create_time", "event_type", "resource_type": "encrypt-resource", "summary", "resource":
//! {"algorithm": "AEAD_AES_256_GCM", "ciphertext", "nonce", "associated_data", "original_type"}}`,
//! whose resource is AES-256-GCM under the merchant's APIv3 key. (The signature headers are checked
//! apart, over the raw body, with [`crate::response_message`].)

use crate::{WireError, aead_decrypt, base64};

/// The largest notification body opened (WeChat's are a few KiB).
pub const NOTIFICATION_BYTES_MAX: usize = 64 * 1024;
/// The longest nonce and associated data accepted (WeChat's nonce is 12 characters, its data a word).
const FIELD_CHARS_MAX: usize = 256;

/// A notification's envelope and its decrypted resource (JSON text, as the platform encrypted it).
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub envelope: serde_json::Value,
    pub resource: Vec<u8>,
}

fn bad(message: &str) -> WireError {
    WireError::Notification(message.to_string())
}

/// Open a notification body with the merchant's APIv3 key (32 bytes).
pub fn open_notification(body: &[u8], apiv3_key: &[u8]) -> Result<Opened, WireError> {
    if body.len() > NOTIFICATION_BYTES_MAX {
        return Err(bad("larger than 64 KiB"));
    }
    let envelope: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    if envelope["resource_type"] != "encrypt-resource" {
        return Err(bad("resource_type is not encrypt-resource"));
    }
    let resource = &envelope["resource"];
    if resource["algorithm"] != "AEAD_AES_256_GCM" {
        return Err(bad("resource.algorithm is not AEAD_AES_256_GCM"));
    }
    let field = |name: &str| -> Result<&str, WireError> {
        let v = resource[name].as_str().ok_or_else(|| bad(&format!("resource.{name} is missing")))?;
        if v.len() > FIELD_CHARS_MAX && name != "ciphertext" {
            return Err(bad(&format!("resource.{name} is longer than {FIELD_CHARS_MAX} characters")));
        }
        Ok(v)
    };
    let ciphertext = base64::decode(field("ciphertext")?).ok_or_else(|| bad("resource.ciphertext is not base64"))?;
    let associated_data = resource["associated_data"].as_str().unwrap_or("");
    if associated_data.len() > FIELD_CHARS_MAX {
        return Err(bad("resource.associated_data is too long"));
    }
    let plain = aead_decrypt(apiv3_key, field("nonce")?.as_bytes(), associated_data.as_bytes(), &ciphertext)?;
    Ok(Opened { envelope, resource: plain })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aead_encrypt;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn sealed(plain: &str, nonce: &str, associated: &str) -> String {
        let c = base64::encode(&aead_encrypt(KEY, nonce.as_bytes(), associated.as_bytes(), plain.as_bytes()).unwrap());
        serde_json::json!({"id": "EV-1", "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource",
            "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": c, "nonce": nonce, "associated_data": associated, "original_type": "transaction"}})
        .to_string()
    }

    #[test]
    fn a_sealed_notification_opens_to_its_resource() {
        let opened = open_notification(sealed(r#"{"trade_state":"SUCCESS"}"#, "abcdefghijkl", "transaction").as_bytes(), KEY).unwrap();
        assert_eq!(opened.resource, br#"{"trade_state":"SUCCESS"}"#);
        assert_eq!(opened.envelope["event_type"], "TRANSACTION.SUCCESS");
    }

    #[test]
    fn a_tampered_notification_or_another_key_does_not_open() {
        let body = sealed("{}", "abcdefghijkl", "transaction");
        assert!(open_notification(body.replace("\"transaction\",", "\"refund\",").as_bytes(), KEY).is_err(), "associated data changed");
        assert!(open_notification(body.as_bytes(), b"another key, 32 bytes long......").is_err());
        assert!(open_notification(b"{}", KEY).is_err());
        assert!(open_notification(&vec![b' '; NOTIFICATION_BYTES_MAX + 1], KEY).is_err());
    }
}
