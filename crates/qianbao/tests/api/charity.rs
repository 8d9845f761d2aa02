//! Charities and donations over the wire: an operator registers a charity, the charity makes a campaign
//! on the signed merchant API, people in Hong Kong give to it from their HKD balances (once per key),
//! a sponsor's match stops exactly at its cap, the live totals stream the committed sums, a refund
//! gives the gift back and its match to the pledge, and donations settle to the charity with no fee.

use crate::support::merchant::TestMerchant;
use crate::support::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicU64, Ordering};

static PHONE: AtomicU64 = AtomicU64::new(91_000_000);

/// A Hong Kong charity (no fee), registered by the operator.
pub(crate) fn charity(port: u16) -> TestMerchant {
    let m = TestMerchant::onboard_in(port, 0, "direct", "HK", "HKD");
    let body = json!({"mchid": m.mchid, "charity_number": format!("91/{}", &m.mchid[6..]), "jurisdiction": "HK"}).to_string();
    let r = post(port, "/admin/api/charities", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    m
}

/// A campaign in HKD open for `days`, goal 10,000.00, smallest gift 10.00.
pub(crate) fn campaign(m: &TestMerchant, out_no: &str, days: i64) -> String {
    let now_s = post(m.port, "/admin/api/sandbox/clock", r#"{"advance_s":0}"#).json()["now_ms"].as_i64().unwrap() / 1000;
    let body = json!({
        "out_campaign_no": out_no, "title": "Nepal earthquake appeal", "story": "Shelter, water and vaccines.",
        "amount": {"goal": 1_000_000, "min_amount": 1_000, "currency": "HKD"},
        "end_time": wxpay::time::format_rfc3339(now_s + days * 86_400),
    })
    .to_string();
    let r = m.call("POST", "/v3/qianbao/campaigns", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    m.check_signed(&r);
    r.json()["campaign_id"].as_str().unwrap().to_string()
}

/// A Hong Kong person with `hkd` on their balance and PIN 135790.
pub(crate) fn donor(port: u16, hkd: &str) -> Wallet {
    let w = Wallet::register(port, &format!("+852{}", PHONE.fetch_add(1, Ordering::SeqCst)), "Wing");
    w.set_pin("135790");
    let card = w.post("/api/v1/cards", r#"{"number":"4242 4242 4242 4242","exp_month":12,"exp_year":2099}"#);
    let card_id = card.json()["id"].as_str().unwrap().to_string();
    let r = w.post("/api/v1/top-ups", &format!(r#"{{"card_id":"{card_id}","amount":"{hkd}","currency":"HKD","pin":"135790"}}"#));
    assert_eq!(r.status, 201, "{}", r.body);
    w
}

pub(crate) fn give(w: &Wallet, campaign: &str, amount: &str) -> Response {
    w.post(&format!("/api/v1/campaigns/{campaign}/donations"), &format!(r#"{{"amount":"{amount}","currency":"HKD","pin":"135790"}}"#))
}

fn totals(port: u16, campaign: &str) -> Value {
    let r = request(port, "GET", &format!("/api/v1/campaigns/{campaign}"), None, None).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["totals"].clone()
}

fn a_registered_charitys_campaign_shows_its_badge_and_a_retried_creation_makes_one(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let m = charity(server.port);
    let id = campaign(&m, "NEPAL2026", 30);
    assert_eq!(campaign(&m, "NEPAL2026", 30), id, "the same out_campaign_no is the same campaign");
    let page = request(server.port, "GET", &format!("/api/v1/campaigns/{id}"), None, None).unwrap().json();
    assert_eq!(page["charity"]["verified"], true);
    assert_eq!(page["charity"]["jurisdiction"], "HK");
    assert_eq!(
        (page["goal"].as_str(), page["totals"]["raised"].as_str(), page["open"].as_bool()),
        (Some("10000.00"), Some("0.00"), Some(true))
    );
    let shop = TestMerchant::onboard(server.port, 60);
    let body = json!({"out_campaign_no": "X1", "title": "t", "story": "s", "amount": {"goal": 100, "min_amount": 1, "currency": "CNY"}, "end_time": "2099-01-01T00:00:00+08:00"});
    assert_eq!(shop.call("POST", "/v3/qianbao/campaigns", &body.to_string()).status, 403, "only a charity makes campaigns");
    let recent = get(server.port, "/admin/api/audit?limit=20").json();
    assert!(recent.as_array().unwrap().iter().any(|e| e["action"] == "charities.register"), "audited: {recent}");
}

fn a_donation_moves_the_money_once_and_its_receipt_names_the_charity_and_donor(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let m = charity(server.port);
    let id = campaign(&m, "NEPAL2026", 30);
    let w = donor(server.port, "500.00");
    let body = r#"{"amount":"100.00","currency":"HKD","pin":"135790","message":"For the families of Kathmandu"}"#;
    let path = format!("/api/v1/campaigns/{id}/donations");
    let first = w.post_keyed(&path, body, "gift-1");
    assert_eq!(first.status, 201, "{}", first.body);
    let again = w.post_keyed(&path, body, "gift-1");
    assert_eq!(again.json()["id"], first.json()["id"], "a retry is the same donation");
    assert_eq!(w.available("HKD"), "400.00", "moved once");
    let t = totals(server.port, &id);
    assert_eq!((t["raised"].as_str(), t["donations"].as_i64(), t["donors"].as_i64()), (Some("100.00"), Some(1), Some(1)));
    let receipt = w.get(&format!("/api/v1/donations/{}/receipt", first.json()["id"].as_str().unwrap())).json();
    assert_eq!(receipt["charity_name"], format!("Shop {}", m.mchid));
    assert!(receipt["charity_number"].as_str().unwrap().starts_with("91/"), "{receipt}");
    assert_eq!(
        (receipt["donor_name"].as_str(), receipt["amount"].as_str(), receipt["currency"].as_str()),
        (Some("Wing"), Some("100.00"), Some("HKD"))
    );
    assert!(receipt["receipt_no"].as_str().unwrap().starts_with("QB-"), "{receipt}");
    let year = &receipt["date"].as_str().unwrap()[..4];
    let summary = w.get(&format!("/api/v1/charities/{}/receipts?year={year}", m.mchid)).json();
    assert_eq!(summary["totals"][0]["amount"], "100.00", "{summary}");
    let listed = m.call("GET", &format!("/v3/qianbao/campaigns/{id}/donations"), "").json();
    assert_eq!(listed["data"][0]["message"], "For the families of Kathmandu");
    assert_eq!(listed["data"][0]["amount"]["total"], 10_000);
}

fn an_anonymous_gift_is_anonymous_to_the_charity(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let m = charity(server.port);
    let id = campaign(&m, "NEPAL2026", 30);
    let w = donor(server.port, "100.00");
    let r = w.post(&format!("/api/v1/campaigns/{id}/donations"), r#"{"amount":"20.00","currency":"HKD","pin":"135790","anonymous":true}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["donor"], "Wing", "the donor sees their own name");
    let listed = m.call("GET", &format!("/v3/qianbao/campaigns/{id}/donations"), "").json();
    assert_eq!(listed["data"][0]["donor"], "anonymous");
}

fn bad_donations_are_refused_with_a_clear_error_and_change_nothing(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "NEPAL2026", 1);
    let w = donor(port, "500.00");
    let path = format!("/api/v1/campaigns/{id}/donations");
    let refused = |body: &str| w.post(&path, body).json();
    let cny = refused(r#"{"amount":"100.00","currency":"CNY","pin":"135790"}"#);
    assert_eq!((cny["code"].as_str(), cny["field"].as_str()), (Some("PARAM_ERROR"), Some("currency")), "{cny}");
    assert!(cny["message"].as_str().unwrap().contains("HKD"), "{cny}");
    let small = refused(r#"{"amount":"9.99","currency":"HKD","pin":"135790"}"#);
    assert_eq!(small["field"], "amount", "below the minimum: {small}");
    let long = refused(&json!({"amount": "10.00", "currency": "HKD", "pin": "135790", "message": "x".repeat(201)}).to_string());
    assert_eq!(long["field"], "message", "{long}");
    let suspended = post_state(port, &m.mchid, "suspended");
    assert_eq!(suspended.status, 200, "{}", suspended.body);
    assert_eq!(refused(r#"{"amount":"10.00","currency":"HKD","pin":"135790"}"#)["code"], "CHARITY_SUSPENDED");
    assert_eq!(post_state(port, &m.mchid, "active").status, 200);
    advance_clock(port, 86_401);
    assert_eq!(refused(r#"{"amount":"10.00","currency":"HKD","pin":"135790"}"#)["code"], "CAMPAIGN_CLOSED");
    assert_eq!(w.available("HKD"), "500.00", "nothing moved");
    assert_eq!(totals(port, &id)["donations"], 0);
}

fn post_state(port: u16, mchid: &str, state: &str) -> Response {
    operator_request(port, "PUT", &format!("/admin/api/charities/{mchid}/state"), Some(&format!(r#"{{"state":"{state}"}}"#)))
}

fn a_sponsors_match_stops_exactly_at_its_cap_and_the_last_gift_is_matched_in_part(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "NEPAL2026", 30);
    let sponsor = donor(port, "1000.00");
    let pledge = r#"{"currency":"HKD","cap":"100.00","per_donor_max":"60.00","pin":"135790"}"#;
    let r = sponsor.post(&format!("/api/v1/campaigns/{id}/matches"), pledge);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(sponsor.available("HKD"), "900.00", "the cap is set aside when pledged");
    let other = donor(port, "1000.00").post(&format!("/api/v1/campaigns/{id}/matches"), pledge).json();
    assert_eq!(other["code"], "MATCH_PLEDGED", "{other}");
    let gifts = [("80.00", "60.00"), ("30.00", "30.00"), ("25.00", "10.00"), ("20.00", "0.00")];
    for (amount, matched) in gifts {
        let r = give(&donor(port, "100.00"), &id, amount);
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["matched"], matched, "a gift of {amount}");
    }
    let t = totals(port, &id);
    assert_eq!((t["raised"].as_str(), t["matched"].as_str(), t["total"].as_str()), (Some("155.00"), Some("100.00"), Some("255.00")));
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn a_donors_matches_stay_within_the_per_donor_limit_over_several_gifts(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let m = charity(server.port);
    let id = campaign(&m, "NEPAL2026", 30);
    let sponsor = donor(server.port, "1000.00");
    let r = sponsor
        .post(&format!("/api/v1/campaigns/{id}/matches"), r#"{"currency":"HKD","cap":"500.00","per_donor_max":"50.00","pin":"135790"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    let w = donor(server.port, "200.00");
    let matched: Vec<String> =
        ["30.00", "30.00", "30.00"].iter().map(|a| give(&w, &id, a).json()["matched"].as_str().unwrap().to_string()).collect();
    assert_eq!(matched, ["30.00", "20.00", "0.00"]);
}

/// The events of a campaign's live stream, as they arrive.
fn live_events(port: u16, campaign: &str) -> std::sync::mpsc::Receiver<Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET /api/v1/campaigns/{campaign}/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data: ")
                && let Ok(v) = serde_json::from_str::<Value>(data)
                && tx.send(v).is_err()
            {
                return;
            }
        }
    });
    rx
}

fn the_live_totals_are_the_sum_of_the_committed_donations_at_every_event(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "NEPAL2026", 30);
    let donors: Vec<Wallet> = (0..6).map(|_| donor(port, "100.00")).collect();
    let events = live_events(port, &id);
    let first = events.recv_timeout(std::time::Duration::from_secs(10)).expect("the totals at once");
    assert_eq!(first["donations"], 0);
    let gifts = 4;
    std::thread::scope(|s| {
        for w in &donors {
            s.spawn(|| (0..gifts).for_each(|_| assert_eq!(give(w, &id, "12.34").status, 201)));
        }
    });
    let all = (donors.len() * gifts) as i64;
    let mut last = 0;
    loop {
        let e = events.recv_timeout(std::time::Duration::from_secs(10)).expect("an event for each change");
        let n = e["donations"].as_i64().unwrap();
        assert!(n > last, "the totals only grow: {e}");
        let cents = (n * 1234) as f64 / 100.0;
        assert_eq!(e["raised"], format!("{cents:.2}"), "the sum of the {n} donations committed: {e}");
        last = n;
        if n == all {
            break;
        }
    }
    assert_eq!(totals(port, &id)["donors"], donors.len() as i64);
}

fn a_charity_refunds_a_gift_and_its_match_returns_to_the_pledge(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "NEPAL2026", 30);
    let sponsor = donor(port, "1000.00");
    sponsor.post(&format!("/api/v1/campaigns/{id}/matches"), r#"{"currency":"HKD","cap":"50.00","per_donor_max":"50.00","pin":"135790"}"#);
    let w = donor(port, "100.00");
    let gift = give(&w, &id, "40.00").json();
    assert_eq!(gift["matched"], "40.00");
    let refund = m.call("POST", &format!("/v3/qianbao/donations/{}/refund", gift["id"].as_str().unwrap()), "{}");
    assert_eq!((refund.status, refund.json()["state"].as_str()), (200, Some("refunded")), "{}", refund.body);
    assert_eq!(m.call("POST", &format!("/v3/qianbao/donations/{}/refund", gift["id"].as_str().unwrap()), "{}").status, 200, "once");
    assert_eq!(w.available("HKD"), "100.00", "the gift is back");
    let t = totals(port, &id);
    assert_eq!((t["raised"].as_str(), t["matched"].as_str()), (Some("0.00"), Some("0.00")));
    let next = give(&donor(port, "100.00"), &id, "50.00").json();
    assert_eq!(next["matched"], "50.00", "the match returned to the pledge matches the next donor");
}

fn donations_settle_to_the_charity_with_their_match_and_no_fee(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "NEPAL2026", 30);
    let sponsor = donor(port, "1000.00");
    sponsor.post(&format!("/api/v1/campaigns/{id}/matches"), r#"{"currency":"HKD","cap":"30.00","per_donor_max":"30.00","pin":"135790"}"#);
    assert_eq!(give(&donor(port, "100.00"), &id, "70.00").status, 201);
    let now = post(port, "/admin/api/sandbox/clock", r#"{"advance_s":0}"#).json()["now_ms"].as_i64().unwrap();
    let t = wxpay::time::civil(now / 1000 + wxpay::time::CST_OFFSET_S);
    let day = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
    let into_day_s = (now / 1000 + wxpay::time::CST_OFFSET_S).rem_euclid(86_400);
    advance_clock(port, (86_400 - into_day_s + 660) as u64);
    let r = post(port, "/admin/api/settlements/run", &format!(r#"{{"day":"{day}"}}"#));
    assert_eq!(r.status, 200, "{}", r.body);
    let settled: Vec<Value> = r.json().as_array().unwrap().iter().filter(|s| s["mchid"] == m.mchid.as_str()).cloned().collect();
    assert_eq!(settled.len(), 1, "{}", r.body);
    let s = &settled[0];
    assert_eq!((s["gross"].as_i64(), s["fees"].as_i64(), s["payout"].as_i64()), (Some(10_000), Some(0), Some(10_000)), "{s}");
}

fn what_a_match_did_not_use_goes_back_to_its_sponsor_when_the_campaign_ends(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "NEPAL2026", 1);
    let sponsor = donor(port, "1000.00");
    let r = sponsor
        .post(&format!("/api/v1/campaigns/{id}/matches"), r#"{"currency":"HKD","cap":"100.00","per_donor_max":"100.00","pin":"135790"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(give(&donor(port, "100.00"), &id, "30.00").json()["matched"], "30.00");
    assert_eq!(sponsor.available("HKD"), "900.00");
    advance_clock(port, 86_401);
    assert_eq!(sponsor.available("HKD"), "970.00", "the 70.00 not matched is back");
    advance_clock(port, 60);
    assert_eq!(sponsor.available("HKD"), "970.00", "once");
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn a_person_gives_on_the_campaign_page_and_reads_the_receipt(env: Env) {
    use super::console::{field, sign_in_form};
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "NEPAL2026", 30);
    let w = donor(port, "300.00");
    let phone = w.get("/api/v1/me").json()["person"]["phone"].as_str().unwrap().to_string();
    let web = sign_in_form(port, "/wallet/sign-in", ("qb_pre", "qb_wallet"), &[("phone", &phone), ("password", "correct horse battery")])
        .unwrap_or_else(|r| panic!("{}", r.body));
    let listed = web.get("/wallet/campaigns");
    assert!(listed.body.contains("Nepal earthquake appeal"), "the open campaigns are listed: {} {}", listed.status, listed.body);
    let page = web.get(&format!("/wallet/campaigns/{id}")).body;
    assert!(page.contains("Verified charity") && page.contains(r#"id="donate""#), "{page}");
    let key = field(&page, "key");
    let fields = [("amount", "50.00"), ("pin", "135790"), ("message", "From Sha Tin"), ("key", key.as_str())];
    let gave = web.post(&format!("/wallet/campaigns/{id}"), &format!("/wallet/campaigns/{id}/donate"), &fields);
    assert_eq!(gave.status, 303, "{}", gave.body);
    let receipt_at = gave.header("location").unwrap().to_string();
    assert!(receipt_at.starts_with("/wallet/donations/"), "{receipt_at}");
    let twice = web.post(&format!("/wallet/campaigns/{id}"), &format!("/wallet/campaigns/{id}/donate"), &fields);
    assert_eq!(twice.header("location"), Some(receipt_at.as_str()), "the same form sent again is the same gift");
    assert_eq!(w.available("HKD"), "250.00");
    let receipt = web.get(&receipt_at).body;
    assert!(receipt.contains("50.00 HKD") && receipt.contains("QB-") && receipt.contains("Wing"), "{receipt}");
    let low =
        web.post(&format!("/wallet/campaigns/{id}"), &format!("/wallet/campaigns/{id}/donate"), &[("amount", "1.00"), ("pin", "135790")]);
    assert!(
        low.header("location").is_some_and(|l| l.starts_with(&format!("/wallet/campaigns/{id}?error="))),
        "{:?}",
        low.header("location")
    );
}

both_backends!(
    a_person_gives_on_the_campaign_page_and_reads_the_receipt,
    what_a_match_did_not_use_goes_back_to_its_sponsor_when_the_campaign_ends,
    a_registered_charitys_campaign_shows_its_badge_and_a_retried_creation_makes_one,
    a_donation_moves_the_money_once_and_its_receipt_names_the_charity_and_donor,
    an_anonymous_gift_is_anonymous_to_the_charity,
    bad_donations_are_refused_with_a_clear_error_and_change_nothing,
    a_sponsors_match_stops_exactly_at_its_cap_and_the_last_gift_is_matched_in_part,
    a_donors_matches_stay_within_the_per_donor_limit_over_several_gifts,
    the_live_totals_are_the_sum_of_the_committed_donations_at_every_event,
    a_charity_refunds_a_gift_and_its_match_returns_to_the_pledge,
    donations_settle_to_the_charity_with_their_match_and_no_fee,
);
