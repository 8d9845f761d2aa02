//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 30-second steps, six
//! digits, the parameters every authenticator app uses by default. HMAC comes from aws-lc-rs, the crypto
//! the platform already links; what is written here is only RFC 4226's dynamic truncation.

use aws_lc_rs::hmac;

/// Seconds per step (RFC 6238's default X).
pub const STEP_S: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps either side of now a code may come from (clock drift between the phone and the server).
pub const DRIFT_STEPS: i64 = 1;
/// Bytes of a secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// The HOTP value for a counter (RFC 4226 §5.3), `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    binary % 10u32.pow(digits)
}

/// The step a Unix time (seconds) falls in.
pub fn step_at(unix_s: i64) -> i64 {
    unix_s.div_euclid(STEP_S)
}

/// The step within the drift window whose code `code` is, if any. A code is six ASCII digits.
pub fn matching_step(secret: &[u8], code: &str, unix_s: i64) -> Option<i64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let now = step_at(unix_s);
    (now - DRIFT_STEPS..=now + DRIFT_STEPS)
        .filter(|step| *step >= 0)
        .find(|step| crate::crypto::constant_time_eq(&hotp(secret, *step as u64, DIGITS).to_be_bytes(), &wanted.to_be_bytes()))
}

/// The code for a Unix time, zero-padded (what the person's authenticator shows).
pub fn code_at(secret: &[u8], unix_s: i64) -> String {
    format!("{:0width$}", hotp(secret, step_at(unix_s).max(0) as u64, DIGITS), width = DIGITS as usize)
}

/// A secret as an authenticator app is given it (base32, no padding), back to bytes.
pub fn secret_from_base32(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD.decode(text.as_bytes()).ok()
}

/// An `otpauth://` URI an authenticator app scans (the Key Uri Format of Google Authenticator).
pub fn provisioning_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let secret = data_encoding::BASE32_NOPAD.encode(secret);
    let label = format!("{}:{}", percent(issuer), percent(account));
    format!("otpauth://totp/{label}?secret={secret}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_S}", percent(issuer))
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits), and RFC 4226 Appendix D (6 digits).
    #[test]
    fn the_rfc_test_vectors_hold() {
        let secret = b"12345678901234567890";
        for (t, want) in [(59, 94287082), (1111111109, 7081804), (1111111111, 14050471), (1234567890, 89005924), (2000000000, 69279037)] {
            assert_eq!(hotp(secret, step_at(t) as u64, 8), want, "T = {t}");
        }
        let rfc4226 = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, want) in rfc4226.into_iter().enumerate() {
            assert_eq!(hotp(secret, counter as u64, 6), want);
        }
    }

    #[test]
    fn a_code_matches_within_one_step_of_drift_and_not_beyond() {
        let secret = [7u8; SECRET_BYTES];
        let now = 1_781_488_800;
        let code = code_at(&secret, now);
        assert_eq!(matching_step(&secret, &code, now), Some(step_at(now)));
        assert_eq!(matching_step(&secret, &code, now + STEP_S), Some(step_at(now)));
        assert_eq!(matching_step(&secret, &code, now - STEP_S), Some(step_at(now)));
        assert_eq!(matching_step(&secret, &code, now + 3 * STEP_S), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "12345a", now), None);
    }

    #[test]
    fn the_provisioning_uri_carries_the_secret_in_base32() {
        let uri = provisioning_uri("Qianbao", "ops alice", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Qianbao:ops%20alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Qianbao&algorithm=SHA1&digits=6&period=30"
        );
    }
}
