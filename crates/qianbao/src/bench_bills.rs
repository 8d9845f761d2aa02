//! `qianbao bench bills`: a merchant's day of a million orders, read the ways a merchant and the
//! platform read it. The server runs as a child process; this process is the merchant (signing its
//! requests, verifying the signed answers as the SDKs do) and the finance operator.
//!
//! The day is imported straight into the bench database (`platform::payments::import_paid_day`: the rows
//! the payment and refund paths write, no ledger transfers), because paying a million orders over HTTP
//! would take the bench half an hour and measure payments, which `bench merchant` measures. Then:
//!
//! 1. the trade bill's link (`GET /v3/bill/tradebill`: the whole bill written through SHA-1);
//! 2. its download (`GET /v3/billdownload/file`): streamed, signed as it streams, the SHA-1 checked
//!    against the link's and the signature verified over the whole body, every line counted;
//! 3. the day's settlement (`POST /admin/api/settlements/run`), its payout checked against the import;
//! 4. the fund-flow bill, with the settlement's fee and payout (link and download, the same checks);
//!
//! and the server's peak memory growth over all of it (`VmHWM` against `VmRSS` before), which streaming
//! keeps to a bound whatever the day's size.

use crate::bench::yuan;
use crate::bench_merchant::{APPID, MCHID, Merchant, admin, onboard, platform_certificates, sign_in_operator, verify};
use crate::bench_wallet::{Http, ServerChild, fresh_server};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct BillsBench {
    /// Paid orders in the merchant's day.
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: i64,
    /// Every n-th order is refunded (in part).
    #[arg(long, default_value_t = 100)]
    pub refund_every: i64,
    /// Database for the server (emptied first). Default: a fresh SQLite file under ./qianbao-bench.
    #[arg(long)]
    pub database: Option<String>,
    #[command(flatten)]
    pub output: crate::report::Output,
}

/// Each order's amount and fee (0.60% of it), and each refund's, in fen.
const TOTAL_FEN: i64 = 1_000;
const FEE_FEN: i64 = 6;
const REFUND_FEN: i64 = 300;
/// The first imported order's row id (far above any id the setup makes).
const FIRST_ID: i64 = 1 << 50;
/// The largest day the bench imports (its totals then stay far inside i64 fen).
const ORDERS_MAX: i64 = 100_000_000;
/// "In seconds" (issue 15): each read of the day within this.
const READ_GOAL_S: f64 = 10.0;
/// The server's memory for any day's bills: bounded, and well under the bill itself.
const MEMORY_GOAL_MIB: f64 = 64.0;

pub fn run(args: &BillsBench) -> Result<(), String> {
    if !(1..=ORDERS_MAX).contains(&args.orders) || args.refund_every <= 0 {
        return Err(format!("need 1 <= orders <= {ORDERS_MAX}, refund-every >= 1"));
    }
    let (server, port, url) = fresh_server(args.database.as_deref(), "bills", 100)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    say!("qianbao bench bills: a merchant's day of {} orders, {}", args.orders, url.redacted());
    runtime.block_on(bench(&server, port, &url, args))
}

/// A CST day just older than the server's deadline sweep settles on its own (yesterday and the
/// `CATCH_UP_DAYS` before it): `(YYYY-MM-DD, its first ms)`. The bench measures the settlement it asks for.
fn bench_day() -> (String, i64) {
    const DAY_MS: i64 = 86_400_000;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let offset_ms = wxpay::time::CST_OFFSET_S * 1000;
    let days_back = platform::settlement::CATCH_UP_DAYS + 2;
    let start = (now_ms + offset_ms).div_euclid(DAY_MS) * DAY_MS - offset_ms - days_back * DAY_MS;
    let t = wxpay::time::civil(start / 1000 + wxpay::time::CST_OFFSET_S);
    (format!("{:04}-{:02}-{:02}", t.year, t.month, t.day), start)
}

/// A signed GET as the merchant; the verified answer's body.
async fn merchant_get(http: &mut Http, merchant: &Merchant, target: &str) -> Result<String, String> {
    let authorization = merchant.authorization("GET", target, "");
    let (status, body, headers) =
        http.call_with_headers("GET", target, &[("Authorization", &authorization)], "").await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("GET {target}: {status} {}", body.chars().take(300).collect::<String>()));
    }
    verify(merchant, &headers, &body).map_err(|e| format!("GET {target}: the answer's signature: {e}"))?;
    Ok(body)
}

/// A bill's link and its download: (seconds for the link, seconds for the download, the bill's lines).
async fn bill(http: &mut Http, merchant: &Merchant, link_target: &str) -> Result<(f64, f64, String), String> {
    let started = Instant::now();
    let link: serde_json::Value = serde_json::from_str(&merchant_get(http, merchant, link_target).await?).map_err(|e| e.to_string())?;
    let link_s = started.elapsed().as_secs_f64();
    let url = link["download_url"].as_str().ok_or("no download_url")?;
    let target = &url[url.find("/v3/").ok_or("a download_url without /v3/")?..];
    let started = Instant::now();
    let text = merchant_get(http, merchant, target).await?;
    let download_s = started.elapsed().as_secs_f64();
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    let hex: String = sha1.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    if link["hash_value"].as_str() != Some(hex.as_str()) {
        return Err(format!("{link_target}: the bill's SHA-1 {hex} is not the link's {}", link["hash_value"]));
    }
    Ok((link_s, download_s, text))
}

/// The bill's summary line's cells (the last line), without their backticks.
fn summary(text: &str) -> Vec<String> {
    text.lines().last().unwrap_or("").split(',').map(|c| c.trim_start_matches('`').to_string()).collect()
}

async fn bench(server: &ServerChild, port: u16, url: &store::DatabaseUrl, args: &BillsBench) -> Result<(), String> {
    let mut http = Http::connect(port).await.map_err(|e| e.to_string())?;
    let ops = sign_in_operator(&mut http).await?;
    let key = wxpay::SigningKey::generate();
    onboard(&mut http, &ops, (MCHID, APPID), "CN", "CNY", &key, 60).await?;
    let platform = platform_certificates(&mut http, &ops).await?;
    let merchant = Merchant { mchid: MCHID, appid: APPID, key: Arc::new(key), platform };

    let (day, start_ms) = bench_day();
    let imported = platform::payments::ImportedDay {
        mchid: MCHID,
        appid: APPID,
        first_id: FIRST_ID,
        orders: args.orders,
        start_ms,
        span_ms: 86_400_000 - 60_000,
        total_minor: TOTAL_FEN,
        fee_minor: FEE_FEN,
        refund_every: args.refund_every,
        refund_minor: REFUND_FEN,
    };
    let started = Instant::now();
    let db = store::Db::open(url, 1).map_err(|e| e.to_string())?;
    db.transaction(|c| platform::payments::import_paid_day(c, &imported)).map_err(|e| format!("importing the day: {e}"))?;
    let import_s = started.elapsed().as_secs_f64();
    let refunds = (args.orders + args.refund_every - 1) / args.refund_every;
    say!("setup: {} paid orders and {refunds} refunds on {day} imported in {import_s:.1} s", args.orders);

    let rss_before = server.rss_bytes()?;
    let (trade_link_s, trade_s, trade) = bill(&mut http, &merchant, &format!("/v3/bill/tradebill?bill_date={day}&bill_type=ALL")).await?;
    let trade_bytes = trade.len();
    let trade_lines = trade.lines().count() as i64;
    let trade_summary = summary(&trade);
    drop(trade);
    say!("trade bill: link {trade_link_s:.2} s, download {trade_s:.2} s, {:.0} MB, {trade_lines} lines", trade_bytes as f64 / 1e6);
    let started = Instant::now();
    let settled = admin(&mut http, &ops, "POST", "/admin/api/settlements/run", &format!(r#"{{"day":"{day}"}}"#)).await?;
    let settle_s = started.elapsed().as_secs_f64();
    let (fund_link_s, fund_s, fund) = bill(&mut http, &merchant, &format!("/v3/bill/fundflowbill?bill_date={day}")).await?;
    let fund_lines = fund.lines().count() as i64;
    drop(fund);
    say!("fund-flow bill: link {fund_link_s:.2} s, download {fund_s:.2} s, {fund_lines} lines");
    let peak = server.peak_rss_bytes()?;
    let growth_mib = peak.saturating_sub(rss_before) as f64 / (1024.0 * 1024.0);
    say!(
        "settlement: {settle_s:.2} s; server memory {:.0} MiB before, peak {:.0} MiB",
        rss_before as f64 / 1048576.0,
        peak as f64 / 1048576.0
    );

    // Every figure exact: each line present once, the totals what was imported.
    let expected_lines = args.orders + refunds + 3;
    let checks = [
        ("trade bill lines", trade_lines == expected_lines),
        // With the settlement's two: its fee and its payout.
        ("fund-flow bill lines", fund_lines == expected_lines + 2),
        ("trade bill count", trade_summary.first().map(String::as_str) == Some((args.orders + refunds).to_string().as_str())),
        ("trade bill total", trade_summary.get(1).map(String::as_str) == Some(yuan(args.orders * TOTAL_FEN).as_str())),
        ("trade bill refunds", trade_summary.get(2).map(String::as_str) == Some(yuan(refunds * REFUND_FEN).as_str())),
        ("trade bill fees", trade_summary.get(4).map(String::as_str) == Some(yuan(args.orders * FEE_FEN).as_str())),
        ("settlement payout", settled.contains(&format!("\"payout\":{}", args.orders * (TOTAL_FEN - FEE_FEN) - refunds * REFUND_FEN))),
    ];
    for (what, exact) in checks {
        say!("{what}: {}", if exact { "exact" } else { "WRONG" });
    }
    use crate::report::{Better, Report};
    let mut report = Report::new("bills");
    report.figure("import", import_s, "s");
    for (name, seconds) in [
        ("trade_bill_link", trade_link_s),
        ("trade_bill_download", trade_s),
        ("fund_flow_bill_link", fund_link_s),
        ("fund_flow_bill_download", fund_s),
        ("settlement", settle_s),
    ] {
        report.figure(name, seconds, "s").compare(name, "the goal: in seconds", READ_GOAL_S, Better::Lower, 1.0);
    }
    report.figure("trade_bill_mb", trade_bytes as f64 / 1e6, "MB");
    report.figure("server_memory_growth", growth_mib, "MiB").compare(
        "server_memory_growth",
        "a bound whatever the day's size",
        MEMORY_GOAL_MIB,
        Better::Lower,
        1.0,
    );
    report.finish();
    if checks.iter().any(|(_, exact)| !exact) {
        return Err(format!("a figure of the day is wrong (the settlement: {settled})"));
    }
    Ok(())
}
