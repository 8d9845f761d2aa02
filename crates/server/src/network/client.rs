//! Qianbao calling a partner network over HTTP: every request signed, every answer's signature checked,
//! a timeout on each call (an unanswered payment is `Unknown`, asked about again later).

use super::{BODY_BYTES_MAX, amount_json, amount_of, signature, signature_header};
use platform::networks::{Identified, NetworkConfig, NetworkConnector, NetworkOutcome, SettlementLine};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who Qianbao is to the networks.
pub const CLIENT_ID: &str = "qianbao";

pub struct HttpNetwork {
    config: NetworkConfig,
    agent: ureq::Agent,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl HttpNetwork {
    pub fn new(config: NetworkConfig) -> HttpNetwork {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(config.timeout_ms)))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent("Qianbao-Networks/1.0")
            .build()
            .into();
        HttpNetwork { config, agent }
    }

    /// One signed call; the answer's body once its signature verifies.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.config.url.trim_end_matches('/'));
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let time = now_ms();
        let sig = signature_header(&signature(&self.config.key, method, path, CLIENT_ID, time, &bytes));
        let request = |r: ureq::RequestBuilder<ureq::typestate::WithBody>| {
            r.header("Client-Id", CLIENT_ID)
                .header("Request-Time", time.to_string())
                .header("Signature", &sig)
                .header("Content-Type", "application/json")
        };
        let response = if method == "GET" {
            self.agent.get(&url).header("Client-Id", CLIENT_ID).header("Request-Time", time.to_string()).header("Signature", &sig).call()
        } else {
            request(self.agent.post(&url)).send(&bytes[..])
        };
        let mut response = response.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.body_mut().with_config().limit(BODY_BYTES_MAX as u64).read_to_string().map_err(|e| e.to_string())?;
        let signer = super::verify(&self.config.key, method, path, &headers, text.as_bytes(), now_ms())
            .map_err(|e| format!("the answer's signature: {e}"))?;
        // An answer is the network's own (never a request of ours played back to us).
        if signer != self.config.id {
            return Err(format!("the answer is signed as {signer:?}, not as the network {}", self.config.id));
        }
        if status >= 500 {
            return Err(format!("HTTP {status}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("the answer is not JSON: {e}"))
    }
}

/// An answer about another payment than the one asked about is no answer (a replay, a network bug).
fn about(answer: &Value, request_id: &str) -> Result<(), String> {
    match answer["paymentRequestId"].as_str() {
        Some(id) if id == request_id => Ok(()),
        other => Err(format!("the answer is about payment {other:?}, not {request_id}")),
    }
}

fn outcome_of(answer: &Value) -> NetworkOutcome {
    let result = &answer["result"];
    let message = result["resultMessage"].as_str().unwrap_or("").to_string();
    match result["resultStatus"].as_str() {
        Some("S") => NetworkOutcome::Succeeded { reference: answer["paymentId"].as_str().unwrap_or_default().to_string() },
        Some("F") => NetworkOutcome::Declined { reason: format!("{}: {message}", result["resultCode"].as_str().unwrap_or("DECLINED")) },
        _ => NetworkOutcome::Unknown { why: format!("the network says {}", result["resultCode"].as_str().unwrap_or("nothing")) },
    }
}

impl NetworkConnector for HttpNetwork {
    fn config(&self) -> &NetworkConfig {
        &self.config
    }

    fn identify(&self, code: &str) -> Result<Option<Identified>, String> {
        let answer = self.call("POST", "/v1/codes/identify", Some(&json!({"codeValue": code})))?;
        if answer["result"]["resultStatus"] == "F" {
            let r = &answer["result"];
            return Err(format!("refused: {} {}", r["resultCode"].as_str().unwrap_or(""), r["resultMessage"].as_str().unwrap_or("")));
        }
        if answer["supported"] != Value::Bool(true) {
            return Ok(None);
        }
        let m = &answer["merchant"];
        let currency = money::Currency::from_code(answer["currency"].as_str().unwrap_or("")).map_err(|_| "the answer's currency")?;
        let amount = match &answer["amount"] {
            Value::Null => None,
            given => Some(
                amount_of(given)
                    .filter(|a| a.is_positive() && a.currency() == currency)
                    .ok_or("the answer's amount is not positive in its currency")?,
            ),
        };
        let text = |v: &Value, what: &str, max: usize| -> Result<String, String> {
            v.as_str().filter(|t| !t.is_empty() && t.chars().count() <= max).map(str::to_string).ok_or(format!("the answer's {what}"))
        };
        Ok(Some(Identified {
            merchant_name: text(&m["name"], "merchant name", 100)?,
            country: text(&m["country"], "country", 2)?,
            mcc: text(&m["mcc"], "merchant category", 4).unwrap_or_else(|_| "0000".into()),
            amount,
            currency,
        }))
    }

    fn pay(&self, request_id: &str, code: &str, amount: money::Money, expires_at_ms: i64) -> NetworkOutcome {
        let body = json!({"paymentRequestId": request_id, "codeValue": code, "paymentAmount": amount_json(amount), "paymentExpiryTime": expires_at_ms});
        match self.call("POST", "/v1/payments/pay", Some(&body)).and_then(|a| about(&a, request_id).map(|()| a)) {
            Ok(answer) => outcome_of(&answer),
            Err(why) => NetworkOutcome::Unknown { why },
        }
    }

    fn inquire(&self, request_id: &str) -> Result<Option<NetworkOutcome>, String> {
        let answer = self.call("POST", "/v1/payments/inquiry", Some(&json!({"paymentRequestId": request_id})))?;
        about(&answer, request_id)?;
        Ok(match answer["paymentStatus"].as_str() {
            Some("SUCCESS") => Some(NetworkOutcome::Succeeded { reference: answer["paymentId"].as_str().unwrap_or_default().to_string() }),
            Some("FAIL") => Some(NetworkOutcome::Declined { reason: answer["failureReason"].as_str().unwrap_or("FAIL").to_string() }),
            Some("NOT_FOUND") => None,
            _ => Some(NetworkOutcome::Unknown { why: "still processing".into() }),
        })
    }

    fn settlement(&self, day: &str) -> Result<Vec<SettlementLine>, String> {
        let answer = self.call("GET", &format!("/v1/settlements/{day}"), None)?;
        let lines = answer["lines"].as_array().ok_or("the report has no lines")?;
        lines
            .iter()
            .map(|l| {
                Ok(SettlementLine {
                    request_id: l["paymentRequestId"].as_str().ok_or("a line without paymentRequestId")?.to_string(),
                    direction: l["direction"].as_str().ok_or("a line without direction")?.to_string(),
                    amount: amount_of(&l["amount"]).ok_or("a line without a valid amount")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_about_another_payment_is_no_answer() {
        assert!(about(&json!({"paymentRequestId": "P1"}), "P1").is_ok());
        assert!(about(&json!({"paymentRequestId": "P2"}), "P1").is_err());
        assert!(about(&json!({"paymentStatus": "SUCCESS"}), "P1").is_err());
    }
}
