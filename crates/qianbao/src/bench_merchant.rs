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
//!
//! `--cross-border` measures, in the same run and after the same-currency figure, the same flow on the
//! global API for a Hong Kong merchant pricing in HKD paid by the same CNY wallets: every payment then
//! prices through FX (reference rate, markup) and moves as one chain through both FX positions. The
//! ratio of the two figures is printed (the bar: at least 90%).

use crate::bench_wallet::{Http, Person, field, fresh_server, in_parallel, key, percentile, person};
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
    /// Also measure cross-currency payments (HKD merchant, CNY payers) and compare.
    #[arg(long)]
    pub cross_border: bool,
    #[command(flatten)]
    pub output: crate::report::Output,
}

/// RSA-2048 private-key operations per payment: the merchant signs its order request, Qianbao signs
/// its answer and the notification.
const SIGNATURES_PER_PAYMENT: f64 = 3.0;
/// The share of the RSA bound the project asks for (issue 15).
const RSA_BOUND_GOAL_RATIO: f64 = 0.9;

/// RSA-2048 signatures per second on every core at once (what bounds a payment here), measured by
/// signing for `seconds` on one thread per core.
fn rsa_signatures_per_s(seconds: f64) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let key = Arc::new(wxpay::SigningKey::generate());
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let key = key.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut signed = 0u64;
                while started.elapsed().as_secs_f64() < seconds {
                    std::hint::black_box(key.sign(b"POST\n/v3/pay/transactions/native\n1700000000\nnonce\n{}\n"));
                    signed += 1;
                }
                signed as f64 / started.elapsed().as_secs_f64()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().expect("a signing thread")).sum()
}

pub(crate) const TOKEN: &str = "bench-operator-token-0123456789";
pub(crate) const MCHID: &str = "1900000109";
const HK_MCHID: &str = "1900000110";
const HK_APPID: &str = "wxd678efh567hg6788";
pub(crate) const APPID: &str = "wxd678efh567hg6787";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

/// A merchant as the bench plays it: its ids, its signing key, the platform keys it verifies with.
pub(crate) struct Merchant {
    pub(crate) mchid: &'static str,
    pub(crate) appid: &'static str,
    pub(crate) key: Arc<wxpay::SigningKey>,
    pub(crate) platform: Vec<(String, wxpay::VerifyingKey)>,
}

impl Merchant {
    /// The order a payment starts with: its path and signed body.
    fn order(&self, n: u64, notify_url: &str) -> (&'static str, String) {
        let (mchid, appid) = (self.mchid, self.appid);
        if mchid == HK_MCHID {
            let body = format!(
                r#"{{"appid":"{appid}","mchid":"{mchid}","description":"bench","out_trade_no":"X{n:012}","notify_url":"{notify_url}","trade_type":"NATIVE","merchant_category_code":"5812","amount":{{"total":1,"currency":"HKD"}}}}"#
            );
            return ("/v3/global/transactions/native", body);
        }
        let body = format!(
            r#"{{"appid":"{appid}","mchid":"{mchid}","description":"bench","out_trade_no":"B{n:012}","notify_url":"{notify_url}","amount":{{"total":1,"currency":"CNY"}}}}"#
        );
        ("/v3/pay/transactions/native", body)
    }

    pub(crate) fn authorization(&self, method: &str, target: &str, body: &str) -> String {
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let nonce = wxpay::random_alphanumeric(32);
        let signature = self.key.sign(&wxpay::request_message(method, target, timestamp, &nonce, body.as_bytes()));
        wxpay::Authorization { mchid: self.mchid.into(), nonce, timestamp, serial_no: SERIAL.into(), signature }.to_header()
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
    let (_server, port, url) = fresh_server(args.database.as_deref(), "merchant", 100)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    say!("qianbao bench merchant: order + payment + notification over HTTP, {} payers, {}", args.people, url.redacted());
    runtime.block_on(bench(port, args))
}

/// An operator call (with the reason every change gives); the answer's body, or what went wrong.
pub(crate) async fn admin(http: &mut Http, token: &str, method: &str, path: &str, body: &str) -> Result<String, String> {
    let bearer = format!("Bearer {token}");
    let headers = [("Authorization", bearer.as_str()), ("Qianbao-Reason", "bench%20setup")];
    let (status, body, _) = http.call_with_headers(method, path, &headers, body).await.map_err(|e| e.to_string())?;
    if !(200..300).contains(&status) {
        return Err(format!("{method} {path}: {status} {body}"));
    }
    Ok(body)
}

/// The bench's operator session: the first admin (by the bootstrap token) adds an operator with the
/// roles the setup needs, and the bench signs in as it.
pub(crate) async fn sign_in_operator(http: &mut Http) -> Result<String, String> {
    const PASSWORD: &str = "bench-operator-password";
    let sign_in = async |http: &mut Http, user: &str| -> Result<String, String> {
        let body = format!(r#"{{"username":"{user}","password":"{PASSWORD}"}}"#);
        let answer = admin(http, "", "POST", "/admin/api/sessions", &body).await?;
        let v: serde_json::Value = serde_json::from_str(&answer).map_err(|e| e.to_string())?;
        v["token"].as_str().map(str::to_string).ok_or_else(|| format!("no token in {answer}"))
    };
    admin(http, TOKEN, "POST", "/admin/api/bootstrap", &format!(r#"{{"username":"bench-admin","password":"{PASSWORD}"}}"#)).await?;
    let first = sign_in(http, "bench-admin").await?;
    let ops = format!(r#"{{"username":"bench-ops","password":"{PASSWORD}","roles":["operator","finance","risk"]}}"#);
    admin(http, &first, "POST", "/admin/api/operators", &ops).await?;
    sign_in(http, "bench-ops").await
}

/// The platform certificates a merchant verifies answers with: (serial, key).
pub(crate) async fn platform_certificates(http: &mut Http, ops: &str) -> Result<Vec<(String, wxpay::VerifyingKey)>, String> {
    let keys: serde_json::Value =
        serde_json::from_str(&admin(http, ops, "GET", "/admin/api/platform-keys", "").await?).map_err(|e| e.to_string())?;
    let mut platform = Vec::new();
    for c in keys["certificates"].as_array().into_iter().flatten() {
        let (key, _, serial) = wxpay::VerifyingKey::from_pem(c["certificate_pem"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
        platform.push((serial.unwrap_or_default(), key));
    }
    Ok(platform)
}

/// Onboard a merchant with the bench's key and app id, at `fee_bps`.
pub(crate) async fn onboard(
    http: &mut Http,
    ops: &str,
    (mchid, appid): (&str, &str),
    country: &str,
    currency: &str,
    key: &wxpay::SigningKey,
    fee_bps: i64,
) -> Result<(), String> {
    let merchant = format!(
        r#"{{"mchid":"{mchid}","name":"Bench Shop","mcc":"5411","country":"{country}","settlement_currency":"{currency}","fee_bps":{fee_bps},"settlement_account":"6222020000000000000"}}"#
    );
    admin(http, ops, "POST", "/admin/api/merchants", &merchant).await?;
    let body = serde_json::json!({"pem": key.public_key_pem(), "serial_no": SERIAL}).to_string();
    admin(http, ops, "POST", &format!("/admin/api/merchants/{mchid}/keys"), &body).await?;
    admin(
        http,
        ops,
        "POST",
        &format!("/admin/api/merchants/{mchid}/apps"),
        &format!(r#"{{"appid":"{appid}","kind":"web","name":"Bench"}}"#),
    )
    .await?;
    Ok(())
}

async fn bench(port: u16, args: &MerchantBench) -> Result<(), String> {
    let started = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let notify_url = format!("http://127.0.0.1:{}/notify", receiver(received.clone()).await?);
    let mut http = Http::connect(port).await.map_err(|e| e.to_string())?;
    let ops = sign_in_operator(&mut http).await?;
    let signing_key = wxpay::SigningKey::generate();
    onboard(&mut http, &ops, (MCHID, APPID), "CN", "CNY", &signing_key, 60).await?;
    if args.cross_border {
        onboard(&mut http, &ops, (HK_MCHID, HK_APPID), "HK", "HKD", &signing_key, 60).await?;
        admin(&mut http, &ops, "PUT", "/admin/api/fx/rates", r#"{"base":"HKD","quote":"CNY","rate":"0.9200","source":"bench"}"#).await?;
    }
    let platform = platform_certificates(&mut http, &ops).await?;
    let payers: Arc<Vec<Person>> = Arc::new(in_parallel(args.people, 32, move |i| person(port, 500_000 + i, true)).await?);
    say!("setup: {} funded payers in {:.1} s", args.people, started.elapsed().as_secs_f64());
    let run = Run { port, connections: args.connections, total: args.requests as u64, payers, notify_url, received };
    let domestic = Arc::new(Merchant { mchid: MCHID, appid: APPID, key: Arc::new(signing_key), platform });
    let signatures = tokio::task::spawn_blocking(|| rsa_signatures_per_s(2.0)).await.map_err(|e| e.to_string())?;
    say!(
        "RSA-2048 signing on every core: {signatures:.0}/s, so at most {:.0} payments/s ({SIGNATURES_PER_PAYMENT} signatures each)",
        signatures / SIGNATURES_PER_PAYMENT
    );
    let same = measure(&run, domestic.clone(), "same currency (CNY order, CNY wallets)").await?;
    use crate::report::{Better, Report};
    let mut report = Report::new("merchant payments");
    report.figure("payments", same, "payments/s").compare(
        "payments",
        "the RSA-2048 bound measured in this run",
        signatures / SIGNATURES_PER_PAYMENT,
        Better::Higher,
        RSA_BOUND_GOAL_RATIO,
    );
    if args.cross_border {
        let (key, platform) = (domestic.key.clone(), domestic.platform.clone());
        let hk = Arc::new(Merchant { mchid: HK_MCHID, appid: HK_APPID, key, platform });
        let cross = measure(&run, hk, "cross-border (HKD order on /v3/global, CNY wallets, through FX)").await?;
        report.figure("cross_border_payments", cross, "payments/s").compare(
            "cross_border_payments",
            "same-currency payments in this run",
            same,
            Better::Higher,
            0.9,
        );
    }
    report.finish();
    Ok(())
}

/// What a measurement needs: the server, the payers, and where notifications are counted.
struct Run {
    port: u16,
    connections: usize,
    total: u64,
    payers: Arc<Vec<Person>>,
    notify_url: String,
    received: Arc<AtomicU64>,
}

/// `total` payments to one merchant over `connections`; payments per second, order to last notification.
async fn measure(run: &Run, merchant: Arc<Merchant>, label: &str) -> Result<f64, String> {
    let (port, total) = (run.port, run.total);
    let received_before = run.received.load(Ordering::Relaxed);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let progress = crate::bench::Progress::follow(total, "payments", done.clone());
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..run.connections {
        let done = done.clone();
        let (merchant, payers, next, notify_url) = (merchant.clone(), run.payers.clone(), next.clone(), run.notify_url.clone());
        set.spawn(async move {
            let mut http = Http::connect(port).await.map_err(|e| e.to_string())?;
            let (mut order_latency, mut pay_latency) = (Vec::new(), Vec::new());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let (path, body) = merchant.order(n, &notify_url);
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
                done.fetch_add(1, Ordering::Relaxed);
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
    while run.received.load(Ordering::Relaxed) - received_before < total {
        if Instant::now() > deadline {
            let arrived = run.received.load(Ordering::Relaxed) - received_before;
            return Err(format!("only {arrived} of {total} notifications arrived within 120 s"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    progress.abort();
    orders.sort_unstable();
    payments.sort_unstable();
    let rate = total as f64 / elapsed;
    say!(
        "{label}: {total} payments (order + payment + notification) in {elapsed:.2} s = {rate:.0}/s over {} connections; orders and payments done in {paid_in:.2} s ({:.0}/s)",
        run.connections,
        total as f64 / paid_in
    );
    say!(
        "  latency ms: signed order p50 {:.1} p99 {:.1}; wallet payment p50 {:.1} p99 {:.1}",
        percentile(&orders, 0.5),
        percentile(&orders, 0.99),
        percentile(&payments, 0.5),
        percentile(&payments, 0.99)
    );
    Ok(rate)
}

/// The merchant's check of a signed answer (what every SDK does).
pub(crate) fn verify(merchant: &Merchant, headers: &[(String, String)], body: &str) -> Result<(), String> {
    let h = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).ok_or(format!("{name} missing"));
    let key = merchant.platform.iter().find(|(s, _)| s == h("wechatpay-serial").unwrap_or("")).ok_or("unknown platform serial")?;
    let timestamp: i64 = h("wechatpay-timestamp")?.parse().map_err(|_| "bad timestamp")?;
    let signature = wxpay::base64::decode(h("wechatpay-signature")?).ok_or("signature not base64")?;
    key.1.verify(&wxpay::response_message(timestamp, h("wechatpay-nonce")?, body.as_bytes()), &signature).map_err(|e| e.to_string())
}
