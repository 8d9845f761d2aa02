//! WeChat Pay API v3 wire primitives, so merchants' unmodified SDKs can talk to Qianbao
//! (`shared/reference/wechatpay-v3.md` sections 2, 3 and 7):
//!
//! - [`Authorization`]: the `WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",
//!   timestamp="..",serial_no=".."` header, parsed whatever the order of its parameters (the SDKs
//!   differ), with every part bounded;
//! - [`request_message`] / [`response_message`]: the exact lines that get signed;
//! - [`SigningKey`] / [`VerifyingKey`]: RSASSA-PKCS1-v1_5 with SHA-256 through `aws-lc-rs` (constant-time
//!   private-key operations, as DESIGN.md requires; unlike `ring` it also generates RSA keys);
//! - [`certificate`]: a self-signed X.509 certificate for a platform key, as `/v3/certificates` serves;
//! - [`time`]: RFC 3339 times as the API writes them (`2018-06-08T10:34:56+08:00`);
//! - [`aead_encrypt`] / [`aead_decrypt`]: AEAD_AES_256_GCM as notifications and certificates use it;
//! - [`base64`]: the standard alphabet with padding.
//!
//! Pure: no I/O.

pub mod base64;
mod der;
mod notification;
pub mod time;
pub mod v2;

pub use notification::{NOTIFICATION_BYTES_MAX, Opened, open_notification};

pub use der::certificate;

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
    /// A notification's body is not the documented envelope (names the problem).
    Notification(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Header(m) => write!(f, "Authorization header: {m}"),
            WireError::Key(m) => write!(f, "key: {m}"),
            WireError::BadSignature => write!(f, "signature does not match"),
            WireError::Decrypt(m) => write!(f, "decryption failed: {m}"),
            WireError::Notification(m) => write!(f, "notification: {m}"),
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

/// A response's signing message (`timestamp\nnonce\nbody\n`) hashed as its body is written, for a body
/// too large to hold in memory (a bill of a million lines): `SigningKey::sign_streamed` signs it, and the
/// signature is the one `sign(&response_message(..))` gives for the same bytes.
pub struct StreamedMessage(aws_lc_rs::digest::Context);

impl StreamedMessage {
    pub fn new(timestamp: i64, nonce: &str) -> StreamedMessage {
        let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        digest.update(format!("{timestamp}\n{nonce}\n").as_bytes());
        StreamedMessage(digest)
    }

    /// The next bytes of the body.
    pub fn update(&mut self, body: &[u8]) {
        self.0.update(body);
    }
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

/// PEM armour: base64 in 64-character lines between BEGIN and END lines of the label.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let text = base64::encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// An RSA private key that signs (the platform's, or a merchant's in tests and tools).
pub struct SigningKey(aws_lc_rs::signature::RsaKeyPair);

impl SigningKey {
    /// A fresh RSA-2048 key from the OS random source.
    pub fn generate() -> SigningKey {
        aws_lc_rs::signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map(SigningKey).expect("RSA-2048 key generation works")
    }

    /// From a `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, WireError> {
        SigningKey::from_pkcs8_der(&pem_body(pem, "PRIVATE KEY")?)
    }

    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, WireError> {
        let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der).map_err(|e| WireError::Key(format!("not an RSA PKCS#8 key: {e}")))?;
        if key.public_modulus_len() < 256 {
            return Err(WireError::Key("RSA keys have at least 2048 bits".into()));
        }
        Ok(SigningKey(key))
    }

    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        AsDer::<Pkcs8V1Der>::as_der(&self.0).expect("an RSA key encodes as PKCS#8").as_ref().to_vec()
    }

    pub fn to_pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.to_pkcs8_der())
    }

    /// The public half as a SubjectPublicKeyInfo (DER).
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        use aws_lc_rs::signature::KeyPair;
        AsDer::<PublicKeyX509Der>::as_der(self.0.public_key()).expect("an RSA public key encodes as SPKI").as_ref().to_vec()
    }

    pub fn public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.public_key_spki_der())
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (deterministic: the same message always gives the same signature).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0u8; self.0.public_modulus_len()];
        self.0
            .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), message, &mut signature)
            .expect("signing with a valid key into a buffer of the modulus length succeeds");
        signature
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over a message hashed as it was written.
    pub fn sign_streamed(&self, message: StreamedMessage) -> Vec<u8> {
        let mut digest = message.0;
        digest.update(b"\n");
        let mut signature = vec![0u8; self.0.public_modulus_len()];
        self.0
            .sign_digest(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &digest.finish(), &mut signature)
            .expect("signing a SHA-256 digest with a valid key into a buffer of the modulus length succeeds");
        signature
    }
}

/// An RSA public key that verifies (a merchant's API key).
#[derive(Clone)]
pub struct VerifyingKey(Vec<u8>);

impl VerifyingKey {
    /// From a `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) PEM.
    pub fn from_spki_pem(pem: &str) -> Result<VerifyingKey, WireError> {
        VerifyingKey::from_spki_der(&pem_body(pem, "PUBLIC KEY")?)
    }

    pub fn from_spki_der(der: &[u8]) -> Result<VerifyingKey, WireError> {
        let key = der::rsa_public_key_from_spki(der).ok_or_else(|| WireError::Key("not an RSA SubjectPublicKeyInfo".into()))?;
        Ok(VerifyingKey(key))
    }

    /// From either a public key PEM or an X.509 certificate PEM (what a merchant's API certificate is):
    /// the key, its SubjectPublicKeyInfo (DER) and, from a certificate, its serial number (upper-case hex).
    pub fn from_pem(pem: &str) -> Result<(VerifyingKey, Vec<u8>, Option<String>), WireError> {
        if pem.contains("-----BEGIN CERTIFICATE-----") {
            let der = pem_body(pem, "CERTIFICATE")?;
            let (serial, spki) = der::certificate_serial_and_spki(&der).ok_or_else(|| WireError::Key("not an X.509 certificate".into()))?;
            Ok((VerifyingKey::from_spki_der(spki)?, spki.to_vec(), Some(serial)))
        } else {
            let spki = pem_body(pem, "PUBLIC KEY")?;
            Ok((VerifyingKey::from_spki_der(&spki)?, spki, None))
        }
    }

    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), WireError> {
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, &self.0)
            .verify(message, signature)
            .map_err(|_| WireError::BadSignature)
    }
}

fn aead_key(key: &[u8]) -> Result<aws_lc_rs::aead::LessSafeKey, WireError> {
    if key.len() != 32 {
        return Err(WireError::Decrypt("the APIv3 key is 32 bytes".into()));
    }
    let unbound = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, key).map_err(|_| WireError::Decrypt("bad key".into()))?;
    Ok(aws_lc_rs::aead::LessSafeKey::new(unbound))
}

fn aead_nonce(nonce: &[u8]) -> Result<aws_lc_rs::aead::Nonce, WireError> {
    aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| WireError::Decrypt("the nonce is 12 bytes".into()))
}

/// AEAD_AES_256_GCM: ciphertext followed by the 16-byte tag. The caller never reuses a nonce with a key.
pub fn aead_encrypt(key: &[u8], nonce: &[u8], associated_data: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut data = plaintext.to_vec();
    aead_key(key)?
        .seal_in_place_append_tag(aead_nonce(nonce)?, aws_lc_rs::aead::Aad::from(associated_data), &mut data)
        .map_err(|_| WireError::Decrypt("encryption failed".into()))?;
    Ok(data)
}

/// The inverse of [`aead_encrypt`]; fails if anything (ciphertext, tag, nonce, associated data) changed.
pub fn aead_decrypt(key: &[u8], nonce: &[u8], associated_data: &[u8], ciphertext_and_tag: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut data = ciphertext_and_tag.to_vec();
    let plain = aead_key(key)?
        .open_in_place(aead_nonce(nonce)?, aws_lc_rs::aead::Aad::from(associated_data), &mut data)
        .map_err(|_| WireError::Decrypt("authentication failed".into()))?;
    Ok(plain.to_vec())
}

/// `n` random characters from `[0-9A-Za-z]` (nonces), from the OS random source, without modulo bias.
pub fn random_alphanumeric(n: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        random_fill(&mut buf);
        for b in buf {
            // 62 * 4 = 248: bytes at or above are dropped, the rest map uniformly.
            if b < 248 && out.len() < n {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    out
}

/// Fill with bytes from the OS random source.
pub fn random_fill(out: &mut [u8]) {
    use aws_lc_rs::rand::SecureRandom;
    aws_lc_rs::rand::SystemRandom::new().fill(out).expect("the OS random source works");
}
