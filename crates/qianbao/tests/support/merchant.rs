//! A merchant for tests: onboarded through the operator API with a key generated here, signing its
//! requests as WeChat Pay SDKs do, checking every signed response, and a notification receiver.
#![allow(dead_code)]

use super::*;
use std::io::BufRead;
use std::sync::mpsc;

pub struct TestMerchant {
    pub port: u16,
    pub mchid: String,
    pub appid: String,
    pub serial: String,
    pub key: wxpay::SigningKey,
    pub apiv3_key: String,
    /// Platform serial → key, from the operator API (certificates and the public key).
    pub platform_keys: Vec<(String, wxpay::VerifyingKey)>,
}

static MCHID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1_600_000_000);

impl TestMerchant {
    pub fn onboard(port: u16, fee_bps: i64) -> TestMerchant {
        TestMerchant::onboard_as(port, fee_bps, "direct")
    }

    /// `kind`: direct or service_provider.
    pub fn onboard_as(port: u16, fee_bps: i64, kind: &str) -> TestMerchant {
        TestMerchant::onboard_in(port, fee_bps, kind, "CN", "CNY")
    }

    /// A merchant of `country`, settled in `currency`.
    pub fn onboard_in(port: u16, fee_bps: i64, kind: &str, country: &str, currency: &str) -> TestMerchant {
        let mchid = MCHID.fetch_add(1, std::sync::atomic::Ordering::SeqCst).to_string();
        let body = format!(
            r#"{{"mchid":"{mchid}","kind":"{kind}","name":"Shop {mchid}","mcc":"5411","country":"{country}","settlement_currency":"{currency}","fee_bps":{fee_bps},"settlement_account":"6222020000000000000"}}"#
        );
        let r = post(port, "/admin/api/merchants", &body);
        assert_eq!(r.status, 201, "{}", r.body);
        let apiv3_key = r.json()["apiv3_key"].as_str().unwrap().to_string();
        let key = wxpay::SigningKey::generate();
        let serial = format!("5E57F09EFDC096DE15EBE81A4705{}", &mchid[..10]);
        let body = serde_json::json!({"pem": key.public_key_pem(), "serial_no": serial}).to_string();
        let r = post(port, &format!("/admin/api/merchants/{mchid}/keys"), &body);
        assert_eq!(r.status, 201, "{}", r.body);
        let appid = format!("wx{mchid}app");
        let r = post(
            port,
            &format!("/admin/api/merchants/{mchid}/apps"),
            &format!(r#"{{"appid":"{appid}","kind":"mini_program","name":"Mini"}}"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let mut m = TestMerchant { port, mchid, appid, serial, key, apiv3_key, platform_keys: Vec::new() };
        m.refresh_platform_keys();
        m
    }

    pub fn refresh_platform_keys(&mut self) {
        let keys = get(self.port, "/admin/api/platform-keys").json();
        let mut out = Vec::new();
        for c in keys["certificates"].as_array().unwrap() {
            let (key, _, serial) = wxpay::VerifyingKey::from_pem(c["certificate_pem"].as_str().unwrap()).unwrap();
            assert_eq!(serial.as_deref(), c["serial_no"].as_str(), "a certificate's serial is the one it is listed under");
            out.push((serial.unwrap(), key));
        }
        let pk = &keys["public_key"];
        out.push((
            pk["public_key_id"].as_str().unwrap().to_string(),
            wxpay::VerifyingKey::from_spki_pem(pk["public_key_pem"].as_str().unwrap()).unwrap(),
        ));
        self.platform_keys = out;
    }

    pub fn authorization(&self, method: &str, target: &str, body: &str, timestamp: i64, nonce: &str) -> String {
        let message = wxpay::request_message(method, target, timestamp, nonce, body.as_bytes());
        wxpay::Authorization {
            mchid: self.mchid.clone(),
            nonce: nonce.to_string(),
            timestamp,
            serial_no: self.serial.clone(),
            signature: self.key.sign(&message),
        }
        .to_header()
    }

    /// A signed request; a 2xx answer is checked to carry a valid platform signature.
    pub fn call(&self, method: &str, target: &str, body: &str) -> Response {
        let header = self.authorization(method, target, body, now_s(), &wxpay::random_alphanumeric(32));
        let r = self.raw(method, target, body, &[("Authorization", &header)]);
        if (200..300).contains(&r.status) {
            self.check_signed(&r);
        }
        r
    }

    pub fn raw(&self, method: &str, target: &str, body: &str, headers: &[(&str, &str)]) -> Response {
        request_with(self.port, method, target, None, (!body.is_empty()).then_some(body), headers).unwrap()
    }

    /// The five Wechatpay-* headers are there and the signature verifies over the exact body.
    pub fn check_signed(&self, r: &Response) {
        let h = |n: &str| r.header(n).unwrap_or_else(|| panic!("{n} missing on a {} answer", r.status)).to_string();
        assert_eq!(h("wechatpay-signature-type"), "WECHATPAY2-SHA256-RSA2048");
        let serial = h("wechatpay-serial");
        let key = self.platform_keys.iter().find(|(s, _)| *s == serial).unwrap_or_else(|| panic!("unknown platform serial {serial}"));
        let timestamp: i64 = h("wechatpay-timestamp").parse().unwrap();
        assert!((timestamp - now_s()).abs() < 300);
        let signature = wxpay::base64::decode(&h("wechatpay-signature")).unwrap();
        key.1
            .verify(&wxpay::response_message(timestamp, &h("wechatpay-nonce"), r.body.as_bytes()), &signature)
            .expect("the response signature verifies");
        assert!(r.header("request-id").is_some());
    }

    /// A sub-merchant of this service provider (no keys of its own: the provider calls for it).
    pub fn sub_merchant(&self) -> String {
        self.sub_merchant_in("CN", "CNY")
    }

    /// A sub-merchant of `country`, settled in `currency`.
    pub fn sub_merchant_in(&self, country: &str, currency: &str) -> String {
        let mchid = MCHID.fetch_add(1, std::sync::atomic::Ordering::SeqCst).to_string();
        let body = format!(
            r#"{{"mchid":"{mchid}","kind":"sub_merchant","parent_mchid":"{}","name":"Sub {mchid}","mcc":"5812","country":"{country}","settlement_currency":"{currency}","fee_bps":30,"settlement_account":"6222020000000000001"}}"#,
            self.mchid
        );
        let r = post(self.port, "/admin/api/merchants", &body);
        assert_eq!(r.status, 201, "{}", r.body);
        mchid
    }

    /// A Native order; its code_url.
    pub fn native_order(&self, out_trade_no: &str, total: i64, notify_url: &str) -> String {
        let r = self.call("POST", "/v3/pay/transactions/native", &self.order_body(out_trade_no, total, notify_url));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["code_url"].as_str().unwrap().to_string()
    }

    pub fn order_body(&self, out_trade_no: &str, total: i64, notify_url: &str) -> String {
        serde_json::json!({
            "appid": self.appid, "mchid": self.mchid, "description": "Image形象店-深圳腾大-QQ公仔", "out_trade_no": out_trade_no,
            "notify_url": notify_url, "amount": {"total": total, "currency": "CNY"}
        })
        .to_string()
    }

    pub fn query(&self, out_trade_no: &str) -> Response {
        self.call("GET", &format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}", self.mchid), "")
    }

    pub fn refund(&self, out_trade_no: &str, out_refund_no: &str, refund: i64, total: i64) -> Response {
        let body = serde_json::json!({"out_trade_no": out_trade_no, "out_refund_no": out_refund_no, "amount": {"refund": refund, "total": total, "currency": "CNY"}});
        self.call("POST", "/v3/refund/domestic/refunds", &body.to_string())
    }

    /// Check a notification's signature and decrypt its resource.
    pub fn open_notification(&self, n: &Received) -> serde_json::Value {
        let h = |name: &str| n.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(h("wechatpay-signature-type"), "WECHATPAY2-SHA256-RSA2048");
        let key = self.platform_keys.iter().find(|(s, _)| *s == h("wechatpay-serial")).expect("a known platform serial");
        let signature = wxpay::base64::decode(&h("wechatpay-signature")).unwrap();
        let message = wxpay::response_message(h("wechatpay-timestamp").parse().unwrap(), &h("wechatpay-nonce"), n.body.as_bytes());
        key.1.verify(&message, &signature).expect("the notification signature verifies");
        let opened =
            wxpay::open_notification(n.body.as_bytes(), self.apiv3_key.as_bytes()).expect("the resource decrypts with the APIv3 key");
        let mut out = opened.envelope;
        out["resource"] = serde_json::from_slice(&opened.resource).unwrap();
        out
    }
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A notification as the merchant's server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A merchant's notify_url: answers each delivery with the next scripted status (200 once the script
/// runs out) and hands what it received to the test.
pub struct Receiver {
    pub url: String,
    pub rx: mpsc::Receiver<Received>,
}

impl Receiver {
    pub fn start(statuses: Vec<u16>) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/notify", listener.local_addr().unwrap().port());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut headers = Vec::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((n, v)) = line.split_once(':') {
                        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let length: usize = headers.iter().find(|(n, _)| n == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                let status = statuses.next().unwrap_or(200);
                let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                if tx.send(Received { headers, body: String::from_utf8(body).unwrap() }).is_err() {
                    return;
                }
            }
        });
        Receiver { url, rx }
    }

    pub fn next(&self, within: Duration) -> Received {
        self.rx.recv_timeout(within).expect("a notification arrives")
    }
}
