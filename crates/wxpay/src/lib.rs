//! WeChat Pay API v3 wire primitives, so merchants' unmodified SDKs can talk to Qianbao
//! (`shared/reference/wechatpay-v3.md` sections 2, 3 and 7):
//!
//! - [`Authorization`]: the `WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",
//!   timestamp="..",serial_no=".."` header, parsed whatever the order of its parameters (the SDKs
//!   differ), with every part bounded;
//! - [`request_message`] / [`response_message`]: the exact lines that get signed;
//! - [`SigningKey`] / [`VerifyingKey`]: RSASSA-PKCS1-v1_5 with SHA-256 through `ring` (constant-time
//!   private-key operations, as DESIGN.md requires);
//! - [`aead_encrypt`] / [`aead_decrypt`]: AEAD_AES_256_GCM as notifications and certificates use it;
//! - [`base64`]: the standard alphabet with padding.
//!
//! Pure: no I/O.

pub mod base64;
mod der;

use std::fmt;

/// Why a header, key, signature or ciphertext was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The Authorization header is malformed (names the problem).
    Header(String),
    /// A key is not what it should be (PEM, PKCS#8, SubjectPublicKeyInfo, RSA).
    Key(String),
    /// The signature does not match (or is not base64).
    BadSignature,
    /// Authentication of ciphertext failed, or the key/nonce has the wrong size.
    Decrypt(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Header(m) => write!(f, "Authorization header: {m}"),
            WireError::Key(m) => write!(f, "key: {m}"),
            WireError::BadSignature => write!(f, "signature does not match"),
            WireError::Decrypt(m) => write!(f, "decryption failed: {m}"),
        }
    }
}

impl std::error::Error for WireError {}

/// The scheme every request signature names.
pub const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// The longest Authorization header accepted (a 2048-bit signature is 344 base64 characters).
pub const HEADER_BYTES_MAX: usize = 2048;
/// The longest value of one parameter (a nonce, a serial number, a merchant id ...).
const VALUE_CHARS_MAX: usize = 64;

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub mchid: String,
    pub nonce: String,
    pub timestamp: i64,
    /// Upper-cased (SDKs send either case).
    pub serial_no: String,
    /// Raw signature bytes.
    pub signature: Vec<u8>,
}

impl Authorization {
    pub fn parse(header: &str) -> Result<Authorization, WireError> {
        let bad = |m: &str| WireError::Header(m.to_string());
        if header.len() > HEADER_BYTES_MAX {
            return Err(bad("too long"));
        }
        let rest = header
            .strip_prefix(SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad("the scheme must be WECHATPAY2-SHA256-RSA2048"))?;
        let (mut mchid, mut nonce, mut timestamp, mut serial, mut signature) = (None, None, None, None, None);
        for part in rest.split(',') {
            let (key, value) = part.trim().split_once('=').ok_or_else(|| bad("parameters are key=\"value\" pairs"))?;
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or_else(|| bad("parameter values are quoted"))?;
            let slot = match key {
                "mchid" => &mut mchid,
                "nonce_str" => &mut nonce,
                "timestamp" => &mut timestamp,
                "serial_no" => &mut serial,
                "signature" => &mut signature,
                _ => return Err(bad(&format!("unknown parameter {:?}", key.chars().take(20).collect::<String>()))),
            };
            if slot.replace(value).is_some() {
                return Err(bad("a parameter appears twice"));
            }
        }
        let simple = |name: &str, v: Option<&str>| -> Result<String, WireError> {
            let v = v.ok_or_else(|| bad(&format!("{name} is missing")))?;
            if v.is_empty() || v.len() > VALUE_CHARS_MAX || !v.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
                return Err(bad(&format!("{name} must be 1 to {VALUE_CHARS_MAX} printable characters")));
            }
            Ok(v.to_string())
        };
        let mchid = simple("mchid", mchid)?;
        let nonce = simple("nonce_str", nonce)?;
        let serial_no = simple("serial_no", serial)?.to_ascii_uppercase();
        let timestamp = simple("timestamp", timestamp)?;
        let timestamp: i64 = timestamp
            .parse()
            .ok()
            .filter(|t| *t > 0 && timestamp.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad("timestamp must be Unix seconds"))?;
        let signature =
            base64::decode(signature.ok_or_else(|| bad("signature is missing"))?).ok_or_else(|| bad("signature is not base64"))?;
        Ok(Authorization { mchid, nonce, timestamp, serial_no, signature })
    }

    /// The header as the Go and Node SDKs write it.
    pub fn to_header(&self) -> String {
        format!(
            "{SCHEME} mchid=\"{}\",nonce_str=\"{}\",timestamp=\"{}\",serial_no=\"{}\",signature=\"{}\"",
            self.mchid,
            self.nonce,
            self.timestamp,
            self.serial_no,
            base64::encode(&self.signature)
        )
    }
}

/// What a request signature covers: method, request target (path and query exactly as on the request
/// line), timestamp, nonce, body; every line ends with `\n`.
pub fn request_message(method: &str, target: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{method}\n{target}\n{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// What a response (or notification) signature covers: timestamp, nonce, body; every line ends with `\n`.
pub fn response_message(timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// The body of a PEM block of the given label.
pub fn pem_body(pem: &str, label: &str) -> Result<Vec<u8>, WireError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or_else(|| WireError::Key(format!("no {begin}")))? + begin.len();
    let stop = pem[start..].find(&end).ok_or_else(|| WireError::Key(format!("no {end}")))? + start;
    let text: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::decode(&text).ok_or_else(|| WireError::Key("PEM body is not base64".into()))
}

/// An RSA private key that signs (the platform's, or a merchant's in tests and tools).
pub struct SigningKey(ring::signature::RsaKeyPair);

impl SigningKey {
    /// From a `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, WireError> {
        let der = pem_body(pem, "PRIVATE KEY")?;
        ring::signature::RsaKeyPair::from_pkcs8(&der).map(SigningKey).map_err(|e| WireError::Key(format!("not an RSA PKCS#8 key: {e}")))
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (deterministic: the same message always gives the same signature).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0u8; self.0.public().modulus_len()];
        self.0
            .sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), message, &mut signature)
            .expect("signing with a valid key into a buffer of the modulus length succeeds");
        signature
    }
}

/// An RSA public key that verifies (a merchant's API key).
#[derive(Clone)]
pub struct VerifyingKey(Vec<u8>);

impl VerifyingKey {
    /// From a `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) PEM.
    pub fn from_spki_pem(pem: &str) -> Result<VerifyingKey, WireError> {
        let der = pem_body(pem, "PUBLIC KEY")?;
        der::rsa_public_key_from_spki(&der).map(VerifyingKey).ok_or_else(|| WireError::Key("not an RSA SubjectPublicKeyInfo".into()))
    }

    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), WireError> {
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &self.0)
            .verify(message, signature)
            .map_err(|_| WireError::BadSignature)
    }
}

fn aead_key(key: &[u8]) -> Result<ring::aead::LessSafeKey, WireError> {
    if key.len() != 32 {
        return Err(WireError::Decrypt("the APIv3 key is 32 bytes".into()));
    }
    let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key).map_err(|_| WireError::Decrypt("bad key".into()))?;
    Ok(ring::aead::LessSafeKey::new(unbound))
}

fn aead_nonce(nonce: &[u8]) -> Result<ring::aead::Nonce, WireError> {
    ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| WireError::Decrypt("the nonce is 12 bytes".into()))
}

/// AEAD_AES_256_GCM: ciphertext followed by the 16-byte tag. The caller never reuses a nonce with a key.
pub fn aead_encrypt(key: &[u8], nonce: &[u8], associated_data: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut data = plaintext.to_vec();
    aead_key(key)?
        .seal_in_place_append_tag(aead_nonce(nonce)?, ring::aead::Aad::from(associated_data), &mut data)
        .map_err(|_| WireError::Decrypt("encryption failed".into()))?;
    Ok(data)
}

/// The inverse of [`aead_encrypt`]; fails if anything (ciphertext, tag, nonce, associated data) changed.
pub fn aead_decrypt(key: &[u8], nonce: &[u8], associated_data: &[u8], ciphertext_and_tag: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut data = ciphertext_and_tag.to_vec();
    let plain = aead_key(key)?
        .open_in_place(aead_nonce(nonce)?, ring::aead::Aad::from(associated_data), &mut data)
        .map_err(|_| WireError::Decrypt("authentication failed".into()))?;
    Ok(plain.to_vec())
}
