//! Official accounts over the wire: a charity's account found by name, followed, its appeals read in
//! order with an unread count, a receipt to one follower only, muting and unfollowing; its owner
//! publishes on the signed merchant API, once per `out_message_no`.

use crate::support::merchant::TestMerchant;
use crate::support::*;
use serde_json::{Value, json};

/// A merchant with an official account `appid` named `name`.
fn account(port: u16, appid: &str, name: &str) -> TestMerchant {
    let m = TestMerchant::onboard_in(port, 0, "direct", "HK", "HKD");
    let r = post(
        port,
        &format!("/admin/api/merchants/{}/apps", m.mchid),
        &json!({"appid": appid, "kind": "official_account", "name": name}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    m
}

fn publish(m: &TestMerchant, appid: &str, out_no: &str, kind: &str, to: Option<&str>) -> Response {
    let mut body =
        json!({"out_message_no": out_no, "kind": kind, "title": format!("{kind} {out_no}"), "body": "Nepal: shelter, water, vaccines."});
    if let Some(openid) = to {
        body["to_openid"] = json!(openid);
    }
    m.call("POST", &format!("/v3/qianbao/official-accounts/{appid}/messages"), &body.to_string())
}

fn inbox(w: &Wallet) -> Value {
    let r = w.get("/api/v1/inbox");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn titles(inbox: &Value) -> Vec<String> {
    inbox["messages"].as_array().unwrap().iter().map(|m| m["title"].as_str().unwrap().to_string()).collect()
}

fn a_follower_reads_an_accounts_messages_in_order_once_each_with_an_unread_count(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = account(port, "wxunicefhk000001", "UNICEF Hong Kong");
    let w = Wallet::register(port, "+85291230001", "Wing");
    let found = w.get("/api/v1/official-accounts?q=UNICEF").json();
    assert_eq!(found[0]["appid"], "wxunicefhk000001", "found by the start of its name: {found}");
    assert_eq!(w.post("/api/v1/official-accounts/wxunicefhk000001/follow", "{}").status, 200);
    for (no, kind) in [("N1", "news"), ("A1", "appeal"), ("A2", "appeal")] {
        let r = publish(&m, "wxunicefhk000001", no, kind, None);
        assert_eq!(r.status, 200, "{}", r.body);
        m.check_signed(&r);
    }
    let again = publish(&m, "wxunicefhk000001", "A2", "appeal", None);
    assert_eq!(again.status, 200, "a retried publish is the same message");
    let first = inbox(&w);
    assert_eq!(titles(&first), ["appeal A2", "appeal A1", "news N1"], "newest first, each once");
    assert_eq!(first["unread"], 3);
    let read = w.post("/api/v1/official-accounts/wxunicefhk000001/read", "{}");
    assert_eq!((read.status, read.json()["unread"].as_i64()), (200, Some(0)), "{}", read.body);
    publish(&m, "wxunicefhk000001", "A3", "appeal", None);
    assert_eq!(inbox(&w)["unread"], 1, "only the new one is unread");
    assert_eq!(w.get("/api/v1/official-accounts/wxunicefhk000001").json()["followers"], 1);
}

fn messages_from_before_a_follow_or_after_unfollowing_do_not_arrive(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = account(port, "wxunicefhk000002", "UNICEF Hong Kong");
    publish(&m, "wxunicefhk000002", "OLD", "news", None);
    advance_clock(port, 1);
    let w = Wallet::register(port, "+85291230002", "Wing");
    w.post("/api/v1/official-accounts/wxunicefhk000002/follow", "{}");
    assert_eq!(titles(&inbox(&w)), Vec::<String>::new(), "what came before the follow is not delivered");
    let r = request(port, "DELETE", "/api/v1/official-accounts/wxunicefhk000002/follow", Some(&w.token), None).unwrap();
    assert_eq!(r.status, 204);
    publish(&m, "wxunicefhk000002", "NEW", "appeal", None);
    assert_eq!(inbox(&w)["messages"].as_array().unwrap().len(), 0, "nor anything after unfollowing");
}

fn a_receipt_goes_to_one_follower_and_never_to_someone_who_does_not_follow(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = account(port, "wxunicefhk000003", "UNICEF Hong Kong");
    let wing = Wallet::register(port, "+85291230003", "Wing");
    let mei = Wallet::register(port, "+85291230004", "Mei");
    for w in [&wing, &mei] {
        w.post("/api/v1/official-accounts/wxunicefhk000003/follow", "{}");
    }
    let follows = wing.get("/api/v1/follows").json();
    let openid = follows[0]["openid"].as_str().unwrap().to_string();
    assert!(openid.starts_with('o') && openid.len() == 28, "an openid, not the person: {openid}");
    assert_eq!(publish(&m, "wxunicefhk000003", "R1", "receipt", Some(&openid)).status, 200);
    assert_eq!(titles(&inbox(&wing)), ["receipt R1"]);
    assert_eq!(inbox(&wing)["messages"][0]["personal"], true);
    assert_eq!(titles(&inbox(&mei)), Vec::<String>::new(), "another follower does not see it");
    let stranger = publish(&m, "wxunicefhk000003", "R2", "receipt", Some("o_not_a_follower_of_this_acct"));
    assert_eq!((stranger.status, stranger.json()["detail"]["field"].as_str()), (400, Some("/to_openid")), "{}", stranger.body);
    let unaddressed = publish(&m, "wxunicefhk000003", "R3", "receipt", None);
    assert_eq!(unaddressed.status, 400, "a receipt names its follower: {}", unaddressed.body);
    let other = TestMerchant::onboard(port, 60);
    assert_eq!(publish(&other, "wxunicefhk000003", "X1", "news", None).status, 404, "only the account's owner publishes");
}

fn a_muted_account_still_delivers_and_says_it_is_muted(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = account(port, "wxunicefhk000004", "UNICEF Hong Kong");
    let w = Wallet::register(port, "+85291230005", "Wing");
    w.post("/api/v1/official-accounts/wxunicefhk000004/follow", "{}");
    let muted = w.put("/api/v1/official-accounts/wxunicefhk000004/mute", r#"{"muted":true}"#);
    assert_eq!((muted.status, muted.json()["muted"].as_bool()), (200, Some(true)), "{}", muted.body);
    publish(&m, "wxunicefhk000004", "N1", "news", None);
    assert_eq!(inbox(&w)["unread"], 1);
    let long = json!({"out_message_no": "L1", "kind": "news", "title": "x".repeat(65), "body": "b"}).to_string();
    assert_eq!(m.call("POST", "/v3/qianbao/official-accounts/wxunicefhk000004/messages", &long).status, 400);
}

fn a_person_follows_an_account_from_its_page_and_reads_its_appeal_in_the_inbox(env: Env) {
    use super::console::sign_in_form;
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = account(port, "wxunicefhk000005", "UNICEF Hong Kong");
    Wallet::register(port, "+85291230006", "Wing");
    let web =
        sign_in_form(port, "/wallet/sign-in", ("qb_pre", "qb_wallet"), &[("phone", "+85291230006"), ("password", "correct horse battery")])
            .unwrap_or_else(|r| panic!("{}", r.body));
    let found = web.get("/wallet/inbox?q=UNICEF").body;
    assert!(found.contains(r#"href="/wallet/accounts/wxunicefhk000005""#), "{found}");
    let followed = web.post("/wallet/accounts/wxunicefhk000005", "/wallet/accounts/wxunicefhk000005/follow", &[]);
    assert_eq!(followed.header("location"), Some("/wallet/accounts/wxunicefhk000005?done=followed"), "{}", followed.body);
    assert_eq!(publish(&m, "wxunicefhk000005", "NEPAL1", "appeal", None).status, 200);
    assert!(web.get("/wallet").body.contains(r#"<strong id="unread">1</strong>"#), "the home page counts the unread message");
    let inbox = web.get("/wallet/inbox").body;
    assert!(inbox.contains("appeal NEPAL1") && inbox.contains("Nepal: shelter"), "{inbox}");
    assert!(!web.get("/wallet").body.contains(r#"id="unread""#), "read once shown");
}

both_backends!(
    a_person_follows_an_account_from_its_page_and_reads_its_appeal_in_the_inbox,
    a_follower_reads_an_accounts_messages_in_order_once_each_with_an_unread_count,
    messages_from_before_a_follow_or_after_unfollowing_do_not_arrive,
    a_receipt_goes_to_one_follower_and_never_to_someone_who_does_not_follow,
    a_muted_account_still_delivers_and_says_it_is_muted,
);
