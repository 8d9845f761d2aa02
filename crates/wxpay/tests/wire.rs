//! The wire primitives against other implementations: OpenSSL-made keys and signatures, the GCM
//! specification's test case, SDK-shaped headers.

use wxpay::*;

const KEY: &str = include_str!("data/merchant_key.pem");
const PUBLIC: &str = include_str!("data/merchant_pub.pem");
const MESSAGE: &[u8] = include_bytes!("data/message.txt");
/// `openssl dgst -sha256 -sign merchant_key.pem message.txt | base64 -w0`
const OPENSSL_SIGNATURE: &str = include_str!("data/message.sig");

#[test]
fn signatures_match_openssl_byte_for_byte() {
    let key = SigningKey::from_pkcs8_pem(KEY).unwrap();
    assert_eq!(base64::encode(&key.sign(MESSAGE)), OPENSSL_SIGNATURE.trim());
}

#[test]
fn an_openssl_signature_verifies_and_a_changed_message_does_not() {
    let public = VerifyingKey::from_spki_pem(PUBLIC).unwrap();
    let signature = base64::decode(OPENSSL_SIGNATURE.trim()).unwrap();
    public.verify(MESSAGE, &signature).unwrap();
    let mut changed = MESSAGE.to_vec();
    changed[0] = b'G';
    assert_eq!(public.verify(&changed, &signature), Err(WireError::BadSignature));
}

#[test]
fn the_request_message_has_five_lines_each_ending_in_a_newline() {
    let m = request_message(
        "POST",
        "/v3/pay/transactions/native",
        1554208460,
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        br#"{"appid":"wxd678efh567hg6787","mchid":"1900000109"}"#,
    );
    assert_eq!(m, MESSAGE);
    assert_eq!(request_message("GET", "/v3/certificates", 1, "n", b""), b"GET\n/v3/certificates\n1\nn\n\n");
    assert_eq!(response_message(1, "n", b"{}"), b"1\nn\n{}\n");
}

#[test]
fn the_header_parses_in_every_sdk_order() {
    let sig = OPENSSL_SIGNATURE.trim();
    let orders = [
        format!(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="abc",signature="{sig}",timestamp="1554208460",serial_no="1dde55ad"#
        ) + "\"",
        format!(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="abc",timestamp="1554208460",serial_no="1DDE55AD",signature="{sig}""#
        ),
        format!(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000109",serial_no="1DDE55AD",timestamp="1554208460",nonce_str="abc",signature="{sig}""#
        ),
    ];
    for header in &orders {
        let a = Authorization::parse(header).unwrap();
        assert_eq!(
            (a.mchid.as_str(), a.nonce.as_str(), a.timestamp, a.serial_no.as_str()),
            ("1900000109", "abc", 1554208460, "1DDE55AD"),
            "{header}"
        );
        assert_eq!(Authorization::parse(&a.to_header()).unwrap(), a);
    }
}

#[test]
fn malformed_headers_are_refused_with_a_reason() {
    let ok = r#"mchid="1",nonce_str="n",timestamp="1",serial_no="S",signature="Zg==""#;
    for bad in [
        format!("WECHATPAY2-SHA256-RSA4096 {ok}"),
        format!("Bearer {ok}"),
        r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",timestamp="1",serial_no="S""#.to_string(),
        format!("WECHATPAY2-SHA256-RSA2048 {ok},mchid=\"2\""),
        format!("WECHATPAY2-SHA256-RSA2048 {}", ok.replace("timestamp=\"1\"", "timestamp=\"-1\"")),
        format!("WECHATPAY2-SHA256-RSA2048 {}", ok.replace("Zg==", "not base64!")),
        format!("WECHATPAY2-SHA256-RSA2048 {}", ok.replace("\"n\"", "n")),
        format!("WECHATPAY2-SHA256-RSA2048 {},x=\"{}\"", ok, "a".repeat(3000)),
        format!("WECHATPAY2-SHA256-RSA2048 {}", ok.replace("\"n\"", &format!("\"{}\"", "n".repeat(65)))),
    ] {
        assert!(matches!(Authorization::parse(&bad), Err(WireError::Header(_))), "{bad}");
    }
}

#[test]
fn aes_256_gcm_matches_the_specification_test_case_14() {
    // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 14: zero key, IV and block.
    let key = [0u8; 32];
    let nonce = [0u8; 12];
    let sealed = aead_encrypt(&key, &nonce, b"", &[0u8; 16]).unwrap();
    let hex: String = sealed.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
}

#[test]
fn a_notification_round_trips_and_any_change_is_caught() {
    let key = b"a 32-byte APIv3 key for the test";
    let sealed = aead_encrypt(key, b"fdasflkja484", b"transaction", br#"{"trade_state":"SUCCESS"}"#).unwrap();
    assert_eq!(aead_decrypt(key, b"fdasflkja484", b"transaction", &sealed).unwrap(), br#"{"trade_state":"SUCCESS"}"#);
    assert!(aead_decrypt(key, b"fdasflkja484", b"refund", &sealed).is_err(), "associated data is authenticated");
    assert!(aead_decrypt(key, b"fdasflkja485", b"transaction", &sealed).is_err());
    let mut tampered = sealed.clone();
    tampered[0] ^= 1;
    assert!(aead_decrypt(key, b"fdasflkja484", b"transaction", &tampered).is_err());
    assert!(aead_decrypt(b"short key", b"fdasflkja484", b"transaction", &sealed).is_err());
}

#[test]
fn keys_of_the_wrong_kind_are_refused() {
    assert!(matches!(SigningKey::from_pkcs8_pem(PUBLIC), Err(WireError::Key(_))));
    assert!(matches!(VerifyingKey::from_spki_pem(KEY), Err(WireError::Key(_))));
    assert!(matches!(VerifyingKey::from_spki_pem("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----"), Err(WireError::Key(_))));
}

#[test]
fn a_generated_key_signs_what_its_public_key_verifies() {
    let key = SigningKey::generate();
    let public = VerifyingKey::from_spki_pem(&key.public_key_pem()).unwrap();
    public.verify(b"message", &key.sign(b"message")).unwrap();
    let again = SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem()).unwrap();
    assert_eq!(again.sign(b"m"), key.sign(b"m"));
}

#[test]
fn a_platform_certificate_carries_its_serial_and_key() {
    let key = SigningKey::generate();
    let serial = [0x5E, 0x57, 0xF0, 0x9E, 0xFD, 0xC0, 0x96, 0xDE, 0x15, 0xEB, 0xE8, 0x1A, 0x47, 0x05, 0x7A, 0x72, 0x32, 0xF1, 0xB8, 0xE1];
    let der = certificate(&key, &serial, "Qianbao platform", 1_700_000_000, 1_900_000_000);
    let (public, _, parsed_serial) = VerifyingKey::from_pem(&pem_encode("CERTIFICATE", &der)).unwrap();
    assert_eq!(parsed_serial.as_deref(), Some("5E57F09EFDC096DE15EBE81A47057A7232F1B8E1"));
    public.verify(b"m", &key.sign(b"m")).unwrap();
}

#[test]
fn a_body_signed_as_it_streams_has_the_signature_of_the_whole_message() {
    let key = SigningKey::from_pkcs8_pem(KEY).unwrap();
    let body = "`2026-12-01 10:00:00,`wx1\n".repeat(1000);
    let mut streamed = StreamedMessage::new(1_700_000_000, "nonce");
    for chunk in body.as_bytes().chunks(777) {
        streamed.update(chunk);
    }
    let whole = key.sign(&response_message(1_700_000_000, "nonce", body.as_bytes()));
    assert_eq!(key.sign_streamed(streamed), whole);
    let mut other = StreamedMessage::new(1_700_000_001, "nonce");
    other.update(body.as_bytes());
    assert_ne!(key.sign_streamed(other), whole);
}
