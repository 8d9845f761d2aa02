//! WeChat Pay API v2's wire: flat XML bodies (`<xml><key>value</key>…</xml>`) signed with the
//! merchant's API key, MD5 or HMAC-SHA256 over the sorted `key=value` pairs. Kept for the calls that
//! exist only in v2 (the cross-border exchange-rate query, `POST /pay/queryexchagerate`).
//!
//! Signing (WeChat's rule): drop `sign` and empty values, sort the rest by key (ASCII), join as
//! `k1=v1&k2=v2`, append `&key=<API key>`, hash (MD5, or HMAC-SHA256 keyed with the API key), upper-case hex.

use quick_xml::Reader;
use quick_xml::events::{BytesText, Event};
use std::collections::BTreeMap;

/// The most fields a v2 body may have, and the longest field value (characters): a v2 call has a
/// dozen fields of a few dozen characters.
pub const V2_FIELDS_MAX: usize = 64;
pub const V2_VALUE_CHARS_MAX: usize = 1024;

/// A v2 body: its fields by name.
pub type Fields = BTreeMap<String, String>;

/// The two v2 signature types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignType {
    Md5,
    HmacSha256,
}

impl SignType {
    /// `sign_type` as sent: absent means MD5.
    pub fn parse(text: Option<&str>) -> Option<SignType> {
        match text {
            None | Some("MD5") => Some(SignType::Md5),
            Some("HMAC-SHA256") => Some(SignType::HmacSha256),
            Some(_) => None,
        }
    }
}

/// Why a v2 body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Error(pub String);

impl std::fmt::Display for V2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parse a flat v2 XML body: one `<xml>` root whose children are text (or CDATA) fields.
pub fn parse_xml(body: &[u8]) -> Result<Fields, V2Error> {
    let text = std::str::from_utf8(body).map_err(|_| V2Error("the body is not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    let mut fields = Fields::new();
    let (mut depth, mut current, mut value) = (0usize, None::<String>, String::new());
    loop {
        match reader.read_event().map_err(|e| V2Error(format!("not well-formed XML: {e}")))? {
            Event::Start(e) => {
                depth += 1;
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match depth {
                    1 if name == "xml" => {}
                    1 => return Err(V2Error("the root element is <xml>".into())),
                    2 => (current, value) = (Some(name), String::new()),
                    _ => return Err(V2Error("fields are flat: no element inside a field".into())),
                }
            }
            Event::Text(t) => append(&mut value, &t, current.is_some())?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| V2Error(format!("bad character reference: {e}")))? {
                    Some(ch) => ch.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| V2Error(format!("bad reference: {e}")))?;
                        let known = quick_xml::escape::resolve_predefined_entity(&name);
                        known.ok_or_else(|| V2Error(format!("&{name}; is not one of XML's five entities")))?.to_string()
                    }
                };
                if current.is_none() {
                    return Err(V2Error("text outside a field".into()));
                }
                value.push_str(&resolved);
            }
            Event::CData(_) if current.is_none() => return Err(V2Error("CDATA outside a field".into())),
            Event::CData(c) => value.push_str(std::str::from_utf8(&c).map_err(|_| V2Error("CDATA is not UTF-8".into()))?),
            Event::End(_) => {
                if depth == 2 {
                    let name = current.take().expect("a field is open at depth 2");
                    add_field(&mut fields, name, std::mem::take(&mut value))?;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Empty(e) if depth == 1 => {
                add_field(&mut fields, String::from_utf8_lossy(e.name().as_ref()).into_owned(), String::new())?
            }
            Event::Empty(_) => return Err(V2Error("fields are flat: no element inside a field".into())),
            Event::Eof if depth == 0 && !fields.is_empty() => return Ok(fields),
            Event::Eof => return Err(V2Error("an <xml> body with its fields".into())),
            Event::DocType(_) => return Err(V2Error("no DOCTYPE (entities are not expanded)".into())),
            _ => {}
        }
    }
}

/// A field, once, within the limits.
fn add_field(fields: &mut Fields, name: String, value: String) -> Result<(), V2Error> {
    if value.chars().count() > V2_VALUE_CHARS_MAX {
        return Err(V2Error(format!("{name} is longer than {V2_VALUE_CHARS_MAX} characters")));
    }
    if fields.insert(name.clone(), value).is_some() {
        return Err(V2Error(format!("{name} is given twice")));
    }
    if fields.len() > V2_FIELDS_MAX {
        return Err(V2Error(format!("more than {V2_FIELDS_MAX} fields")));
    }
    Ok(())
}

fn append(value: &mut String, t: &BytesText<'_>, in_field: bool) -> Result<(), V2Error> {
    // References (`&lt;`) come as their own events: a text event is plain text.
    let text = t.decode().map_err(|e| V2Error(format!("bad text: {e}")))?;
    if in_field {
        value.push_str(&text);
    } else if !text.trim().is_empty() {
        return Err(V2Error("text outside a field".into()));
    }
    Ok(())
}

/// The v2 XML of fields, values in CDATA (WeChat's own answers write them so).
pub fn to_xml(fields: &Fields) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        out.push_str(&format!("<{k}><![CDATA[{}]]></{k}>", v.replace("]]>", "]]]]><![CDATA[>")));
    }
    out.push_str("</xml>");
    out
}

/// The signature of fields under a key.
pub fn sign(fields: &Fields, key: &[u8], sign_type: SignType) -> String {
    let mut text =
        fields.iter().filter(|(k, v)| k.as_str() != "sign" && !v.is_empty()).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    text.push_str("&key=");
    text.push_str(&String::from_utf8_lossy(key));
    let digest: Vec<u8> = match sign_type {
        SignType::Md5 => {
            use md5::Digest;
            md5::Md5::digest(text.as_bytes()).to_vec()
        }
        SignType::HmacSha256 => {
            let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
            aws_lc_rs::hmac::sign(&k, text.as_bytes()).as_ref().to_vec()
        }
    };
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

/// Whether the fields' `sign` is right (compared in constant time).
pub fn verify(fields: &Fields, key: &[u8], sign_type: SignType) -> bool {
    let Some(given) = fields.get("sign") else { return false };
    let expected = sign(fields, key, sign_type);
    given.len() == expected.len() && aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), expected.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_md5_signature_is_wechats_documented_example() {
        // WeChat Pay's v2 signing guide: these fields under key 192006250b4c09247ec02edce69f6a2d.
        let f = fields(&[
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]);
        assert_eq!(sign(&f, b"192006250b4c09247ec02edce69f6a2d", SignType::Md5), "9A0A8659F005D6984697E2CA0A9CF3B7");
    }

    #[test]
    fn the_hmac_signature_is_wechats_documented_example() {
        let f = fields(&[
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]);
        assert_eq!(
            sign(&f, b"192006250b4c09247ec02edce69f6a2d", SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn a_body_round_trips_through_xml_with_cdata_and_escapes() {
        let f = fields(&[("fee_type", "USD"), ("note", "a < b & ]]> c")]);
        assert_eq!(parse_xml(to_xml(&f).as_bytes()).unwrap(), f);
        let escaped = parse_xml(b"<xml><note>a &lt; b</note></xml>").unwrap();
        assert_eq!(escaped["note"], "a < b");
    }

    #[test]
    fn hostile_xml_is_refused() {
        for bad in [
            &b"<xml><a><b>1</b></a></xml>"[..],
            b"<other><a>1</a></other>",
            b"<xml><a>1</a><a>2</a></xml>",
            b"<!DOCTYPE x [<!ENTITY e \"boom\">]><xml><a>&e;</a></xml>",
            b"<xml><a>1</a>",
            b"",
            b"\xff\xfe",
            b"<xml>loose<a>1</a></xml>",
            b"<xml><mch_id>1</mch_id><mch_id/></xml>",
            b"<xml><a><b/></a></xml>",
            b"<xml><![CDATA[x]]><a>1</a></xml>",
        ] {
            assert!(parse_xml(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_changed_field_fails_verification() {
        let key = b"192006250b4c09247ec02edce69f6a2d";
        let mut f = fields(&[("appid", "wx1"), ("fee_type", "USD")]);
        f.insert("sign".into(), sign(&f, key, SignType::Md5));
        assert!(verify(&f, key, SignType::Md5));
        f.insert("fee_type".into(), "HKD".into());
        assert!(!verify(&f, key, SignType::Md5));
    }
}
