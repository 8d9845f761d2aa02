//! A partner network that behaves like a real one, over real HTTP on its own port: a Thai network
//! whose merchants show PromptPay codes in THB, and whose wallet can pay Qianbao's merchants. It
//! checks Qianbao's signatures and signs its answers. Its test amounts (the last two digits of the
//! amount in minor units) make it act as networks do:
//! - `..13`: declined (the merchant's limit);
//! - `..99`: paid, but the answer comes after `slow_ms` (Qianbao times out and must ask again);
//! - `..77`: paid, and its settlement report books one minor unit more (a network-side error for the
//!   reconciliation to find);
//! - anything else: paid at once.
//!
//! `POST /sandbox/v1/wallet/pay` makes its wallet pay a code (identify, then pay, at Qianbao), and
//! `POST /sandbox/v1/report-lines` adds a line only the network booked.

use super::{amount_json, amount_of, result, signature, signature_header};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use money::{Currency, Money};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// PromptPay's identifier: the sandbox's merchants are Thai.
pub const PROMPTPAY_GUID: &str = "A000000677010111";

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The network's id at Qianbao (its Client-Id).
    pub id: String,
    pub key: String,
    /// Where its wallet reaches Qianbao (for paying Qianbao's merchants).
    pub qianbao_url: String,
    /// How long a `..99` payment keeps Qianbao waiting.
    pub slow_ms: u64,
}

/// One of the sandbox's merchants: a PromptPay proxy (a mobile number).
#[derive(Debug, Clone)]
pub struct SandboxMerchant {
    pub name: &'static str,
    pub city: &'static str,
    pub mcc: &'static str,
    pub mobile: &'static str,
}

pub const MERCHANTS: [SandboxMerchant; 2] = [
    SandboxMerchant { name: "Som Tam Nong Bee", city: "Bangkok", mcc: "5812", mobile: "0066812345678" },
    SandboxMerchant { name: "Chatuchak Books", city: "Bangkok", mcc: "5942", mobile: "0066898765432" },
];

#[derive(Debug, Clone)]
struct Payment {
    direction: &'static str,
    code: String,
    amount: Money,
    /// What the report books (the amount, or one minor unit more for `..77`).
    reported: Money,
    status: &'static str,
    payment_id: String,
    at_ms: i64,
}

pub struct Sandbox {
    config: SandboxConfig,
    payments: Mutex<HashMap<String, Payment>>,
    extra_lines: Mutex<Vec<(i64, Value)>>,
    agent: ureq::Agent,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A merchant's PromptPay code: static, or dynamic with an amount in THB.
pub fn promptpay_code(m: &SandboxMerchant, amount: Option<Money>) -> String {
    let mut p = emvqr::Payload::default();
    p.set(0, Some("01".into()));
    p.set(1, Some(if amount.is_some() { "12" } else { "11" }.into()));
    p.set(29, Some(emvqr::template(&[(0, PROMPTPAY_GUID), (1, m.mobile)])));
    p.set(52, Some(m.mcc.into()));
    p.set(53, Some("764".into()));
    p.set(54, amount.map(|a| a.to_decimal_string()));
    p.set(58, Some("TH".into()));
    p.set(59, Some(m.name.into()));
    p.set(60, Some(m.city.into()));
    p.build()
}

fn merchant_of(code: &str) -> Option<(&'static SandboxMerchant, Option<Money>)> {
    let p = emvqr::parse(code).ok()?;
    let mobile = emvqr::schemes(&p).into_iter().find_map(|(_, s)| match s {
        emvqr::Scheme::PromptPay { mobile, .. } => mobile,
        _ => None,
    })?;
    let merchant = MERCHANTS.iter().find(|m| m.mobile == mobile)?;
    let thb = Currency::from_code("THB").ok()?;
    let amount = match p.get(54) {
        Some(a) => Some(Money::parse(a, thb).ok()?),
        None => None,
    };
    Some((merchant, amount))
}

type St = State<Arc<Sandbox>>;

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Arc<Sandbox> {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        Arc::new(Sandbox { config, payments: Mutex::default(), extra_lines: Mutex::default(), agent })
    }

    pub fn router(self: &Arc<Sandbox>) -> Router {
        Router::new()
            .route("/v1/codes/identify", post(identify))
            .route("/v1/payments/pay", post(pay))
            .route("/v1/payments/inquiry", post(inquiry))
            .route("/v1/settlements/{day}", get(settlement))
            .route("/sandbox/v1/merchants", get(merchants))
            .route("/sandbox/v1/wallet/pay", post(wallet_pay))
            .route("/sandbox/v1/report-lines", post(report_line))
            .with_state(self.clone())
    }

    /// Serve on `listener` until the process ends.
    pub async fn serve(self: Arc<Sandbox>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        crate::http::serve(listener, self.router(), Duration::from_secs(10)).await
    }

    fn signed(&self, method: &str, path: &str, status: StatusCode, body: Value) -> Response {
        let bytes = body.to_string();
        let time = now_ms();
        let sig = signature_header(&signature(&self.config.key, method, path, &self.config.id, time, bytes.as_bytes()));
        let mut response = (status, bytes).into_response();
        let h = response.headers_mut();
        h.insert("content-type", "application/json".parse().expect("header"));
        h.insert("client-id", self.config.id.parse().expect("a network id is a header value"));
        h.insert("request-time", time.to_string().parse().expect("header"));
        h.insert("signature", sig.parse().expect("header"));
        response
    }

    /// Qianbao's request, once its signature verifies.
    fn checked(&self, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
        let signer = super::verify(&self.config.key, method, path, headers, body, now_ms()).map_err(|why| {
            self.signed(method, path, StatusCode::UNAUTHORIZED, json!({"result": result("INVALID_SIGNATURE", "F", &why)}))
        })?;
        if signer != super::client::CLIENT_ID {
            let refused = json!({"result": result("INVALID_CLIENT", "F", "only Qianbao calls this network's API")});
            return Err(Box::new(self.signed(method, path, StatusCode::UNAUTHORIZED, refused)));
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(body).map_err(|_| {
            Box::new(self.signed(method, path, StatusCode::BAD_REQUEST, json!({"result": result("PARAM_ILLEGAL", "F", "not JSON")})))
        })
    }

    /// Call Qianbao's network API as this network.
    fn call_qianbao(&self, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.config.qianbao_url.trim_end_matches('/'));
        let bytes = body.to_string();
        let time = now_ms();
        let sig = signature_header(&signature(&self.config.key, "POST", path, &self.config.id, time, bytes.as_bytes()));
        let mut response = self
            .agent
            .post(&url)
            .header("Client-Id", &self.config.id)
            .header("Request-Time", time.to_string())
            .header("Signature", &sig)
            .header("Content-Type", "application/json")
            .send(bytes.as_bytes())
            .map_err(|e| e.to_string())?;
        let headers = response.headers().clone();
        let text = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
        let signer = super::verify(&self.config.key, "POST", path, &headers, text.as_bytes(), now_ms())
            .map_err(|e| format!("Qianbao's signature: {e}"))?;
        if signer != super::client::CLIENT_ID {
            return Err(format!("the answer is signed as {signer:?}, not as Qianbao"));
        }
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
}

async fn identify(State(s): St, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let path = "/v1/codes/identify";
    let body = match s.checked("POST", path, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let answer = match body["codeValue"].as_str().and_then(merchant_of) {
        None => json!({"result": result("SUCCESS", "S", "not this network's code"), "supported": false}),
        Some((m, amount)) => json!({
            "result": result("SUCCESS", "S", "success"),
            "supported": true,
            "merchant": {"name": m.name, "country": "TH", "mcc": m.mcc, "city": m.city},
            "currency": "THB",
            "amount": amount.map(amount_json),
        }),
    };
    s.signed("POST", path, StatusCode::OK, answer)
}

fn payment_answer(request_id: &str, p: &Payment) -> Value {
    let status = match p.status {
        "SUCCESS" => result("SUCCESS", "S", "success"),
        _ => result("MERCHANT_LIMIT_EXCEEDED", "F", "the merchant cannot take this payment"),
    };
    json!({"result": status, "paymentRequestId": request_id, "paymentId": p.payment_id, "paymentStatus": if p.status == "SUCCESS" { "SUCCESS" } else { "FAIL" },
        "failureReason": (p.status != "SUCCESS").then_some("MERCHANT_LIMIT_EXCEEDED")})
}

async fn pay(State(s): St, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let path = "/v1/payments/pay";
    let body = match s.checked("POST", path, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (Some(request_id), Some(code), Some(amount)) =
        (body["paymentRequestId"].as_str(), body["codeValue"].as_str(), amount_of(&body["paymentAmount"]))
    else {
        return s.signed(
            "POST",
            path,
            StatusCode::BAD_REQUEST,
            json!({"result": result("PARAM_ILLEGAL", "F", "paymentRequestId, codeValue and paymentAmount"), "paymentRequestId": body["paymentRequestId"]}),
        );
    };
    // A payment asked for after its expiry is refused and not recorded (the payer's side may have
    // given the money back already).
    if body["paymentExpiryTime"].as_i64().is_some_and(|expiry| now_ms() > expiry)
        && !s.payments.lock().expect("sandbox payments").contains_key(request_id)
    {
        return s.signed(
            "POST",
            path,
            StatusCode::OK,
            json!({"result": result("PAYMENT_EXPIRED", "F", "asked for after its expiry"), "paymentRequestId": request_id}),
        );
    }
    let known = merchant_of(code);
    let fixed_differs = matches!(known, Some((_, Some(fixed))) if fixed != amount);
    if known.is_none() || fixed_differs || amount.currency().code() != "THB" {
        return s.signed(
            "POST",
            path,
            StatusCode::OK,
            json!({"result": result("INVALID_CODE", "F", "not this network's code, or not its amount in THB"), "paymentRequestId": request_id}),
        );
    }
    let (payment, first) = {
        let mut payments = s.payments.lock().expect("sandbox payments");
        match payments.get(request_id) {
            // Idempotent: the same request id answers the first payment (another code is refused).
            Some(p) if p.code == code && p.amount == amount => (p.clone(), false),
            Some(_) => {
                return s.signed(
                    "POST",
                    path,
                    StatusCode::OK,
                    json!({"result": result("REPEAT_REQ_INCONSISTENT", "F", "this paymentRequestId paid another code or amount"), "paymentRequestId": request_id}),
                );
            }
            None => {
                let tail = amount.minor() % 100;
                let reported = if tail == 77 { Money::from_minor(amount.minor() + 1, amount.currency()).unwrap_or(amount) } else { amount };
                let p = Payment {
                    direction: "out",
                    code: code.to_string(),
                    amount,
                    reported,
                    status: if tail == 13 { "FAIL" } else { "SUCCESS" },
                    payment_id: format!("SBX{}", now_ms() * 1000 + payments.len() as i64 % 1000),
                    at_ms: now_ms(),
                };
                payments.insert(request_id.to_string(), p.clone());
                (p, true)
            }
        }
    };
    if first && payment.amount.minor() % 100 == 99 {
        tokio::time::sleep(Duration::from_millis(s.config.slow_ms)).await;
    }
    s.signed("POST", path, StatusCode::OK, payment_answer(request_id, &payment))
}

async fn inquiry(State(s): St, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let path = "/v1/payments/inquiry";
    let body = match s.checked("POST", path, &headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let request_id = body["paymentRequestId"].as_str().unwrap_or_default();
    let found = s.payments.lock().expect("sandbox payments").get(request_id).cloned();
    let answer = match found {
        Some(p) => payment_answer(request_id, &p),
        None => json!({"result": result("SUCCESS", "S", "success"), "paymentRequestId": request_id, "paymentStatus": "NOT_FOUND"}),
    };
    s.signed("POST", path, StatusCode::OK, answer)
}

async fn settlement(State(s): St, Path(day): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/v1/settlements/{day}");
    if let Err(r) = s.checked("GET", &path, &headers, b"") {
        return *r;
    }
    let Ok(date) = day.parse::<jiff::civil::Date>() else {
        return s.signed("GET", &path, StatusCode::BAD_REQUEST, json!({"result": result("PARAM_ILLEGAL", "F", "a day is YYYY-MM-DD")}));
    };
    let from = date.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp().as_millisecond()).unwrap_or(0);
    let within = |at: i64| (from..from + 86_400_000).contains(&at);
    let mut lines: Vec<Value> = s
        .payments
        .lock()
        .expect("sandbox payments")
        .iter()
        .filter(|(_, p)| p.status == "SUCCESS" && within(p.at_ms))
        .map(|(id, p)| json!({"paymentRequestId": id, "direction": p.direction, "amount": amount_json(p.reported)}))
        .collect();
    lines.extend(s.extra_lines.lock().expect("extra lines").iter().filter(|(at, _)| within(*at)).map(|(_, l)| l.clone()));
    s.signed("GET", &path, StatusCode::OK, json!({"result": result("SUCCESS", "S", "success"), "lines": lines}))
}

async fn merchants() -> Json<Value> {
    let list: Vec<Value> =
        MERCHANTS.iter().map(|m| json!({"name": m.name, "city": m.city, "mcc": m.mcc, "static_code": promptpay_code(m, None)})).collect();
    Json(json!({"data": list}))
}

/// The sandbox's wallet pays a code at Qianbao: identify, then pay (`amount` in minor units when the
/// code has none), with a fresh payment request id; `paymentRequestId` may be given to repeat a call.
async fn wallet_pay(State(s): St, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "a JSON body").into_response();
    };
    let code = body["code"].as_str().unwrap_or_default().to_string();
    let request_id = body["paymentRequestId"].as_str().map(str::to_string).unwrap_or_else(|| format!("SBXW{}", now_ms()));
    let given = body["amount"].clone();
    let network = s.config.id.clone();
    let sandbox = s.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let identified = sandbox.call_qianbao(&format!("/networks/v1/{network}/codes/identify"), &json!({"codeValue": code}))?;
        if identified["supported"] != Value::Bool(true) {
            return Ok(json!({"identified": identified}));
        }
        let amount = match amount_of(&identified["amount"]) {
            Some(fixed) => amount_json(fixed),
            None => json!({"currency": identified["currency"], "value": given.as_str().unwrap_or("0")}),
        };
        let paid = sandbox.call_qianbao(
            &format!("/networks/v1/{network}/payments/pay"),
            &json!({"paymentRequestId": request_id, "codeValue": code, "paymentAmount": amount, "customerId": "sandbox-customer-1"}),
        )?;
        if paid["result"]["resultStatus"] == "S"
            && let Some(amount) = amount_of(&paid["paymentAmount"])
        {
            let p = Payment {
                direction: "in",
                code,
                amount,
                reported: amount,
                status: "SUCCESS",
                payment_id: request_id.clone(),
                at_ms: now_ms(),
            };
            sandbox.payments.lock().expect("sandbox payments").insert(request_id, p);
        }
        Ok(json!({"identified": identified, "paid": paid}))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match outcome {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"error": e}))).into_response(),
    }
}

/// A line only the network booked (for reconciliations to find).
async fn report_line(State(s): St, Json(line): Json<Value>) -> StatusCode {
    s.extra_lines.lock().expect("extra lines").push((now_ms(), line));
    StatusCode::CREATED
}
