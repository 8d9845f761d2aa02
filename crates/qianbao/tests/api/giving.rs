//! Giving beyond one gift from the balance, over the wire: straight from a linked card (its refund goes
//! back to the card; a chargeback reverses it with its match), from a CNY wallet to an HKD campaign
//! through FX (a refund returns exactly what was paid), every month (charged once a month until
//! stopped, retried after a failure, lapsed after three or when its card is removed), Inspired Gifts in
//! a friend's name, and the receipt as a PDF.

use super::charity::{campaign, charity, donor, give};
use crate::support::*;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

static PHONE: AtomicU64 = AtomicU64::new(93_000_000);
const DAY_S: u64 = 86_400;

fn first_card(w: &Wallet) -> String {
    w.get("/api/v1/cards").json()[0]["id"].as_str().unwrap().to_string()
}

fn donate(w: &Wallet, campaign: &str, body: Value) -> Response {
    w.post(&format!("/api/v1/campaigns/{campaign}/donations"), &body.to_string())
}

fn reconciliation(port: u16, campaign: &str) -> Value {
    let r = get(port, &format!("/admin/api/campaigns/{campaign}/reconciliation"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn ledger_verifies(env: &Env) {
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

/// A donor as `donor` makes them, with their phone (to sign in again after the clock passed their
/// session's lifetime).
fn donor_with_phone(port: u16, hkd: &str) -> (Wallet, String) {
    let w = donor(port, hkd);
    let phone = w.get("/api/v1/me").json()["person"]["phone"].as_str().unwrap().to_string();
    (w, phone)
}

/// Sign in again (a month on, the old session has expired).
fn sign_in(port: u16, phone: &str) -> Wallet {
    let body = format!(r#"{{"phone":"{phone}","password":"correct horse battery"}}"#);
    let r = request(port, "POST", "/api/v1/sessions", None, Some(&body)).unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let me = request(port, "GET", "/api/v1/me", Some(r.json()["token"].as_str().unwrap()), None).unwrap().json();
    Wallet { port, id: me["person"]["id"].as_str().unwrap().to_string(), token: r.json()["token"].as_str().unwrap().to_string() }
}

/// Move the clock on and sign in again.
fn months_later(port: u16, phone: &str, seconds: u64) -> Wallet {
    advance_clock(port, seconds);
    sign_in(port, phone)
}

fn delete(w: &Wallet, path: &str) -> Response {
    request(w.port, "DELETE", path, Some(&w.token), None).unwrap()
}

fn a_gift_from_a_card_leaves_the_balance_alone_and_its_refund_goes_back_to_the_card(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let m = charity(server.port);
    let id = campaign(&m, "CARD2026", 30);
    let w = donor(server.port, "100.00");
    let gift = donate(&w, &id, json!({"amount": "50.00", "currency": "HKD", "pin": "135790", "card_id": first_card(&w)}));
    assert_eq!(gift.status, 201, "{}", gift.body);
    assert_eq!(gift.json()["funding"], "card");
    assert_eq!(w.available("HKD"), "100.00", "the card paid, not the balance");
    assert_eq!(reconciliation(server.port, &id)["receivable_minor"], 5_000);
    let donation = gift.json()["id"].as_str().unwrap().to_string();
    let refunded = m.call("POST", &format!("/v3/qianbao/donations/{donation}/refund"), "{}");
    assert_eq!((refunded.status, refunded.json()["state"].as_str()), (200, Some("refunded")), "{}", refunded.body);
    assert_eq!(w.available("HKD"), "100.00", "back to the card, not to the balance");
    assert_eq!(reconciliation(server.port, &id)["receivable_minor"], 0);
    ledger_verifies(&env);
}

fn a_cny_wallet_gives_to_an_hkd_campaign_through_fx_and_its_refund_returns_exactly_what_it_paid(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let rate =
        operator_request(port, "PUT", "/admin/api/fx/rates", Some(r#"{"base":"HKD","quote":"CNY","rate":"0.9200","source":"desk"}"#));
    assert_eq!(rate.status, 200, "{}", rate.body);
    let m = charity(port);
    let id = campaign(&m, "FX2026", 30);
    let w = Wallet::register(port, &format!("+86{}", PHONE.fetch_add(1, Ordering::SeqCst)), "Li");
    w.set_pin("135790");
    w.top_up("1000.00", "135790");
    let gift = donate(&w, &id, json!({"amount": "100.00", "currency": "HKD", "pin": "135790"}));
    assert_eq!(gift.status, 201, "{}", gift.body);
    // 100.00 HKD × 0.9200 × 1.005 (the payment markup) = 92.46 CNY.
    assert_eq!((gift.json()["paid"]["amount"].as_str(), gift.json()["paid"]["currency"].as_str()), (Some("92.46"), Some("CNY")));
    assert_eq!(w.available("CNY"), "907.54");
    assert_eq!(reconciliation(port, &id)["raised_minor"], 10_000, "the campaign counts HKD");
    let donation = gift.json()["id"].as_str().unwrap().to_string();
    assert_eq!(m.call("POST", &format!("/v3/qianbao/donations/{donation}/refund"), "{}").status, 200);
    assert_eq!(w.available("CNY"), "1000.00", "exactly what was paid comes back");
    ledger_verifies(&env);
}

fn a_chargeback_reverses_a_card_gift_and_its_match_once(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "CB2026", 30);
    let sponsor = donor(port, "1000.00");
    let pledge = r#"{"currency":"HKD","cap":"100.00","per_donor_max":"100.00","pin":"135790"}"#;
    assert_eq!(sponsor.post(&format!("/api/v1/campaigns/{id}/matches"), pledge).status, 201);
    let w = donor(port, "100.00");
    let gift = donate(&w, &id, json!({"amount": "30.00", "currency": "HKD", "pin": "135790", "card_id": first_card(&w)}));
    assert_eq!(gift.json()["matched"], "30.00", "{}", gift.body);
    let donation = gift.json()["id"].as_str().unwrap().to_string();
    let by_balance = give(&w, &id, "10.00").json()["id"].as_str().unwrap().to_string();
    let path = |d: &str| format!("/admin/api/donations/{d}/chargeback");
    let back = operator_request(port, "POST", &path(&donation), Some(r#"{"reason":"VISA dispute 4837"}"#));
    assert_eq!((back.status, back.json()["state"].as_str()), (200, Some("charged_back")), "{}", back.body);
    let again = operator_request(port, "POST", &path(&donation), Some(r#"{"reason":"VISA dispute 4837"}"#));
    assert_eq!(again.json()["state"], "charged_back", "once");
    let r = reconciliation(port, &id);
    assert_eq!((r["raised_minor"].as_i64(), r["matched_minor"].as_i64()), (Some(1_000), Some(1_000)), "{r}");
    assert_eq!(r["escrow_left_minor"], 9_000, "the match is back in the pledge: {r}");
    assert_eq!(r["receivable_minor"], 2_000, "only the balance gift and its match stay: {r}");
    let refund = m.call("POST", &format!("/v3/qianbao/donations/{donation}/refund"), "{}");
    assert_eq!(refund.json()["state"], "charged_back", "a charged-back gift is not refunded too");
    let not_card = operator_request(port, "POST", &path(&by_balance), Some(r#"{"reason":"x"}"#));
    assert_eq!(not_card.status, 400, "only a card gift is charged back: {}", not_card.body);
    assert_eq!(w.available("HKD"), "90.00");
    ledger_verifies(&env);
}

fn start_monthly(w: &Wallet, campaign: &str, body: Value) -> Response {
    w.post(&format!("/api/v1/campaigns/{campaign}/recurring-donations"), &body.to_string())
}

fn monthly(w: &Wallet) -> Value {
    w.get("/api/v1/recurring-donations").json()[0].clone()
}

fn a_monthly_donation_gives_now_and_once_a_month_until_it_is_stopped(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "MONTHLY1", 200);
    let (w, phone) = donor_with_phone(port, "500.00");
    let body = json!({"amount": "20.00", "currency": "HKD", "pin": "135790"});
    let path = format!("/api/v1/campaigns/{id}/recurring-donations");
    let plan = w.post_keyed(&path, &body.to_string(), "monthly-1");
    assert_eq!(plan.status, 201, "{}", plan.body);
    assert_eq!((plan.json()["state"].as_str(), plan.json()["charges"].as_i64()), (Some("active"), Some(1)), "{}", plan.body);
    assert_eq!(w.post_keyed(&path, &body.to_string(), "monthly-1").json()["id"], plan.json()["id"], "a retry is the same plan");
    assert_eq!(w.available("HKD"), "480.00", "the first gift at once, once");
    let w = months_later(port, &phone, 31 * DAY_S);
    assert_eq!(monthly(&w)["charges"], 2, "{}", monthly(&w));
    assert_eq!(w.available("HKD"), "460.00");
    advance_clock(port, 3_600);
    assert_eq!(w.available("HKD"), "460.00", "once a month");
    let stopped = delete(&w, &format!("/api/v1/recurring-donations/{}", plan.json()["id"].as_str().unwrap()));
    assert_eq!((stopped.status, stopped.json()["state"].as_str()), (200, Some("stopped")), "{}", stopped.body);
    let w = months_later(port, &phone, 31 * DAY_S);
    assert_eq!((w.available("HKD").as_str(), monthly(&w)["charges"].as_i64()), ("460.00", Some(2)), "a stopped plan is never charged");
    let gifts = w.get("/api/v1/donations").json();
    assert_eq!(gifts.as_array().unwrap().len(), 2, "{gifts}");
    assert!(gifts.as_array().unwrap().iter().all(|g| g["recurring_id"] == plan.json()["id"]), "{gifts}");
}

fn a_failed_monthly_charge_is_tried_the_next_day_and_three_failures_lapse_the_plan(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "MONTHLY2", 200);
    let (w, phone) = donor_with_phone(port, "30.00");
    let plan = start_monthly(&w, &id, json!({"amount": "20.00", "currency": "HKD", "pin": "135790"}));
    assert_eq!(plan.status, 201, "{}", plan.body);
    let w = months_later(port, &phone, 31 * DAY_S);
    assert_eq!((monthly(&w)["failures"].as_i64(), monthly(&w)["state"].as_str()), (Some(1), Some("active")), "10.00 is too little");
    let card = first_card(&w);
    let topped = w.post("/api/v1/top-ups", &format!(r#"{{"card_id":"{card}","amount":"20.00","currency":"HKD","pin":"135790"}}"#));
    assert_eq!(topped.status, 201, "{}", topped.body);
    advance_clock(port, DAY_S);
    assert_eq!((monthly(&w)["charges"].as_i64(), monthly(&w)["failures"].as_i64()), (Some(2), Some(0)), "the next day it went through");
    assert_eq!(w.available("HKD"), "10.00");
    for _ in 0..3 {
        advance_clock(port, 31 * DAY_S);
    }
    let w = sign_in(port, &phone);
    let lapsed = monthly(&w);
    assert_eq!(
        (lapsed["state"].as_str(), lapsed["failures"].as_i64(), lapsed["charges"].as_i64()),
        (Some("lapsed"), Some(3), Some(2)),
        "{lapsed}"
    );
    assert!(lapsed["last_failure"].as_str().is_some(), "the donor is told why: {lapsed}");
    assert_eq!(w.available("HKD"), "10.00");
}

fn a_monthly_donation_from_a_removed_card_is_refused_and_removing_its_card_lapses_it(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "MONTHLY3", 200);
    let (w, phone) = donor_with_phone(port, "100.00");
    let card = first_card(&w);
    let plan = start_monthly(&w, &id, json!({"amount": "20.00", "currency": "HKD", "pin": "135790", "card_id": card}));
    assert_eq!(plan.status, 201, "{}", plan.body);
    assert_eq!(w.available("HKD"), "100.00", "charged to the card");
    assert_eq!(delete(&w, &format!("/api/v1/cards/{card}")).status, 204);
    assert_eq!(w.get("/api/v1/cards").json(), json!([]), "removed");
    let refused = start_monthly(&w, &id, json!({"amount": "20.00", "currency": "HKD", "pin": "135790", "card_id": card}));
    assert_eq!((refused.status, refused.json()["field"].as_str()), (400, Some("card_id")), "{}", refused.body);
    assert_eq!(w.get("/api/v1/recurring-donations").json().as_array().unwrap().len(), 1, "nothing was set up");
    let w = months_later(port, &phone, 31 * DAY_S);
    let lapsed = monthly(&w);
    assert_eq!((lapsed["state"].as_str(), lapsed["charges"].as_i64()), (Some("lapsed"), Some(1)), "{lapsed}");
    let declined = Wallet::register(port, &format!("+852{}", PHONE.fetch_add(1, Ordering::SeqCst)), "Ka");
    declined.set_pin("135790");
    let bad = declined.post("/api/v1/cards", r#"{"number":"4000 0000 0000 0002","exp_month":12,"exp_year":2099}"#);
    let first = start_monthly(&declined, &id, json!({"amount": "20.00", "currency": "HKD", "pin": "135790", "card_id": bad.json()["id"]}));
    assert_eq!(first.status, 402, "a first gift the card declines sets nothing up: {}", first.body);
    assert_eq!(declined.get("/api/v1/recurring-donations").json(), json!([]));
}

fn publish(m: &crate::support::merchant::TestMerchant, campaign: &str, out_no: &str, price: i64) -> Response {
    let body = json!({"out_item_no": out_no, "name": "Vaccine pack", "description": "Protects ten children from measles",
        "price": {"total": price, "currency": "HKD"}});
    m.call("POST", &format!("/v3/qianbao/campaigns/{campaign}/gift-items"), &body.to_string())
}

fn an_inspired_gift_in_a_friends_name_is_a_donation_the_friend_receives_and_thanks_and_the_charity_counts(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "GIFTS2026", 30);
    let item = publish(&m, &id, "VAX-1", 15_000);
    assert_eq!(item.status, 200, "{}", item.body);
    m.check_signed(&item);
    let item_id = item.json()["item_id"].as_str().unwrap().to_string();
    assert_eq!(publish(&m, &id, "VAX-1", 15_000).json()["item_id"], item_id.as_str(), "a retry is the same item");
    let catalogue = request(port, "GET", &format!("/api/v1/campaigns/{id}/gifts"), None, None).unwrap().json();
    assert_eq!((catalogue[0]["name"].as_str(), catalogue[0]["price"].as_str()), (Some("Vaccine pack"), Some("150.00")), "{catalogue}");
    let giver = donor(port, "500.00");
    let friend = donor(port, "10.00");
    giver.befriend(&friend);
    let body = json!({"item_id": item_id, "friend_id": friend.id, "note": "Happy birthday, Mei", "pin": "135790"});
    let gift = giver.post_keyed("/api/v1/gifts", &body.to_string(), "gift-1");
    assert_eq!(gift.status, 201, "{}", gift.body);
    assert_eq!(giver.post_keyed("/api/v1/gifts", &body.to_string(), "gift-1").json()["id"], gift.json()["id"], "a retry is the same gift");
    assert_eq!(giver.available("HKD"), "350.00");
    assert_eq!(reconciliation(port, &id)["raised_minor"], 15_000, "the money is a donation to the campaign");
    let card = &friend.get("/api/v1/gift-cards").json()[0];
    assert_eq!(
        (card["item"].as_str(), card["received"].as_bool(), card["note"].as_str()),
        (Some("Vaccine pack"), Some(true), Some("Happy birthday, Mei")),
        "{card}"
    );
    let thanks = format!("/api/v1/gift-cards/{}/thanks", card["id"].as_str().unwrap());
    assert_eq!(friend.post(&thanks, r#"{"message":"Thank you!"}"#).status, 200);
    assert_eq!(friend.post(&thanks, r#"{"message":"Again"}"#).status, 409, "thanked once");
    assert_eq!(giver.post(&thanks, r#"{"message":"Me"}"#).status, 404, "only the friend thanks");
    let sent = &giver.get("/api/v1/gift-cards").json()[0];
    assert_eq!((sent["received"].as_bool(), sent["thanks"].as_str()), (Some(false), Some("Thank you!")), "{sent}");
    let counts = m.call("GET", &format!("/v3/qianbao/campaigns/{id}/gift-items"), "").json();
    assert_eq!(counts["data"][0]["sold"], 1, "{counts}");
    super::console::add_user(port, &m.mchid, "owner", "owner");
    let console = super::console::Console::sign_in(port, &m.mchid, "owner", "console-pass-1").unwrap();
    let page = console.get(&format!("/merchant/campaigns/{id}")).body;
    assert!(page.contains(r#"id="gift-items""#) && page.contains("Vaccine pack"), "the charity's console counts its gifts: {page}");
    let receipt = giver.get(&format!("/api/v1/donations/{}/receipt", gift.json()["id"].as_str().unwrap())).json();
    assert_eq!(receipt["donor_name"], "Wing", "the giver's receipt");
}

fn bad_gifts_are_refused_with_a_clear_error_and_change_nothing(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "GIFTS2027", 30);
    assert_eq!(publish(&m, &id, "CHEAP", 500).status, 400, "below the campaign's smallest gift");
    let item_id = publish(&m, &id, "KIT-1", 2_000).json()["item_id"].as_str().unwrap().to_string();
    let reused = publish(&m, &id, "KIT-1", 9_000);
    assert_eq!(reused.status, 400, "a number reused for another item: {}", reused.body);
    assert!(reused.json()["message"].as_str().unwrap().contains("out_item_no"), "{}", reused.body);
    let giver = donor(port, "500.00");
    let stranger = donor(port, "10.00");
    let to = |who: &Wallet| json!({"item_id": item_id, "friend_id": who.id, "pin": "135790"}).to_string();
    assert_eq!(giver.post("/api/v1/gifts", &to(&stranger)).status, 403, "a gift to a non-friend");
    assert_eq!(giver.post("/api/v1/gifts", &to(&giver)).status, 400, "a gift to oneself");
    let withdrawn = m.call("POST", &format!("/v3/qianbao/gift-items/{item_id}/withdraw"), "{}");
    assert_eq!(withdrawn.json()["state"], "withdrawn", "{}", withdrawn.body);
    giver.befriend(&stranger);
    let gone = giver.post("/api/v1/gifts", &to(&stranger));
    assert_eq!((gone.status, gone.json()["code"].as_str()), (409, Some("GIFT_WITHDRAWN")), "{}", gone.body);
    assert_eq!(giver.available("HKD"), "500.00");
    assert_eq!(stranger.get("/api/v1/gift-cards").json(), json!([]));
    let counts = m.call("GET", &format!("/v3/qianbao/campaigns/{id}/gift-items"), "").json();
    assert_eq!(counts["data"][0]["sold"], 0, "{counts}");
}

fn a_receipt_is_also_a_pdf_with_its_number(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let m = charity(server.port);
    let id = campaign(&m, "PDF2026", 30);
    let w = donor(server.port, "100.00");
    let gift = give(&w, &id, "25.00");
    let donation = gift.json()["id"].as_str().unwrap().to_string();
    let pdf = w.get(&format!("/api/v1/donations/{donation}/receipt.pdf"));
    assert_eq!((pdf.status, pdf.header("content-type")), (200, Some("application/pdf")));
    assert!(pdf.body.starts_with("%PDF-"), "{}", &pdf.body[..20.min(pdf.body.len())]);
    assert!(pdf.body.contains(&format!("({})", gift.json()["receipt_no"].as_str().unwrap())), "the receipt number");
    assert!(pdf.body.contains("(25.00 HKD)"), "the amount");
    let other = donor(server.port, "10.00");
    assert_eq!(other.get(&format!("/api/v1/donations/{donation}/receipt.pdf")).status, 404, "only the donor's");
    let year = &w.get(&format!("/api/v1/donations/{donation}/receipt")).json()["date"].as_str().unwrap()[..4].to_string();
    let summary = w.get(&format!("/api/v1/charities/{}/receipts.pdf?year={year}", m.mchid));
    assert_eq!((summary.status, summary.header("content-type")), (200, Some("application/pdf")), "{}", summary.body);
    assert!(summary.body.contains("(Total)") && summary.body.contains("25.00 HKD (1 gifts)"), "the year's total");
}

fn a_person_gives_with_a_card_on_the_campaign_page_and_downloads_the_receipt(env: Env) {
    use super::console::{field, sign_in_form};
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "WEBCARD", 30);
    let w = donor(port, "100.00");
    let card = first_card(&w);
    let phone = w.get("/api/v1/me").json()["person"]["phone"].as_str().unwrap().to_string();
    let web = sign_in_form(port, "/wallet/sign-in", ("qb_pre", "qb_wallet"), &[("phone", &phone), ("password", "correct horse battery")])
        .unwrap_or_else(|r| panic!("{}", r.body));
    let page = web.get(&format!("/wallet/campaigns/{id}")).body;
    assert!(page.contains(&format!(r#"value="card:{card}""#)), "the card is offered: {page}");
    let key = field(&page, "key");
    let pay_with = format!("card:{card}");
    let fields = [("amount", "40.00"), ("pin", "135790"), ("pay_with", pay_with.as_str()), ("key", key.as_str())];
    let gave = web.post(&format!("/wallet/campaigns/{id}"), &format!("/wallet/campaigns/{id}/donate"), &fields);
    assert_eq!(gave.status, 303, "{}", gave.body);
    assert_eq!(w.available("HKD"), "100.00", "the card paid");
    let receipt_at = gave.header("location").unwrap().to_string();
    let receipt = web.get(&receipt_at).body;
    assert!(receipt.contains("40.00 HKD") && receipt.contains("receipt.pdf"), "{receipt}");
    let pdf = web.get(&format!("{receipt_at}/receipt.pdf"));
    assert_eq!((pdf.status, pdf.header("content-type")), (200, Some("application/pdf")));
}

both_backends!(
    a_gift_from_a_card_leaves_the_balance_alone_and_its_refund_goes_back_to_the_card,
    a_cny_wallet_gives_to_an_hkd_campaign_through_fx_and_its_refund_returns_exactly_what_it_paid,
    a_chargeback_reverses_a_card_gift_and_its_match_once,
    a_monthly_donation_gives_now_and_once_a_month_until_it_is_stopped,
    a_failed_monthly_charge_is_tried_the_next_day_and_three_failures_lapse_the_plan,
    a_monthly_donation_from_a_removed_card_is_refused_and_removing_its_card_lapses_it,
    an_inspired_gift_in_a_friends_name_is_a_donation_the_friend_receives_and_thanks_and_the_charity_counts,
    bad_gifts_are_refused_with_a_clear_error_and_change_nothing,
    a_receipt_is_also_a_pdf_with_its_number,
    a_person_gives_with_a_card_on_the_campaign_page_and_downloads_the_receipt,
);
