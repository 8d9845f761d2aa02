//! `qianbao bench donations`: a giving day's storm on one campaign, over HTTP. The server runs as a
//! child process; this process is the charity (its campaign made on the signed merchant API), a sponsor
//! (a 1:1 match capped below what the donors give, so the cap is reached mid-storm) and the donors, every
//! one on its own connection, all giving at once.
//!
//! It then checks what the project promises, against the ledger (the operator's reconciliation: the
//! match's escrow account and the charity's receivable): every donation booked once, the total exact,
//! the match exactly at its cap (never a cent beyond), and prints whether each is exact.

use crate::bench::yuan;
use crate::bench_merchant::{Merchant, admin, onboard, sign_in_operator};
use crate::bench_wallet::{Http, Person, field, fresh_server, in_parallel, key, percentile, person};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct DonationsBench {
    /// Donors, each giving once, all at once (each funded with 1000.00 CNY first).
    #[arg(long, default_value_t = 10_000)]
    pub donors: usize,
    /// What each donor gives, in fen (CNY minor units).
    #[arg(long, default_value_t = 100)]
    pub gift_fen: i64,
    /// The match's cap as a share of what all donors give (below 1: the cap is reached mid-storm).
    #[arg(long, default_value_t = 0.5)]
    pub cap_share: f64,
    /// Database for the server (emptied first). Default: a fresh SQLite file under ./qianbao-bench.
    #[arg(long)]
    pub database: Option<String>,
    #[command(flatten)]
    pub output: crate::report::Output,
}

const MCHID: &str = "1900009901";
/// 10,000 money movements at once within 2 s: the bar issue 15 set for a red packet's claim storm.
const STORM_GOAL_S: f64 = 2.0;
const APPID: &str = "wxd678efh567hg6799";

pub fn run(args: &DonationsBench) -> Result<(), String> {
    if args.donors == 0 || args.gift_fen <= 0 || !(0.0..1.0).contains(&args.cap_share) {
        return Err("need donors >= 1, gift-fen >= 1, 0 <= cap-share < 1".into());
    }
    let (_server, port, url) = fresh_server(args.database.as_deref(), "donations", 100)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    say!("qianbao bench donations: {} donors at once on one campaign with a capped 1:1 match, {}", args.donors, url.redacted());
    runtime.block_on(bench(port, args))
}

/// The charity onboarded and registered, its campaign made: the campaign's id and the operator's session.
async fn charity(http: &mut Http, port: u16) -> Result<(String, String), String> {
    let ops = sign_in_operator(http).await?;
    let key = wxpay::SigningKey::generate();
    onboard(http, &ops, (MCHID, APPID), "CN", "CNY", &key, 0).await?;
    let body = format!(r#"{{"mchid":"{MCHID}","charity_number":"BENCH-1","jurisdiction":"CN"}}"#);
    admin(http, &ops, "POST", "/admin/api/charities", &body).await?;
    let charity = Merchant { mchid: MCHID, appid: APPID, key: Arc::new(key), platform: Vec::new() };
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let ends = wxpay::time::format_rfc3339(now_s + 30 * 86_400);
    let body = format!(
        r#"{{"out_campaign_no":"GIVING-DAY","title":"Giving day","story":"Every gift matched until the cap.","amount":{{"goal":100000000,"min_amount":1,"currency":"CNY"}},"end_time":"{ends}"}}"#
    );
    let auth = charity.authorization("POST", "/v3/qianbao/campaigns", &body);
    let mut conn = Http::connect(port).await.map_err(|e| e.to_string())?;
    let (status, answer, _) = conn
        .call_with_headers("POST", "/v3/qianbao/campaigns", &[("Authorization", auth.as_str())], &body)
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("campaign: {status} {answer}"));
    }
    Ok((field(&answer, "campaign_id")?, ops))
}

async fn bench(port: u16, args: &DonationsBench) -> Result<(), String> {
    let started = Instant::now();
    let mut http = Http::connect(port).await.map_err(|e| e.to_string())?;
    let (campaign, ops) = charity(&mut http, port).await?;
    let n = args.donors;
    let total_fen = n as i64 * args.gift_fen;
    let cap_fen = ((total_fen as f64 * args.cap_share) as i64).max(1);
    let sponsor = sponsor(&mut http, &ops, port, cap_fen).await?;
    let pledge = format!(r#"{{"currency":"CNY","cap":"{}","per_donor_max":"{}","pin":"135790"}}"#, yuan(cap_fen), yuan(args.gift_fen));
    let (status, body) = http
        .call("POST", &format!("/api/v1/campaigns/{campaign}/matches"), Some(&sponsor.token), Some(&key()), &pledge)
        .await
        .map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("the match: {status} {body}"));
    }
    let donors = in_parallel(n, 32, move |i| person(port, 1_000_000 + i, true)).await?;
    say!(
        "setup: a charity, its campaign, a match capped at {} CNY, {n} funded donors, in {:.1} s",
        yuan(cap_fen),
        started.elapsed().as_secs_f64()
    );
    let (elapsed, latencies, booked) = storm(port, &campaign, donors, args.gift_fen).await?;
    let rate = booked as f64 / elapsed;
    say!(
        "donations: {booked} of {n} booked in {elapsed:.2} s ({rate:.0}/s); latency ms p50 {:.0} p99 {:.0} p100 {:.0}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    // A fresh connection: the setup's has idled through the storm.
    let mut http = Http::connect(port).await.map_err(|e| e.to_string())?;
    let exact = check(&mut http, &ops, &campaign, n, total_fen, cap_fen).await?;
    use crate::report::{Better, Report};
    let mut report = Report::new("donations to one campaign");
    report
        .figure("donations", rate, "donations/s")
        .figure("p99", percentile(&latencies, 0.99), "ms")
        .figure("storm", elapsed, "s")
        .compare("storm", "the claim storm's goal for 10,000 at once", STORM_GOAL_S, Better::Lower, 1.0);
    report.finish();
    if !exact {
        return Err("the totals are not exact: see above".into());
    }
    Ok(())
}

/// The sponsor: a verified company wallet (KYC tier 2, so the cap fits its limits) holding the cap.
async fn sponsor(http: &mut Http, ops: &str, port: u16, cap_fen: i64) -> Result<Person, String> {
    let sponsor = person(port, 900_000, false).await?;
    admin(http, ops, "POST", &format!("/admin/api/people/{}/kyc", sponsor.id), r#"{"tier":2}"#).await?;
    let (_, card) = http
        .call("POST", "/api/v1/cards", Some(&sponsor.token), None, r#"{"number":"4242424242424242","exp_month":12,"exp_year":2099}"#)
        .await
        .map_err(|e| e.to_string())?;
    let card = field(&card, "id")?;
    let top_up = format!(r#"{{"card_id":"{card}","amount":"{}","currency":"CNY","pin":"135790"}}"#, yuan(cap_fen));
    let (status, body) =
        http.call("POST", "/api/v1/top-ups", Some(&sponsor.token), Some(&key()), &top_up).await.map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("the sponsor's top-up: {status} {body}"));
    }
    Ok(sponsor)
}

/// Every donor connects, then all give at once: (seconds, latencies, donations booked).
async fn storm(port: u16, campaign: &str, donors: Vec<Person>, gift_fen: i64) -> Result<(f64, Vec<Duration>, usize), String> {
    let n = donors.len();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(Http::connect(port).await.map_err(|e| e.to_string())?);
    }
    let go = Arc::new(tokio::sync::Barrier::new(n + 1));
    let body = Arc::new(format!(r#"{{"amount":"{}","currency":"CNY","pin":"135790"}}"#, yuan(gift_fen)));
    let path = Arc::new(format!("/api/v1/campaigns/{campaign}/donations"));
    let mut set = tokio::task::JoinSet::new();
    for (mut http, p) in conns.into_iter().zip(donors) {
        let (go, body, path) = (go.clone(), body.clone(), path.clone());
        set.spawn(async move {
            go.wait().await;
            let t = Instant::now();
            let (status, answer) = http.call("POST", &path, Some(&p.token), Some(&key()), &body).await.map_err(|e| e.to_string())?;
            if status != 201 {
                return Err(format!("a donation: {status} {answer}"));
            }
            Ok::<_, String>(t.elapsed())
        });
    }
    let started = Instant::now();
    go.wait().await;
    let mut latencies = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        latencies.push(joined.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok((elapsed, latencies, n))
}

/// The campaign's totals against the ledger; prints each check, `true` when all are exact.
async fn check(http: &mut Http, ops: &str, campaign: &str, n: usize, total_fen: i64, cap_fen: i64) -> Result<bool, String> {
    let answer = admin(http, ops, "GET", &format!("/admin/api/campaigns/{campaign}/reconciliation"), "").await?;
    let r: serde_json::Value = serde_json::from_str(&answer).map_err(|e| e.to_string())?;
    let int = |k: &str| r[k].as_i64().unwrap_or(-1);
    let checks = [
        ("every donation booked once", int("donations") == n as i64, format!("{} donations for {n} donors", int("donations"))),
        ("the total exact", int("raised_minor") == total_fen, format!("raised {} fen, given {total_fen}", int("raised_minor"))),
        ("the match exactly at its cap", int("matched_minor") == cap_fen, format!("matched {} fen, cap {cap_fen}", int("matched_minor"))),
        (
            "the escrow agrees with the match",
            int("cap_minor") - int("escrow_left_minor") == int("matched_minor"),
            format!("escrow left {} fen of {}", int("escrow_left_minor"), int("cap_minor")),
        ),
        (
            "the charity's receivable is gifts plus match",
            int("receivable_minor") == total_fen + cap_fen,
            format!("receivable {} fen", int("receivable_minor")),
        ),
    ];
    let mut exact = true;
    for (what, ok, detail) in checks {
        say!("check: {what}: {} ({detail})", if ok { "exact" } else { "NOT EXACT" });
        exact &= ok;
    }
    Ok(exact)
}
