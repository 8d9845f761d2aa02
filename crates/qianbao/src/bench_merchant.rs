//! `qianbao bench merchant`: merchant payments end to end over HTTP, signed both ways. The server runs as
//! a child process; this process is the merchant and the payers. Each payment is:
//!
//! 1. the merchant's signed `POST /v3/pay/transactions/native` (RSA-SHA256 over the request, as the SDKs
//!    sign), whose signed answer is verified with the platform certificate;
//! 2. a payer's wallet paying the `code_url` (PIN, limits, the guarded ledger chain, the outbox row);
//! 3. the `TRANSACTION.SUCCESS` notification the dispatcher POSTs to the merchant's notify_url (served
//!    by this process), counted when it arrives.
//!
//! The figure reported is payments per second from the first order to the last notification received.

use crate::bench_wallet::{Http, Person, field, in_parallel, key, percentile, person, start_server};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[derive(Debug, Clone, clap::Args)]
pub struct MerchantBench {
    /// Payers (each funded with 1000.00 CNY).
    #[arg(long, default_value_t = 200)]
    pub people: usize,
    /// Payments to make.
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// Concurrent keep-alive connections (each one a merchant till paying in a loop).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Database for the server (emptied first). Default: a fresh SQLite file under ./qianbao-bench.
    #[arg(long)]
    pub database: Option<String>,
}

const TOKEN: &str = "bench-operator-token-0123456789";
const MCHID: &str = "1900000109";
const APPID: &str = "wxd678efh567hg6787";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

struct Merchant {
    key: wxpay::SigningKey,
    platform: Vec<(String, wxpay::VerifyingKey)>,
}

impl Merchant {
    fn authorization(&self, method: &str, target: &str, body: &str) -> String {
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let nonce = wxpay::random_alphanumeric(32);
        let signature = self.key.sign(&wxpay::request_message(method, target, timestamp, &nonce, body.as_bytes()));
        wxpay::Authorization { mchid: MCHID.into(), nonce, timestamp, serial_no: SERIAL.into(), signature }.to_header()
    }
}

/// The merchant's notify_url: answers 200 to every POST, counts them.
async fn receiver(received: Arc<AtomicU64>) -> Result<u16, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    let mut length = 0usize;
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    received.fetch_add(1, Ordering::Relaxed);
                    if reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}

pub fn run(args: &MerchantBench) -> Result<(), String> {
    if args.people == 0 || args.connections == 0 || args.requests == 0 {
        return Err("need people >= 1, connections >= 1, requests >= 1".into());
    }
    let url = match &args.database {
        Some(u) => store::DatabaseUrl::parse(u).map_err(|e| e.to_string())?,
        None => store::DatabaseUrl::Sqlite("./qianbao-bench/merchant.db".into()),
    };
    crate::bench::fresh_database(&url)?;
    let data_dir = std::path::PathBuf::from("./qianbao-bench/merchant-data");
    let _ = std::fs::remove_dir_all(&data_dir);
    let (_server, port) = start_server(&url, &data_dir, 100)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    println!("qianbao bench merchant: order + payment + notification over HTTP, {} payers, {}", args.people, url.redacted());
    runtime.block_on(bench(port, args))
}

async fn admin(http: &mut Http, method: &str, path: &str, body: &str) -> Result<String, String> {
    let (status, body) = http.call(method, path, Some(TOKEN), None, body).await.map_err(|e| e.to_string())?;
    if !(200..300).contains(&status) {
        return Err(format!("{method} {path}: {status} {body}"));
    }
    Ok(body)
}

async fn bench(port: u16, args: &MerchantBench) -> Result<(), String> {
    let started = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let notify_url = format!("http://127.0.0.1:{}/notify", receiver(received.clone()).await?);
    let mut http = Http::connect(port).await.map_err(|e| e.to_string())?;
    admin(
        &mut http,
        "POST",
        "/admin/api/merchants",
        &format!(r#"{{"mchid":"{MCHID}","name":"Bench Shop","mcc":"5411","country":"CN","settlement_currency":"CNY","fee_bps":60,"settlement_account":"6222020000000000000"}}"#),
    )
    .await?;
    let signing_key = wxpay::SigningKey::generate();
    let body = serde_json::json!({"pem": signing_key.public_key_pem(), "serial_no": SERIAL}).to_string();
    admin(&mut http, "POST", &format!("/admin/api/merchants/{MCHID}/keys"), &body).await?;
    admin(
        &mut http,
        "POST",
        &format!("/admin/api/merchants/{MCHID}/apps"),
        &format!(r#"{{"appid":"{APPID}","kind":"web","name":"Bench"}}"#),
    )
    .await?;
    let keys: serde_json::Value =
        serde_json::from_str(&admin(&mut http, "GET", "/admin/api/platform-keys", "").await?).map_err(|e| e.to_string())?;
    let mut platform = Vec::new();
    for c in keys["certificates"].as_array().into_iter().flatten() {
        let (key, _, serial) = wxpay::VerifyingKey::from_pem(c["certificate_pem"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
        platform.push((serial.unwrap_or_default(), key));
    }
    let merchant = Arc::new(Merchant { key: signing_key, platform });
    let payers: Arc<Vec<Person>> = Arc::new(in_parallel(args.people, 32, move |i| person(port, 500_000 + i, true)).await?);
    println!("setup: a merchant, {} funded payers, in {:.1} s", args.people, started.elapsed().as_secs_f64());

    let next = Arc::new(AtomicU64::new(0));
    let total = args.requests as u64;
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        let (merchant, payers, next, notify_url) = (merchant.clone(), payers.clone(), next.clone(), notify_url.clone());
        set.spawn(async move {
            let mut http = Http::connect(port).await.map_err(|e| e.to_string())?;
            let (mut order_latency, mut pay_latency) = (Vec::new(), Vec::new());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let path = "/v3/pay/transactions/native";
                let body = format!(
                    r#"{{"appid":"{APPID}","mchid":"{MCHID}","description":"bench","out_trade_no":"B{n:012}","notify_url":"{notify_url}","amount":{{"total":1,"currency":"CNY"}}}}"#
                );
                let t = Instant::now();
                let (status, answer, headers) = http
                    .call_with_headers("POST", path, &[("Authorization", &merchant.authorization("POST", path, &body))], &body)
                    .await
                    .map_err(|e| e.to_string())?;
                if status != 200 {
                    return Err(format!("order: {status} {answer}"));
                }
                verify(&merchant, &headers, &answer)?;
                order_latency.push(t.elapsed());
                let code_url = field(&answer, "code_url")?;
                let payer = &payers[(n as usize) % payers.len()];
                let t = Instant::now();
                let (status, answer) = http
                    .call(
                        "POST",
                        "/api/v1/merchant-payments",
                        Some(&payer.token),
                        Some(&key()),
                        &format!(r#"{{"code_url":"{code_url}","pin":"135790"}}"#),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if status != 201 {
                    return Err(format!("payment: {status} {answer}"));
                }
                pay_latency.push(t.elapsed());
            }
            Ok::<_, String>((order_latency, pay_latency))
        });
    }
    let (mut orders, mut payments) = (Vec::new(), Vec::new());
    while let Some(joined) = set.join_next().await {
        let (o, p) = joined.map_err(|e| e.to_string())??;
        orders.extend(o);
        payments.extend(p);
    }
    let paid_in = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.load(Ordering::Relaxed) < total {
        if Instant::now() > deadline {
            return Err(format!("only {} of {total} notifications arrived within 120 s", received.load(Ordering::Relaxed)));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    orders.sort_unstable();
    payments.sort_unstable();
    println!(
        "{total} payments (order + payment + notification) in {elapsed:.2} s = {:.0}/s over {} connections; orders and payments done in {paid_in:.2} s ({:.0}/s)",
        total as f64 / elapsed,
        args.connections,
        total as f64 / paid_in
    );
    println!(
        "latency ms: signed order p50 {:.1} p99 {:.1}; wallet payment p50 {:.1} p99 {:.1}",
        percentile(&orders, 0.5),
        percentile(&orders, 0.99),
        percentile(&payments, 0.5),
        percentile(&payments, 0.99)
    );
    Ok(())
}

/// The merchant's check of a signed answer (what every SDK does).
fn verify(merchant: &Merchant, headers: &[(String, String)], body: &str) -> Result<(), String> {
    let h = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).ok_or(format!("{name} missing"));
    let key = merchant.platform.iter().find(|(s, _)| s == h("wechatpay-serial").unwrap_or("")).ok_or("unknown platform serial")?;
    let timestamp: i64 = h("wechatpay-timestamp")?.parse().map_err(|_| "bad timestamp")?;
    let signature = wxpay::base64::decode(h("wechatpay-signature")?).ok_or("signature not base64")?;
    key.1.verify(&wxpay::response_message(timestamp, h("wechatpay-nonce")?, body.as_bytes()), &signature).map_err(|e| e.to_string())
}
