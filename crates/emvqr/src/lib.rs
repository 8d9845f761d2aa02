//! EMVCo QR Code Specification for Payment Systems, merchant-presented mode (MPM): the payload that
//! national fast-payment schemes (HK FPS, SG PayNow, TH PromptPay, BR Pix, ID QRIS, VN VietQR) and
//! card networks print at the counter.
//!
//! Three layers, kept apart because real codes break the strict rules (PromptPay codes without a
//! merchant name, Pix codes with amount "0"):
//! - [`parse`] is lenient: it walks the ID-length-value objects (lengths count characters, not bytes),
//!   keeps every ID in its order, unknown and RFU ones included, and checks the CRC.
//! - [`validate`] is strict: every refusal names the field and the rule ([`Refusal`]).
//! - [`Payload::build`] writes the objects in canonical order (IDs ascending, 63 last) with the CRC.
//! - [`schemes`] decodes the merchant account templates of the national schemes (FPS, PayNow,
//!   PromptPay, Pix, QRIS) into their fields.
//!
//! The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over the UTF-8 bytes of everything up to
//! and including "6304", written as four upper-case hex digits.

pub mod cpm;
mod schemes;

pub use schemes::{Scheme, schemes};

use std::fmt;

/// The longest payload a QR code carries here (characters), as schemes commonly bound it.
pub const PAYLOAD_CHARS_MAX: usize = 512;
/// Templates nest one level: a template's value holds objects, whose values are plain.
const TEMPLATE_IDS: [std::ops::RangeInclusive<u8>; 4] = [26..=51, 62..=62, 64..=64, 80..=99];

const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// The CRC of a payload's body (everything up to and including "6304").
pub fn crc16(body: &str) -> u16 {
    CRC16.checksum(body.as_bytes())
}

/// One data object: a two-digit id and its value (a template's value is itself objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub id: u8,
    pub value: String,
}

/// A payload's objects in the order they came, CRC (63) excluded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    pub objects: Vec<Object>,
}

/// Why a payload cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooLong {
        chars: usize,
    },
    /// At character `at`: an id or a length that is not two digits, or a value cut short.
    Malformed {
        at: usize,
        why: &'static str,
    },
    DuplicateId {
        id: u8,
    },
    /// No "6304" + four hex digits at the end.
    NoCrc,
    CrcMismatch {
        expected: String,
        found: String,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLong { chars } => write!(f, "the payload has {chars} characters, more than {PAYLOAD_CHARS_MAX}"),
            ParseError::Malformed { at, why } => write!(f, "at character {at}: {why}"),
            ParseError::DuplicateId { id } => write!(f, "ID {id:02} appears twice"),
            ParseError::NoCrc => f.write_str("the payload does not end with the CRC object 63 (6304 and four hex digits)"),
            ParseError::CrcMismatch { expected, found } => write!(f, "CRC {found} does not match the payload (expected {expected})"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Walk `text` as objects; lengths count characters.
pub fn objects(text: &str) -> Result<Vec<Object>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let (mut at, mut out) = (0usize, Vec::new());
    while at < chars.len() {
        let digits = |from: usize, why| -> Result<usize, ParseError> {
            let two: String = chars.get(from..from + 2).ok_or(ParseError::Malformed { at: from, why })?.iter().collect();
            if !two.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::Malformed { at: from, why });
            }
            Ok(two.parse().expect("two digits"))
        };
        let id = digits(at, "an ID is two digits")? as u8;
        let len = digits(at + 2, "a length is two digits")?;
        if len == 0 {
            return Err(ParseError::Malformed { at: at + 2, why: "a length is 01 to 99" });
        }
        let value: String = chars
            .get(at + 4..at + 4 + len)
            .ok_or(ParseError::Malformed { at: at + 4, why: "the value is shorter than its length" })?
            .iter()
            .collect();
        if out.iter().any(|o: &Object| o.id == id) {
            return Err(ParseError::DuplicateId { id });
        }
        out.push(Object { id, value });
        at += 4 + len;
    }
    Ok(out)
}

/// Read a payload: its objects and a matching CRC (compared without regard to case).
pub fn parse(payload: &str) -> Result<Payload, ParseError> {
    let chars = payload.chars().count();
    if chars > PAYLOAD_CHARS_MAX {
        return Err(ParseError::TooLong { chars });
    }
    // The CRC object is eight ASCII characters: checked as bytes before any split, so a multi-byte
    // character near the end cannot cut a split through a character (found by fuzzing).
    if chars < 8 || !payload.as_bytes()[payload.len() - 8..].is_ascii() {
        return Err(ParseError::NoCrc);
    }
    let (body, found) = payload.split_at(payload.len() - 4);
    if !body.ends_with("6304") || !found.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseError::NoCrc);
    }
    let expected = format!("{:04X}", crc16(body));
    if !expected.eq_ignore_ascii_case(found) {
        return Err(ParseError::CrcMismatch { expected, found: found.to_string() });
    }
    let objects = objects(&body[..body.len() - 4])?;
    Ok(Payload { objects })
}

impl Payload {
    /// The value of an id, if present.
    pub fn get(&self, id: u8) -> Option<&str> {
        self.objects.iter().find(|o| o.id == id).map(|o| o.value.as_str())
    }

    /// A template's objects (26–51, 62, 64, 80–99), if present and well-formed.
    pub fn template(&self, id: u8) -> Option<Vec<Object>> {
        self.get(id).and_then(|v| objects(v).ok())
    }

    /// Set an id's value (replacing it), or remove it with `None`.
    pub fn set(&mut self, id: u8, value: Option<String>) {
        self.objects.retain(|o| o.id != id);
        if let Some(value) = value {
            self.objects.push(Object { id, value });
        }
    }

    /// The payload text in canonical order (00 first, IDs ascending, the CRC last).
    pub fn build(&self) -> String {
        let mut sorted: Vec<&Object> = self.objects.iter().filter(|o| o.id != 63).collect();
        sorted.sort_by_key(|o| (o.id != 0, o.id));
        let mut body: String = sorted.iter().map(|o| tlv(o.id, &o.value)).collect();
        body.push_str("6304");
        let crc = crc16(&body);
        format!("{body}{crc:04X}")
    }
}

/// One object as text. Panics if the value is empty or longer than 99 characters (a builder's bug).
pub fn tlv(id: u8, value: &str) -> String {
    let len = value.chars().count();
    assert!((1..=99).contains(&len) && id < 100, "ID {id:02}: a value of 1 to 99 characters, not {len}");
    format!("{id:02}{len:02}{value}")
}

/// A template's value from its objects, in the order given.
pub fn template(objects: &[(u8, &str)]) -> String {
    objects.iter().map(|(id, v)| tlv(*id, v)).collect()
}

/// Why a payload breaks the specification: the field (its ID, and sub-ID inside a template) and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub rule: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

fn refuse(field: impl Into<String>, rule: impl Into<String>) -> Refusal {
    Refusal { field: field.into(), rule: rule.into() }
}

fn is_template(id: u8) -> bool {
    TEMPLATE_IDS.iter().any(|r| r.contains(&id))
}

fn digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// `ans`: the common character set, printable ASCII.
fn printable(v: &str) -> bool {
    v.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Every rule of the specification, in the order a reader meets them; all refusals, not only the first.
pub fn validate(p: &Payload) -> Vec<Refusal> {
    let mut out = Vec::new();
    if p.objects.first().map(|o| o.id) != Some(0) {
        out.push(refuse("00", "the payload format indicator comes first"));
    }
    if p.get(0).is_some_and(|v| v != "01") {
        out.push(refuse("00", "the payload format indicator is \"01\""));
    }
    if let Some(v) = p.get(1)
        && v != "11"
        && v != "12"
    {
        out.push(refuse("01", "the point of initiation is 11 (static) or 12 (dynamic)"));
    }
    if !p.objects.iter().any(|o| (2..=51).contains(&o.id)) {
        out.push(refuse("02-51", "at least one merchant account information object"));
    }
    for o in p.objects.iter().filter(|o| (26..=51).contains(&o.id) || (80..=99).contains(&o.id)) {
        check_guid_template(o, &mut out);
    }
    for (id, name, len) in [(52u8, "merchant category code", 4usize), (53, "transaction currency", 3)] {
        match p.get(id) {
            Some(v) if digits(v) && v.len() == len => {}
            Some(_) => out.push(refuse(format!("{id:02}"), format!("the {name} is {len} digits"))),
            None => out.push(refuse(format!("{id:02}"), format!("the {name} is mandatory"))),
        }
    }
    let currency = p.get(53).and_then(|v| v.parse::<u16>().ok()).and_then(|n| money::Currency::from_numeric(n).ok());
    if p.get(53).is_some() && currency.is_none() {
        out.push(refuse("53", "an ISO 4217 numeric currency code"));
    }
    if let Some(v) = p.get(54) {
        check_amount("54", v, currency, 13, &mut out);
    }
    check_tip(p, currency, &mut out);
    check_text(p, 58, "country code", 2, 2, &mut out);
    if p.get(58).is_some_and(|v| !v.bytes().all(|b| b.is_ascii_uppercase())) {
        out.push(refuse("58", "an ISO 3166-1 alpha-2 country code"));
    }
    check_text(p, 59, "merchant name", 1, 25, &mut out);
    check_text(p, 60, "merchant city", 1, 15, &mut out);
    if let Some(v) = p.get(61)
        && (v.chars().count() > 10 || !printable(v))
    {
        out.push(refuse("61", "a postal code of at most 10 printable ASCII characters"));
    }
    check_additional_data(p, &mut out);
    check_language(p, &mut out);
    for o in p.objects.iter().filter(|o| is_template(o.id) && objects(&o.value).is_err()) {
        out.push(refuse(format!("{:02}", o.id), "a template's value is itself ID-length-value objects"));
    }
    out
}

fn check_guid_template(o: &Object, out: &mut Vec<Refusal>) {
    let Ok(inner) = objects(&o.value) else { return };
    match inner.first() {
        Some(first) if first.id == 0 && first.value.chars().count() <= 32 => {}
        Some(first) if first.id == 0 => {
            out.push(refuse(format!("{:02}.00", o.id), "a globally unique identifier of at most 32 characters"))
        }
        _ => out.push(refuse(format!("{:02}.00", o.id), "a merchant account template starts with its globally unique identifier")),
    }
}

/// An amount: digits with at most one '.', not zero, no more decimals than the currency has.
fn check_amount(field: &str, v: &str, currency: Option<money::Currency>, chars_max: usize, out: &mut Vec<Refusal>) {
    let (whole, decimals) = v.split_once('.').unwrap_or((v, ""));
    let well_formed = v.len() <= chars_max && !whole.is_empty() && digits(whole) && (decimals.is_empty() || digits(decimals));
    if !well_formed {
        out.push(refuse(field, format!("an amount of at most {chars_max} characters: digits and at most one '.'")));
        return;
    }
    if v.bytes().all(|b| b == b'0' || b == b'.') {
        out.push(refuse(field, "an amount is not zero"));
    }
    if let Some(c) = currency
        && decimals.len() > usize::from(c.minor_units().unwrap_or(0))
    {
        out.push(refuse(field, format!("{} has {} decimals", c.code(), c.minor_units().unwrap_or(0))));
    }
}

/// 55: 01 prompts for a tip; 02 adds the fixed fee in 56; 03 the percentage in 57.
fn check_tip(p: &Payload, currency: Option<money::Currency>, out: &mut Vec<Refusal>) {
    match p.get(55) {
        None => {
            for id in [56u8, 57] {
                if p.get(id).is_some() {
                    out.push(refuse(format!("{id:02}"), "a convenience fee needs the indicator 55"));
                }
            }
        }
        Some("01") => {}
        Some("02") => match p.get(56) {
            Some(v) => check_amount("56", v, currency, 13, out),
            None => out.push(refuse("56", "indicator 02 names a fixed convenience fee")),
        },
        Some("03") => match p.get(57) {
            Some(v) if v.len() <= 5 && percentage(v) => {}
            Some(_) => out.push(refuse("57", "a percentage above 0 and at most 100, at most 5 characters")),
            None => out.push(refuse("57", "indicator 03 names a percentage convenience fee")),
        },
        Some(_) => out.push(refuse("55", "the tip or convenience indicator is 01, 02 or 03")),
    }
}

/// A percentage above 0 and at most 100, digits with at most one '.' (read exactly, never as a float).
fn percentage(v: &str) -> bool {
    let (whole, decimals) = v.split_once('.').unwrap_or((v, ""));
    let Ok(w) = whole.parse::<u32>() else { return false };
    let exact = digits(whole) && (decimals.is_empty() || digits(decimals));
    let positive = w > 0 || decimals.bytes().any(|b| b != b'0');
    exact && positive && (w < 100 || (w == 100 && decimals.bytes().all(|b| b == b'0')))
}

fn check_text(p: &Payload, id: u8, name: &str, min: usize, max: usize, out: &mut Vec<Refusal>) {
    match p.get(id) {
        None => out.push(refuse(format!("{id:02}"), format!("the {name} is mandatory"))),
        Some(v) if (min..=max).contains(&v.chars().count()) && printable(v) => {}
        Some(_) => out.push(refuse(format!("{id:02}"), format!("the {name} is {min} to {max} printable ASCII characters"))),
    }
}

/// 62: sub-IDs 01–09 at most 25 characters each; 09 a combination of A, M and E.
fn check_additional_data(p: &Payload, out: &mut Vec<Refusal>) {
    let Some(inner) = p.template(62) else { return };
    for o in &inner {
        if (1..=8).contains(&o.id) && o.value.chars().count() > 25 {
            out.push(refuse(format!("62.{:02}", o.id), "at most 25 characters"));
        }
        if o.id == 9 && (o.value.len() > 3 || !o.value.bytes().all(|b| b"AME".contains(&b))) {
            out.push(refuse("62.09", "a combination of A (address), M (mobile) and E (email)"));
        }
    }
}

/// 64: the language (ISO 639, two letters) and the name in it are mandatory; the city is optional.
fn check_language(p: &Payload, out: &mut Vec<Refusal>) {
    let Some(inner) = p.template(64) else { return };
    let get = |id: u8| inner.iter().find(|o| o.id == id).map(|o| o.value.as_str());
    if !get(0).is_some_and(|v| v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic())) {
        out.push(refuse("64.00", "the language preference is an ISO 639 two-letter code"));
    }
    match get(1) {
        Some(v) if (1..=25).contains(&v.chars().count()) => {}
        _ => out.push(refuse("64.01", "the merchant name in the alternate language is 1 to 25 characters")),
    }
    if get(2).is_some_and(|v| v.chars().count() > 15) {
        out.push(refuse("64.02", "the merchant city in the alternate language is at most 15 characters"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EMVCo specification's own sample (CJK values counted in characters, the CRC over UTF-8).
    const EMVCO_SAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";

    #[test]
    fn the_crc_is_ccitt_false() {
        assert_eq!(crc16("123456789"), 0x29B1);
    }

    #[test]
    fn the_emvco_sample_parses_with_character_lengths_and_its_crc() {
        let p = parse(EMVCO_SAMPLE).unwrap();
        assert_eq!(p.get(59), Some("BEST TRANSPORT"));
        assert_eq!(p.get(54), Some("23.72"));
        let language = p.template(64).unwrap();
        assert_eq!(language[1], Object { id: 1, value: "最佳运输".into() });
        assert_eq!(p.template(62).unwrap()[1], Object { id: 6, value: "***".into() });
        // 64 comes before 54 in the sample: ids may come in any order, and are kept as they came.
        let ids: Vec<u8> = p.objects.iter().map(|o| o.id).collect();
        assert!(ids.iter().position(|i| *i == 64) < ids.iter().position(|i| *i == 54));
    }

    #[test]
    fn the_emvco_sample_breaks_no_rule() {
        let p = parse(EMVCO_SAMPLE).unwrap();
        assert_eq!(validate(&p), vec![]);
    }

    #[test]
    fn a_built_payload_reparses_to_the_same_objects_and_validates() {
        let p = parse(EMVCO_SAMPLE).unwrap();
        let rebuilt = p.build();
        let again = parse(&rebuilt).unwrap();
        let mut a = p.objects.clone();
        let mut b = again.objects.clone();
        a.sort_by_key(|o| o.id);
        b.sort_by_key(|o| o.id);
        assert_eq!(a, b);
        assert!(rebuilt.starts_with("000201") && rebuilt.contains("6304"));
        assert_eq!(validate(&again), vec![]);
    }

    #[test]
    fn a_lower_case_crc_is_read_and_a_wrong_one_refused() {
        let lower = EMVCO_SAMPLE.replace("6304A13A", "6304a13a");
        assert!(parse(&lower).is_ok());
        let wrong = EMVCO_SAMPLE.replace("6304A13A", "6304A13B");
        assert!(matches!(parse(&wrong), Err(ParseError::CrcMismatch { .. })));
    }

    fn minimal() -> Vec<(u8, String)> {
        vec![
            (0, "01".into()),
            (1, "12".into()),
            (26, template(&[(0, "com.qianbao.pay"), (1, "1900000109")])),
            (52, "5812".into()),
            (53, "344".into()),
            (54, "88.80".into()),
            (58, "HK".into()),
            (59, "Dim Sum House".into()),
            (60, "Hong Kong".into()),
        ]
    }

    fn refusals_with(change: (u8, Option<&str>)) -> Vec<String> {
        let mut p = Payload::default();
        for (id, v) in minimal() {
            p.set(id, Some(v));
        }
        p.set(change.0, change.1.map(str::to_string));
        validate(&parse(&p.build()).unwrap()).into_iter().map(|r| r.field).collect()
    }

    #[test]
    fn every_refusal_names_its_field() {
        assert_eq!(refusals_with((0, Some("01"))), Vec::<String>::new());
        assert_eq!(refusals_with((1, Some("13"))), ["01"]);
        assert_eq!(refusals_with((53, Some("000"))), ["53"]);
        assert_eq!(refusals_with((54, Some("88.805"))), ["54"], "HKD has two decimals");
        assert_eq!(refusals_with((54, Some("0.00"))), ["54"]);
        assert_eq!(refusals_with((54, Some("1.2.3"))), ["54"]);
        assert_eq!(refusals_with((59, None)), ["59"]);
        assert_eq!(refusals_with((59, Some("A merchant name beyond 25 chars"))), ["59"]);
        assert_eq!(refusals_with((60, Some("A city of more than 15"))), ["60"]);
        assert_eq!(refusals_with((58, Some("hk"))), ["58"]);
        assert_eq!(refusals_with((26, Some(&template(&[(1, "no guid")])))), ["26.00"]);
        assert_eq!(refusals_with((55, Some("02"))), ["56"]);
        assert_eq!(refusals_with((55, Some("04"))), ["55"]);
        assert_eq!(refusals_with((64, Some(&template(&[(0, "ZH")])))), ["64.01"]);
    }

    #[test]
    fn a_convenience_percentage_is_above_zero_and_at_most_a_hundred() {
        for good in ["1", "0.5", "100", "100.0", "12.75"] {
            assert!(percentage(good), "{good}");
        }
        for bad in ["0", "0.00", "100.01", "101", "-1", "1e2", "", "."] {
            assert!(!percentage(bad), "{bad}");
        }
    }

    #[test]
    fn a_yen_amount_has_no_decimals() {
        let mut p = Payload::default();
        for (id, v) in minimal() {
            p.set(id, Some(v));
        }
        p.set(53, Some("392".into()));
        p.set(54, Some("1500".into()));
        assert_eq!(validate(&parse(&p.build()).unwrap()), vec![]);
        p.set(54, Some("1500.5".into()));
        assert_eq!(validate(&parse(&p.build()).unwrap())[0].field, "54");
    }

    #[test]
    fn malformed_payloads_are_refused_before_any_rule() {
        let body = "0002010102115802HK6304";
        let good = format!("{body}{:04X}", crc16(body));
        assert!(parse(&good).is_ok());
        for bad in ["", "6304", "0002016304ZZZZ"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let dup = "000201000201";
        assert!(matches!(objects(dup), Err(ParseError::DuplicateId { id: 0 })));
        assert!(matches!(objects("AA0201"), Err(ParseError::Malformed { .. })));
        assert!(matches!(objects("000501"), Err(ParseError::Malformed { .. })));
        assert!(matches!(objects("0000"), Err(ParseError::Malformed { .. })));
        // A multi-byte character inside the last eight bytes is no CRC, never a panic.
        assert_eq!(parse("06270012hk.com6304E\u{5317}\u{4eac}54"), Err(ParseError::NoCrc));
        assert_eq!(parse("0002016304A13\u{4eac}"), Err(ParseError::NoCrc));
        let long = "9".repeat(PAYLOAD_CHARS_MAX + 1);
        assert!(matches!(parse(&long), Err(ParseError::TooLong { .. })));
    }
}
