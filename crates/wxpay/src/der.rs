//! Just enough DER: the RSAPublicKey (PKCS#1) inside a SubjectPublicKeyInfo (what the verifier takes),
//! the serial and key of an X.509 certificate, and a self-signed certificate for a platform key.

const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// One TLV: (tag, value, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

pub(crate) fn rsa_public_key_from_spki(der: &[u8]) -> Option<Vec<u8>> {
    let (tag, spki, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (tag, algorithm, rest) = tlv(spki)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = tlv(algorithm)?;
    if tag != 0x06 || oid != RSA_ENCRYPTION_OID {
        return None;
    }
    let (tag, bits, rest) = tlv(rest)?;
    if tag != 0x03 || !rest.is_empty() {
        return None;
    }
    let (&unused, key) = bits.split_first()?;
    (unused == 0).then(|| key.to_vec())
}

/// The serial number (upper-case hex, no leading zero octet) and the SubjectPublicKeyInfo of an X.509
/// certificate: Certificate ::= SEQUENCE { TBSCertificate ::= SEQUENCE { [0] version?, serial INTEGER,
/// signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }.
pub(crate) fn certificate_serial_and_spki(der: &[u8]) -> Option<(String, &[u8])> {
    let (tag, certificate, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (tag, tbs, _) = tlv(certificate)?;
    if tag != 0x30 {
        return None;
    }
    let mut fields = tbs;
    let (mut tag, mut value, mut rest) = tlv(fields)?;
    if tag == 0xa0 {
        fields = rest;
        (tag, value, rest) = tlv(fields)?;
    }
    if tag != 0x02 {
        return None;
    }
    let serial = value.iter().skip_while(|b| **b == 0).map(|b| format!("{b:02X}")).collect::<String>();
    fields = rest;
    for _ in 0..4 {
        // signature algorithm, issuer, validity, subject
        let (_, _, rest) = tlv(fields)?;
        fields = rest;
    }
    let (tag, _, after) = tlv(fields)?;
    if tag != 0x30 {
        return None;
    }
    let spki = &fields[..fields.len() - after.len()];
    Some((serial, spki))
}

fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    encode(0x30, &parts.concat())
}

/// `CN=<name>, O=Qianbao` as a Name.
fn name(common_name: &str) -> Vec<u8> {
    let attribute = |oid: &[u8], value: &str| encode(0x31, &sequence(&[&encode(0x06, oid), &encode(0x0c, value.as_bytes())]));
    sequence(&[&attribute(&[0x55, 0x04, 0x0a], "Qianbao"), &attribute(&[0x55, 0x04, 0x03], common_name)])
}

/// UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5).
fn validity_time(unix_s: i64) -> Vec<u8> {
    let t = crate::time::civil(unix_s);
    if t.year < 2050 {
        encode(0x17, format!("{:02}{:02}{:02}{:02}{:02}{:02}Z", t.year % 100, t.month, t.day, t.hour, t.minute, t.second).as_bytes())
    } else {
        encode(0x18, format!("{:04}{:02}{:02}{:02}{:02}{:02}Z", t.year, t.month, t.day, t.hour, t.minute, t.second).as_bytes())
    }
}

/// A self-signed X.509 v3 certificate for `key` (sha256WithRSAEncryption), as WeChat serves its
/// platform certificates: the serial is what `Wechatpay-Serial` names. `serial` is big-endian and
/// positive (its first byte below 0x80), at most 20 bytes.
pub fn certificate(key: &crate::SigningKey, serial: &[u8], common_name: &str, not_before_s: i64, not_after_s: i64) -> Vec<u8> {
    assert!(!serial.is_empty() && serial.len() <= 20 && serial[0] != 0 && serial[0] < 0x80, "a positive serial of at most 20 bytes");
    assert!(not_before_s < not_after_s);
    const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    let algorithm = sequence(&[&encode(0x06, SHA256_WITH_RSA), &[0x05, 0x00]]);
    let version = encode(0xa0, &encode(0x02, &[2]));
    let subject = name(common_name);
    let validity = sequence(&[&validity_time(not_before_s), &validity_time(not_after_s)]);
    let tbs = sequence(&[&version, &encode(0x02, serial), &algorithm, &subject, &validity, &subject, &key.public_key_spki_der()]);
    let signature = key.sign(&tbs);
    let mut bits = vec![0u8];
    bits.extend(signature);
    sequence(&[&tbs, &algorithm, &encode(0x03, &bits)])
}
