//! The OpenAPI document is the contract: every operation it lists is fuzzed from the document itself
//! (its path, query and body schemas, with and without credentials and Idempotency-Keys), and every
//! answer must carry a status that operation documents, as the documented JSON error when it is one,
//! and never an internal error.

use crate::support::*;
use serde_json::{Value, json};

/// Requests per operation.
const CASES_PER_OPERATION: usize = 24;

/// A small deterministic generator (xorshift64*): the same seed fuzzes the same way on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const STRINGS: [&str; 12] =
    ["", "0", "1", "-1", "abc", "12.345", "99999999999999999999999", "CNY", "%00", "\u{1F9E7}", "' OR 1=1 --", "1e9"];

/// A value for a schema: usually of the right type, sometimes not.
fn value(rng: &mut Rng, schema: &Value) -> Value {
    if rng.below(5) == 0 {
        return rng
            .pick(&[json!(null), json!(true), json!([1, 2]), json!({"a": 1}), json!(-1), json!(1.5), json!("x".repeat(300))])
            .clone();
    }
    if let Some(choices) = schema["enum"].as_array() {
        return choices[rng.below(choices.len())].clone();
    }
    match schema["type"].as_str() {
        Some("integer") => json!(rng.pick(&[0i64, 1, 2, -1, 5, 12, 2099, 100_000, i64::MAX, i64::MIN])),
        Some("array") => json!([value(rng, &schema["items"]), value(rng, &schema["items"])]),
        _ => json!(rng.pick(&STRINGS)),
    }
}

fn body(rng: &mut Rng, op: &Value) -> Option<String> {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let Some(properties) = schema["properties"].as_object() else {
        return rng.pick(&[None, Some("{}".to_string()), Some("[]".to_string())]).clone();
    };
    match rng.below(10) {
        0 => return Some("{not json".into()),
        1 => return Some(String::new()),
        2 => return Some("\"a string\"".into()),
        _ => {}
    }
    let mut out = serde_json::Map::new();
    for (name, property) in properties {
        if rng.below(4) != 0 {
            out.insert(name.clone(), value(rng, property));
        }
    }
    if rng.below(8) == 0 {
        out.insert("unexpected".into(), json!(1));
    }
    Some(Value::Object(out).to_string())
}

/// The path with its parameters filled in, and a query string from the documented parameters.
fn target(rng: &mut Rng, path: &str, op: &Value) -> String {
    let mut concrete = path.to_string();
    while let (Some(open), Some(close)) = (concrete.find('{'), concrete.find('}')) {
        let filler = rng.pick(&["1", "0", "2026-11", "99999999999999999999999", "abc", "-5", "%2e%2e"]).to_string();
        concrete.replace_range(open..=close, &filler);
    }
    let mut query = Vec::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] == "query" && rng.below(2) == 0 {
            let v = value(rng, &p["schema"]);
            let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            query.push(format!("{}={}", p["name"].as_str().unwrap(), percent_encoded(&text)));
        }
    }
    if query.is_empty() { concrete } else { format!("{concrete}?{}", query.join("&")) }
}

/// As a client sends a query value (an HTTP parser refuses raw quotes and braces before any API sees them).
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[test]
fn every_answer_of_every_documented_operation_is_documented() {
    let env = Env::sqlite("openapi_fuzz");
    let server = env.serve_with(&[], WALLET_ENV);
    let person = Wallet::register(server.port, "+8613900002001", "Fuzzy");
    person.set_pin("135790");
    person.top_up("100.00", "135790");
    let doc = request(server.port, "GET", "/openapi.json", None, None).unwrap().json();
    // QIANBAO_FUZZ_SEED explores further; CI runs the fixed seed.
    let seed = std::env::var("QIANBAO_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_F0A1_u64);
    let mut rng = Rng(seed.max(1));
    let mut requests = 0;
    let mut ops = operators(server.port).0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let documented: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            for _ in 0..CASES_PER_OPERATION {
                let operator = path.starts_with("/admin/");
                let token = match rng.below(6) {
                    0 => None,
                    1 => Some("not-a-token"),
                    _ if operator => Some(ops.as_str()),
                    _ => Some(person.token.as_str()),
                };
                let key = format!("fuzz-{}", rng.next());
                let long_key = "k".repeat(65);
                let mut headers: Vec<(&str, &str)> = match rng.below(4) {
                    0 => vec![],
                    1 => vec![("Idempotency-Key", long_key.as_str())],
                    _ => vec![("Idempotency-Key", key.as_str())],
                };
                if operator && rng.below(4) != 0 {
                    headers.push(("Qianbao-Reason", REASON));
                }
                let (target, body) = (target(&mut rng, path, op), body(&mut rng, op));
                let r = request_with(server.port, &method.to_uppercase(), &target, token, body.as_deref(), &headers).unwrap();
                requests += 1;
                let case = format!(
                    "{} {target} (token {token:?}, headers {headers:?}, body {body:?}) answered {}: {}",
                    method.to_uppercase(),
                    r.status,
                    r.body
                );
                assert!(documented.iter().any(|s| **s == r.status.to_string()), "undocumented status: {case}");
                assert_ne!(r.status, 500, "hostile input is never an internal error: {case}");
                if r.status >= 400 {
                    let error: Value = serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("an error is JSON: {case}"));
                    assert!(error["code"].is_string() && error["message"].is_string(), "an error has a code and a message: {case}");
                }
                if path == "/admin/api/sessions/current" && r.status == 204 {
                    // The fuzzer signed its operator out: sign in again to keep reaching the operator routes.
                    ops = sign_in_operator(server.port, "ops", OPERATOR_PASSWORD).expect("signs in again");
                }
            }
        }
    }
    assert!(requests > 1_000, "{requests} requests");
}
