//! `qianbao qr decode|encode`, black-box: the command people use to debug codes.

use std::io::Write;
use std::process::{Command, Stdio};

const EMVCO_SAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";

fn qr(args: &[&str], stdin: Option<&str>) -> (bool, serde_json::Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qianbao"))
        .arg("qr")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.success(), serde_json::from_str(&text).unwrap_or(serde_json::Value::Null), text)
}

#[test]
fn decode_prints_the_objects_and_exits_zero_for_a_valid_payload() {
    let (ok, decoded, _) = qr(&["decode", EMVCO_SAMPLE], None);
    assert!(ok, "{decoded}");
    assert_eq!(decoded["valid"], true);
    let name = decoded["objects"].as_array().unwrap().iter().find(|o| o["id"] == "59").unwrap()["value"].clone();
    assert_eq!(name, "BEST TRANSPORT");
}

#[test]
fn decode_exits_one_and_names_the_broken_rule() {
    let body = "000201010211520441115303156540612.3455802CN5902NA6002BJ6304";
    let payload = format!("{body}{:04X}", emvqr::crc16(body));
    let (ok, decoded, _) = qr(&["decode", &payload], None);
    assert!(!ok);
    let fields: Vec<&str> = decoded["refusals"].as_array().unwrap().iter().map(|r| r["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["02-51", "54"], "no merchant account, and CNY has two decimals: {decoded}");
}

#[test]
fn encode_builds_a_payload_that_decodes_to_its_scheme() {
    let spec = r#"{"objects":[{"id":"00","value":"01"},{"id":"01","value":"11"},{"id":"26","template":[{"id":"00","value":"hk.com.hkicl"},{"id":"02","value":"1234567"}]},{"id":"52","value":"0000"},{"id":"53","value":"344"},{"id":"58","value":"HK"},{"id":"59","value":"NA"},{"id":"60","value":"HK"}]}"#;
    let (ok, _, payload) = qr(&["encode"], Some(spec));
    assert!(ok, "{payload}");
    let (ok, decoded, _) = qr(&["decode", payload.trim()], None);
    assert!(ok, "{decoded}");
    assert_eq!((decoded["schemes"][0]["scheme"].as_str(), decoded["schemes"][0]["fps_id"].as_str()), (Some("fps"), Some("1234567")));
}

#[test]
fn the_wallet_decodes_what_its_camera_read_and_refuses_an_oversized_payload() {
    use crate::support::*;
    let env = Env::sqlite("qr_decode_over_http");
    let server = env.serve_with(&[], WALLET_ENV);
    let w = Wallet::register(server.port, "+8613900009999", "Scanner");
    let r = w.post("/api/v1/qr/decode", &serde_json::json!({"payload": EMVCO_SAMPLE}).to_string());
    assert_eq!((r.status, r.json()["valid"].as_bool()), (200, Some(true)), "{}", r.body);
    let broken = w.post("/api/v1/qr/decode", &serde_json::json!({"payload": EMVCO_SAMPLE.replace("A13A", "A13B")}).to_string());
    assert_eq!((broken.status, broken.json()["valid"].as_bool()), (200, Some(false)), "{}", broken.body);
    let huge = w.post("/api/v1/qr/decode", &serde_json::json!({"payload": "0".repeat(513)}).to_string());
    assert_eq!((huge.status, huge.json()["field"].as_str()), (400, Some("payload")), "{}", huge.body);
}
