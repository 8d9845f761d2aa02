//! Hashing, HMAC, randomness and constant-time comparison (aws-lc-rs), and argon2id for login passwords.

use aws_lc_rs::rand::SecureRandom;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut out).expect("the OS random source works");
    out
}

pub fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

/// Uniform in `lo..=hi` without modulo bias.
pub fn random_in(lo: i64, hi: i64) -> i64 {
    assert!(lo <= hi);
    let span = u64::try_from(hi.checked_sub(lo).expect("the range fits i64")).expect("lo <= hi") + 1;
    let zone = u64::MAX - (u64::MAX % span);
    loop {
        let r = random_u64();
        if r < zone {
            return lo + i64::try_from(r % span).expect("below the span, which fits i64");
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn argon2(memory_kib: u32) -> argon2::Argon2<'static> {
    let params = argon2::Params::new(memory_kib, 2, 1, Some(32)).expect("valid argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// `argon2id$<memory KiB>$<salt hex>$<hash hex>` (t = 2, p = 1).
pub fn hash_password(password: &str, memory_kib: u32) -> String {
    let salt = random_bytes::<16>();
    let mut out = [0u8; 32];
    argon2(memory_kib).hash_password_into(password.as_bytes(), &salt, &mut out).expect("argon2 hashes");
    format!("argon2id${memory_kib}${}${}", hex(&salt), hex(&out))
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [_, memory, salt, hash] = parts.as_slice() else { return false };
    let (Ok(memory), Some(salt), Some(hash)) = (memory.parse::<u32>(), unhex(salt), unhex(hash)) else { return false };
    let mut out = [0u8; 32];
    if argon2(memory).hash_password_into(password.as_bytes(), &salt, &mut out).is_err() {
        return false;
    }
    constant_time_eq(&out, &hash)
}

/// Seal a secret for storage (an APIv3 key, a platform private key): AES-256-GCM under a key derived
/// from the server secret, a random nonce in front. A stolen database alone does not give them away.
pub fn seal(secret: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let key = hmac_sha256(secret, b"qianbao seal v1");
    let nonce = random_bytes::<12>();
    let mut out = nonce.to_vec();
    out.extend(wxpay::aead_encrypt(&key, &nonce, b"qianbao", plaintext).expect("a 32-byte key and a 12-byte nonce"));
    out
}

pub fn unseal(secret: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let key = hmac_sha256(secret, b"qianbao seal v1");
    if sealed.len() < 12 {
        return None;
    }
    wxpay::aead_decrypt(&key, &sealed[..12], b"qianbao", &sealed[12..]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let stored = hash_password("correct horse", 64);
        assert!(verify_password("correct horse", &stored));
        assert!(!verify_password("correct horsf", &stored));
        assert!(!verify_password("correct horse", "garbage"));
    }

    #[test]
    fn random_in_stays_in_range() {
        for _ in 0..1000 {
            let x = random_in(3, 7);
            assert!((3..=7).contains(&x));
        }
        assert_eq!(random_in(5, 5), 5);
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn sealed_secrets_open_only_with_the_same_secret() {
        let sealed = seal(&[7; 32], b"apiv3 key");
        assert_eq!(unseal(&[7; 32], &sealed).as_deref(), Some(&b"apiv3 key"[..]));
        assert_eq!(unseal(&[8; 32], &sealed), None);
        assert_ne!(seal(&[7; 32], b"apiv3 key"), sealed, "a fresh nonce every time");
    }
}
