//! EMVCo consumer-presented mode (CPM): the code a wallet shows and a merchant scans. The payload is
//! BER-TLV (EMV tags) encoded in base64; there is no CRC (integrity comes from the application
//! cryptogram in tag 9F26).
//!
//! Layout: `85` payload format indicator ("CPV01") first, then one or more `61` application templates
//! (`4F` AID, `50` label, `5A` PAN or token, ...), an optional `62` common data template, and `63` /
//! `64` transparent templates holding `9F26` cryptogram, `9F36` ATC, `9F37` unpredictable number.
//!
//! [`parse`] reads any CPM payload into its tag tree; [`Tlv::encode`] and [`build`] write one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// The longest CPM payload read here (base64 characters): a QR code's byte capacity at level M is
/// about 2,300, but real CPM payloads are under 200.
pub const CPM_CHARS_MAX: usize = 1024;
/// Templates nest at most this deep (61 > 63 > ...): a bound, so a hostile payload cannot recurse.
const DEPTH_MAX: usize = 4;
/// The payload format indicator's value.
pub const FORMAT_INDICATOR: &[u8] = b"CPV01";

/// One BER-TLV object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The tag as its bytes read big-endian (`0x9F26`, `0x61`).
    pub tag: u32,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Primitive(Vec<u8>),
    Constructed(Vec<Tlv>),
}

/// Why a CPM payload cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpmError {
    TooLong {
        chars: usize,
    },
    NotBase64,
    /// At byte `at`: a tag or a length cut short, a length past the end, or nesting too deep.
    Malformed {
        at: usize,
        why: &'static str,
    },
    /// The first object is not `85` with "CPV01".
    NoFormatIndicator,
    /// No `61` application template.
    NoApplication,
}

impl fmt::Display for CpmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpmError::TooLong { chars } => write!(f, "the payload has {chars} characters, more than {CPM_CHARS_MAX}"),
            CpmError::NotBase64 => f.write_str("a consumer-presented payload is base64 (standard alphabet, padded)"),
            CpmError::Malformed { at, why } => write!(f, "at byte {at}: {why}"),
            CpmError::NoFormatIndicator => f.write_str("the first object must be 85 with the value CPV01"),
            CpmError::NoApplication => f.write_str("a consumer-presented payload holds at least one 61 application template"),
        }
    }
}

impl std::error::Error for CpmError {}

impl Tlv {
    pub fn primitive(tag: u32, value: impl Into<Vec<u8>>) -> Tlv {
        Tlv { tag, value: Value::Primitive(value.into()) }
    }

    pub fn constructed(tag: u32, children: Vec<Tlv>) -> Tlv {
        Tlv { tag, value: Value::Constructed(children) }
    }

    /// The first child with `tag` (for a constructed object).
    pub fn child(&self, tag: u32) -> Option<&Tlv> {
        match &self.value {
            Value::Constructed(children) => children.iter().find(|c| c.tag == tag),
            Value::Primitive(_) => None,
        }
    }

    /// A primitive value's bytes.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Primitive(b) => Some(b),
            Value::Constructed(_) => None,
        }
    }

    /// DER-style: the shortest length form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let tag = self.tag.to_be_bytes();
        let first = tag.iter().position(|b| *b != 0).unwrap_or(3);
        out.extend_from_slice(&tag[first..]);
        let mut value = Vec::new();
        match &self.value {
            Value::Primitive(b) => value.extend_from_slice(b),
            Value::Constructed(children) => children.iter().for_each(|c| c.encode(&mut value)),
        }
        match value.len() {
            n @ 0..=0x7F => out.push(n as u8),
            n @ 0x80..=0xFF => out.extend_from_slice(&[0x81, n as u8]),
            n => {
                assert!(n <= 0xFFFF, "a CPM object is under 64 KiB");
                out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
            }
        }
        out.extend_from_slice(&value);
    }
}

/// A tag is constructed when bit 6 of its first byte is set.
fn constructed(tag: u32) -> bool {
    let first = tag.to_be_bytes().into_iter().find(|b| *b != 0).unwrap_or(0);
    first & 0x20 != 0
}

/// Read BER-TLV objects from `bytes` (tags up to three bytes, lengths up to 0x82 form).
pub fn decode_ber(bytes: &[u8]) -> Result<Vec<Tlv>, CpmError> {
    decode_at(bytes, 0, 0)
}

fn decode_at(bytes: &[u8], base: usize, depth: usize) -> Result<Vec<Tlv>, CpmError> {
    if depth > DEPTH_MAX {
        return Err(CpmError::Malformed { at: base, why: "templates nest too deep" });
    }
    let (mut at, mut out) = (0usize, Vec::new());
    while at < bytes.len() {
        let start = at;
        let byte = |i: usize, why| bytes.get(i).copied().ok_or(CpmError::Malformed { at: base + i, why });
        let mut tag = u32::from(byte(at, "a tag")?);
        at += 1;
        if tag & 0x1F == 0x1F {
            loop {
                let b = byte(at, "a tag's next byte")?;
                tag = (tag << 8) | u32::from(b);
                at += 1;
                if b & 0x80 == 0 {
                    break;
                }
                if at - start >= 3 {
                    return Err(CpmError::Malformed { at: base + at, why: "a tag is at most three bytes" });
                }
            }
        }
        let len = match byte(at, "a length")? {
            n @ 0..=0x7F => {
                at += 1;
                usize::from(n)
            }
            0x81 => {
                at += 2;
                usize::from(byte(at - 1, "a length")?)
            }
            0x82 => {
                at += 3;
                usize::from(byte(at - 2, "a length")?) << 8 | usize::from(byte(at - 1, "a length")?)
            }
            _ => return Err(CpmError::Malformed { at: base + at, why: "a length is one to three bytes (up to 82 xx xx)" }),
        };
        let value = bytes.get(at..at + len).ok_or(CpmError::Malformed { at: base + at, why: "the value is shorter than its length" })?;
        let value =
            if constructed(tag) { Value::Constructed(decode_at(value, base + at, depth + 1)?) } else { Value::Primitive(value.to_vec()) };
        out.push(Tlv { tag, value });
        at += len;
    }
    Ok(out)
}

/// Read a CPM payload (base64): its objects, with the format indicator first and an application.
pub fn parse(payload: &str) -> Result<Vec<Tlv>, CpmError> {
    let chars = payload.chars().count();
    if chars > CPM_CHARS_MAX {
        return Err(CpmError::TooLong { chars });
    }
    let bytes = STANDARD.decode(payload.trim()).map_err(|_| CpmError::NotBase64)?;
    let objects = decode_ber(&bytes)?;
    match objects.first() {
        Some(first) if first.tag == 0x85 && first.bytes() == Some(FORMAT_INDICATOR) => {}
        _ => return Err(CpmError::NoFormatIndicator),
    }
    if !objects.iter().any(|o| o.tag == 0x61) {
        return Err(CpmError::NoApplication);
    }
    Ok(objects)
}

/// Whether `payload` looks like a CPM code (base64 whose first byte is tag 85), before a full parse.
pub fn looks_like(payload: &str) -> bool {
    payload.starts_with("hQ")
}

/// The base64 payload of `objects` (which should start with the format indicator).
pub fn build(objects: &[Tlv]) -> String {
    let mut bytes = Vec::new();
    objects.iter().for_each(|o| o.encode(&mut bytes));
    STANDARD.encode(bytes)
}

/// Digits packed two per byte (BCD), padded with F when odd, as EMV stores a PAN (tag 5A).
pub fn bcd(digits: &str) -> Vec<u8> {
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "BCD holds digits");
    let mut nibbles: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    if nibbles.len() % 2 == 1 {
        nibbles.push(0xF);
    }
    nibbles.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// The digits of a BCD value (F padding dropped); `None` when a nibble is not a digit.
pub fn digits_of_bcd(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len() * 2);
    for (i, b) in bytes.iter().enumerate() {
        for (j, n) in [b >> 4, b & 0xF].into_iter().enumerate() {
            match n {
                0..=9 => out.push(char::from(b'0' + n)),
                0xF if i == bytes.len() - 1 && j == 1 => {}
                _ => return None,
            }
        }
    }
    Some(out)
}

/// Upper-case hex of bytes (how tags' values are shown).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mvallim/emv-qrcode's ConsumerPresentedModeTest vector (also in dongri/emv-qrcode's README).
    const SAMPLE: &str = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==";

    #[test]
    fn the_published_sample_decodes_into_its_applications_and_cryptogram() {
        let objects = parse(SAMPLE).unwrap();
        let tags: Vec<u32> = objects.iter().map(|o| o.tag).collect();
        assert_eq!(tags, vec![0x85, 0x61, 0x61, 0x62]);
        assert_eq!(hex(objects[1].child(0x4F).unwrap().bytes().unwrap()), "A0000000555555");
        assert_eq!(objects[2].child(0x50).unwrap().bytes().unwrap(), b"Product2");
        let common = &objects[3];
        assert_eq!(digits_of_bcd(common.child(0x5A).unwrap().bytes().unwrap()).unwrap(), "1234567890123458");
        assert_eq!(common.child(0x5F20).unwrap().bytes().unwrap(), b"CARDHOLDER/EMV");
        let transparent = common.child(0x64).unwrap();
        assert_eq!(hex(transparent.child(0x9F26).unwrap().bytes().unwrap()), "584FD385FA234BCC");
        assert_eq!(hex(transparent.child(0x9F37).unwrap().bytes().unwrap()), "6D58EF13");
    }

    #[test]
    fn building_the_decoded_sample_gives_the_same_payload() {
        assert_eq!(build(&parse(SAMPLE).unwrap()), SAMPLE);
    }

    #[test]
    fn a_format_indicator_alone_is_no_payment_code() {
        assert_eq!(decode_ber(&STANDARD.decode("hQVDUFYwMQ==").unwrap()).unwrap(), vec![Tlv::primitive(0x85, FORMAT_INDICATOR)]);
        assert_eq!(parse("hQVDUFYwMQ=="), Err(CpmError::NoApplication));
    }

    #[test]
    fn hostile_payloads_are_refused_with_where() {
        assert_eq!(parse("not base64!"), Err(CpmError::NotBase64));
        assert!(matches!(parse(&STANDARD.encode([0x85, 0x09, b'C'])), Err(CpmError::Malformed { at: 2, .. })));
        let deep = (0..8).fold(vec![0x85, 0x05, b'C', b'P', b'V', b'0', b'1'], |inner, _| {
            let mut v = vec![0x61, inner.len() as u8];
            v.extend(inner);
            v
        });
        assert!(matches!(decode_ber(&deep), Err(CpmError::Malformed { why: "templates nest too deep", .. })));
        assert_eq!(parse(&STANDARD.encode([0x61, 0x00])), Err(CpmError::NoFormatIndicator));
    }

    #[test]
    fn bcd_packs_two_digits_a_byte_and_pads_an_odd_count() {
        assert_eq!(bcd("1234567890123458"), vec![0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x58]);
        assert_eq!(bcd("135"), vec![0x13, 0x5F]);
        assert_eq!(digits_of_bcd(&[0x13, 0x5F]).unwrap(), "135");
        assert_eq!(digits_of_bcd(&[0x1A]), None);
    }
}
