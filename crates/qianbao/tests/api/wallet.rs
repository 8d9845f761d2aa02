//! The wallet API, black-box over real HTTP against `qianbao serve`: people, PIN, cards and top-ups,
//! friends, transfers, red packets, history, idempotency. Each test body runs on SQLite and, when
//! QIANBAO_TEST_DATABASE_URL is set, on PostgreSQL.

use crate::support::*;
use std::sync::atomic::{AtomicU64, Ordering};

both_backends!(
    registration_opens_an_empty_wallet_in_the_region_currency,
    bad_registrations_name_the_field_and_create_nothing,
    a_wrong_password_and_an_unknown_phone_look_the_same,
    a_signed_out_token_no_longer_works,
    a_sign_out_on_one_instance_ends_the_session_on_another_within_the_caches_bound,
    payments_need_the_pin_and_five_wrong_pins_lock_them,
    a_pin_locked_on_one_instance_is_refused_on_another_within_the_caches_bound,
    cards_are_checked_and_only_the_last_four_are_shown,
    a_declined_card_tops_up_nothing,
    a_pending_card_charge_lands_when_the_rail_confirms,
    money_goes_only_to_friends,
    an_accepted_transfer_arrives_and_cannot_be_accepted_again,
    a_declined_transfer_returns_to_the_sender,
    an_unaccepted_transfer_returns_after_24_hours,
    only_the_receiver_sees_and_resolves_a_transfer,
    bad_amounts_and_notes_are_refused,
    an_idempotency_key_replays_the_first_answer,
    a_lucky_group_packet_pays_each_member_once_and_exactly_the_total,
    an_equal_packet_splits_evenly_and_a_one_to_one_packet_goes_to_one_friend,
    unclaimed_red_packet_money_returns_after_24_hours,
    concurrent_claims_never_take_more_shares_than_exist,
    history_lists_what_happened_with_filters,
    a_tier_zero_wallet_is_held_to_its_single_and_daily_limits,
    concurrent_payments_cannot_both_slip_under_the_daily_limit,
    kyc_raises_the_limits_and_refuses_a_bad_document,
    a_withdrawal_holds_the_money_until_the_bank_confirms,
    a_withdrawal_the_bank_refuses_returns_the_money,
    the_monthly_statement_is_a_csv_of_the_month,
    a_declined_or_returned_transfer_gives_its_limit_back,
    expired_sessions_and_idempotency_keys_are_purged,
    a_card_pays_a_friend_without_any_balance,
    a_card_payment_the_ledger_refuses_is_refunded_to_the_card,
);

static PHONE: AtomicU64 = AtomicU64::new(13_800_000_000);

fn phone() -> String {
    format!("+86{}", PHONE.fetch_add(1, Ordering::SeqCst))
}

fn start(env: &Env) -> Server {
    env.serve_with(&[], WALLET_ENV)
}

/// Alice (with 1000.00 CNY and PIN 135790) and Bob, friends.
fn alice_and_bob(server: &Server) -> (Wallet, Wallet) {
    let alice = Wallet::register(server.port, &phone(), "Alice");
    let bob = Wallet::register(server.port, &phone(), "Bob");
    alice.set_pin("135790");
    bob.set_pin("246801");
    let kyc = alice
        .post("/api/v1/me/kyc", r#"{"legal_name":"Alice Wang","document_type":"cn_resident_id","document_number":"11010519491231002X"}"#);
    assert_eq!(kyc.json()["kyc_tier"], 1, "{}", kyc.body);
    alice.top_up("1000.00", "135790");
    // The manual clock stands still; a second later, what follows is strictly newer than the top-up
    // (history orders by time, then by id within the same millisecond).
    advance_clock(server.port, 1);
    alice.befriend(&bob);
    (alice, bob)
}

fn send(from: &Wallet, to: &Wallet, amount: &str) -> Response {
    from.post(
        "/api/v1/transfers",
        &format!(r#"{{"to_person_id":"{}","amount":"{amount}","currency":"CNY","note":"dinner","pin":"135790"}}"#, to.id),
    )
}

fn registration_opens_an_empty_wallet_in_the_region_currency(env: Env) {
    let server = start(&env);
    let w = Wallet::register(server.port, &phone(), "Ming");
    let me = w.get("/api/v1/me").json();
    assert_eq!(me["person"]["region"], "CN");
    assert_eq!(me["balances"][0]["currency"], "CNY");
    assert_eq!(me["balances"][0]["available"], "0.00");
    let hk = Wallet::register(server.port, "+85291234567", "Wing");
    let currencies: Vec<String> =
        hk.get("/api/v1/wallet").json().as_array().unwrap().iter().map(|b| b["currency"].as_str().unwrap().to_string()).collect();
    assert_eq!(currencies[0], "HKD");
}

fn bad_registrations_name_the_field_and_create_nothing(env: Env) {
    let server = start(&env);
    let taken = phone();
    Wallet::register(server.port, &taken, "First");
    for (body, status, code, field) in [
        (
            r#"{"phone":"13800138000","password":"long enough pw","region":"CN","display_name":"x"}"#.to_string(),
            400,
            "PARAM_ERROR",
            Some("phone"),
        ),
        (format!(r#"{{"phone":"{}","password":"short","region":"CN","display_name":"x"}}"#, phone()), 400, "PARAM_ERROR", Some("password")),
        (
            format!(r#"{{"phone":"{}","password":"long enough pw","region":"MARS","display_name":"x"}}"#, phone()),
            400,
            "PARAM_ERROR",
            Some("region"),
        ),
        (
            format!(r#"{{"phone":"{}","password":"long enough pw","region":"CN","display_name":"{}"}}"#, phone(), "n".repeat(51)),
            400,
            "PARAM_ERROR",
            Some("display_name"),
        ),
        (format!(r#"{{"phone":"{taken}","password":"long enough pw","region":"CN","display_name":"again"}}"#), 409, "PHONE_TAKEN", None),
        (r#"{"phone":"+8613800000001"}"#.to_string(), 400, "PARAM_ERROR", Some("body")),
    ] {
        let r = request(server.port, "POST", "/api/v1/people", None, Some(&body)).unwrap();
        assert_eq!((r.status, r.json()["code"].as_str().unwrap()), (status, code), "{body}: {}", r.body);
        if let Some(field) = field {
            assert_eq!(r.json()["field"], field, "{}", r.body);
        }
    }
}

fn a_wrong_password_and_an_unknown_phone_look_the_same(env: Env) {
    let server = start(&env);
    let p = phone();
    Wallet::register(server.port, &p, "Li");
    let wrong =
        request(server.port, "POST", "/api/v1/sessions", None, Some(&format!(r#"{{"phone":"{p}","password":"not the password"}}"#)))
            .unwrap();
    let unknown = request(
        server.port,
        "POST",
        "/api/v1/sessions",
        None,
        Some(&format!(r#"{{"phone":"{}","password":"not the password"}}"#, phone())),
    )
    .unwrap();
    assert_eq!((wrong.status, wrong.json()["code"].clone()), (409, "SIGN_IN_FAILED".into()));
    assert_eq!(wrong.body, unknown.body);
}

fn a_signed_out_token_no_longer_works(env: Env) {
    let server = start(&env);
    let w = Wallet::register(server.port, &phone(), "Zhang");
    assert_eq!(w.get("/api/v1/me").status, 200);
    assert_eq!(request(server.port, "DELETE", "/api/v1/sessions/current", Some(&w.token), None).unwrap().status, 204);
    assert_eq!(w.get("/api/v1/me").status, 401);
    assert_eq!(request(server.port, "GET", "/api/v1/me", Some("qb_forged"), None).unwrap().status, 401);
    let log = std::fs::read_to_string(env.data_dir.join(format!("server-{}.log", server.port))).unwrap();
    assert!(!log.contains(&w.token), "session tokens never appear in logs");
}

/// How soon a change on one instance holds on another: on PostgreSQL the announcement arrives well
/// within the caches' 5 s; on SQLite (embedded, nothing announced) once the 5 s are over.
fn caches_bound(env: &Env) -> std::time::Duration {
    match env.database_url {
        Some(_) => std::time::Duration::from_secs(4),
        None => platform::cache::TTL + std::time::Duration::from_secs(1),
    }
}

/// Two instances on one database: instance A has the session in its hot cache when the person signs out
/// on instance B. On PostgreSQL, B's announcement makes A forget it at once (well within the cache's 5 s,
/// which is measured from A's read just before the sign-out); on SQLite (embedded, nothing announced)
/// A refuses it once the 5 s are over. Either way, never later than the stated bound.
fn a_sign_out_on_one_instance_ends_the_session_on_another_within_the_caches_bound(env: Env) {
    let (a, b) = (start(&env), start(&env));
    let w = Wallet::register(a.port, &phone(), "Zhang");
    assert_eq!(w.get("/api/v1/me").status, 200, "A has the session in its cache");
    let read_at = std::time::Instant::now();
    assert_eq!(request(b.port, "DELETE", "/api/v1/sessions/current", Some(&w.token), None).unwrap().status, 204);
    let bound = caches_bound(&env);
    loop {
        if w.get("/api/v1/me").status == 401 {
            break;
        }
        assert!(read_at.elapsed() < bound, "instance A still takes a session signed out on B after {:?}", read_at.elapsed());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Two instances on one database: A holds Alice's PIN as clean (it just took it) when five wrong tries
/// on B lock it. On PostgreSQL, B's announcement makes A refuse even the right PIN well within the
/// cache's 5 s; on SQLite (nothing announced) once the 5 s are over. The probe asks for more than Alice
/// has, so an answer past the PIN check moves nothing: it is refused by her limits instead.
fn a_pin_locked_on_one_instance_is_refused_on_another_within_the_caches_bound(env: Env) {
    let (a, b) = (start(&env), start(&env));
    let (alice, bob) = alice_and_bob(&a);
    assert_eq!(send(&alice, &bob, "1.00").status, 201, "A has taken Alice's right PIN");
    let alice_on_b = Wallet { port: b.port, id: alice.id.clone(), token: alice.token.clone() };
    for _ in 0..5 {
        let wrong = alice_on_b
            .post("/api/v1/transfers", &format!(r#"{{"to_person_id":"{}","amount":"1.00","currency":"CNY","pin":"000001"}}"#, bob.id));
        assert!(matches!(wrong.json()["code"].as_str(), Some("PIN_WRONG" | "PIN_LOCKED")), "{}", wrong.body);
    }
    let locked_at = std::time::Instant::now();
    let bound = caches_bound(&env);
    loop {
        let probe = send(&alice, &bob, "5000.00");
        assert!(probe.status >= 400, "the probe never moves money: {}", probe.body);
        if probe.json()["code"] == "PIN_LOCKED" {
            break;
        }
        assert!(locked_at.elapsed() < bound, "A still takes a PIN locked on B after {:?}: {}", locked_at.elapsed(), probe.body);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(alice.available("CNY"), "999.00", "only the first transfer moved money");
}

fn payments_need_the_pin_and_five_wrong_pins_lock_them(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let no_pin = alice.post("/api/v1/transfers", &format!(r#"{{"to_person_id":"{}","amount":"1.00","currency":"CNY"}}"#, bob.id));
    assert_eq!((no_pin.status, no_pin.json()["code"].as_str().unwrap()), (403, "PIN_REQUIRED"));
    let trivial = alice.put("/api/v1/me/pin", r#"{"pin":"111111","current_pin":"135790"}"#);
    assert_eq!(trivial.json()["field"], "pin");
    for left in (1..=4).rev() {
        let r =
            alice.post("/api/v1/transfers", &format!(r#"{{"to_person_id":"{}","amount":"1.00","currency":"CNY","pin":"000001"}}"#, bob.id));
        assert_eq!(
            (r.status, r.json()["code"].as_str().unwrap(), r.json()["attempts_left"].as_u64()),
            (403, "PIN_WRONG", Some(left)),
            "{}",
            r.body
        );
    }
    let locked =
        alice.post("/api/v1/transfers", &format!(r#"{{"to_person_id":"{}","amount":"1.00","currency":"CNY","pin":"000001"}}"#, bob.id));
    assert_eq!((locked.status, locked.json()["code"].as_str().unwrap()), (423, "PIN_LOCKED"));
    let right_but_locked = send(&alice, &bob, "1.00");
    assert_eq!(right_but_locked.json()["code"], "PIN_LOCKED", "even the right PIN waits out the lockout");
    assert_eq!(alice.available("CNY"), "1000.00");
    advance_clock(server.port, 3 * 3600 + 1);
    assert_eq!(send(&alice, &bob, "1.00").status, 201);
}

fn cards_are_checked_and_only_the_last_four_are_shown(env: Env) {
    let server = start(&env);
    let w = Wallet::register(server.port, &phone(), "Card");
    for (body, field) in [
        (r#"{"number":"4242424242424241","exp_month":12,"exp_year":2099}"#, "number"),
        (r#"{"number":"9999999999999995","exp_month":12,"exp_year":2099}"#, "number"),
        (r#"{"number":"4242424242424242","exp_month":13,"exp_year":2099}"#, "exp_month"),
        (r#"{"number":"4242424242424242","exp_month":1,"exp_year":2020}"#, "exp_year"),
    ] {
        let r = w.post("/api/v1/cards", body);
        assert_eq!((r.status, r.json()["field"].as_str()), (400, Some(field)), "{body}: {}", r.body);
    }
    let card = w.post("/api/v1/cards", r#"{"number":"6200 0000 0000 0005","exp_month":6,"exp_year":2099}"#).json();
    assert_eq!((card["brand"].as_str(), card["last4"].as_str()), (Some("unionpay"), Some("0005")));
    let listed = w.get("/api/v1/cards").body;
    assert!(!listed.contains("6200000000000005") && listed.contains("0005"));
}

fn a_declined_card_tops_up_nothing(env: Env) {
    let server = start(&env);
    let w = Wallet::register(server.port, &phone(), "Decl");
    w.set_pin("135790");
    let card = w.post("/api/v1/cards", r#"{"number":"4000000000000002","exp_month":12,"exp_year":2099}"#).json();
    let r = w.post(
        "/api/v1/top-ups",
        &format!(r#"{{"card_id":"{}","amount":"50.00","currency":"CNY","pin":"135790"}}"#, card["id"].as_str().unwrap()),
    );
    assert_eq!((r.json()["state"].as_str(), r.json()["failure"].as_str()), (Some("failed"), Some("card_declined")), "{}", r.body);
    assert_eq!(w.available("CNY"), "0.00");
}

fn a_pending_card_charge_lands_when_the_rail_confirms(env: Env) {
    let server = start(&env);
    let w = Wallet::register(server.port, &phone(), "Later");
    w.set_pin("135790");
    let card = w.post("/api/v1/cards", r#"{"number":"4000000000000259","exp_month":12,"exp_year":2099}"#).json();
    let r = w.post(
        "/api/v1/top-ups",
        &format!(r#"{{"card_id":"{}","amount":"88.80","currency":"CNY","pin":"135790"}}"#, card["id"].as_str().unwrap()),
    );
    assert_eq!(r.json()["state"], "pending", "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(w.available("CNY"), "0.00");
    advance_clock(server.port, 5);
    assert_eq!(w.get(&format!("/api/v1/top-ups/{id}")).json()["state"], "succeeded");
    assert_eq!(w.available("CNY"), "88.80");
}

fn money_goes_only_to_friends(env: Env) {
    let server = start(&env);
    let (alice, _bob) = alice_and_bob(&server);
    let stranger = Wallet::register(server.port, &phone(), "Stranger");
    let r = send(&alice, &stranger, "1.00");
    assert_eq!((r.status, r.json()["code"].as_str().unwrap()), (403, "FORBIDDEN"));
    let half = alice.post("/api/v1/friends", &format!(r#"{{"person_id":"{}"}}"#, stranger.id));
    assert_eq!(half.json()["state"], "requested");
    assert_eq!(send(&alice, &stranger, "1.00").status, 403, "a request not yet accepted is not a friendship");
    assert_eq!(alice.available("CNY"), "1000.00");
}

fn an_accepted_transfer_arrives_and_cannot_be_accepted_again(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let t = send(&alice, &bob, "12.34");
    assert_eq!(t.status, 201, "{}", t.body);
    assert_eq!(t.json()["state"], "pending");
    let id = t.json()["id"].as_str().unwrap().to_string();
    assert_eq!(alice.available("CNY"), "987.66", "the money left at once");
    assert_eq!(bob.available("CNY"), "0.00", "and arrives only on acceptance");
    let accepted = bob.post(&format!("/api/v1/transfers/{id}/accept"), "{}");
    assert_eq!(accepted.json()["state"], "accepted", "{}", accepted.body);
    assert_eq!(bob.available("CNY"), "12.34");
    let again = bob.post(&format!("/api/v1/transfers/{id}/accept"), "{}");
    assert_eq!((again.status, again.json()["code"].as_str().unwrap()), (409, "ALREADY_ACCEPTED"));
    let decline_after = bob.post(&format!("/api/v1/transfers/{id}/decline"), "{}");
    assert_eq!(decline_after.json()["code"], "ALREADY_ACCEPTED");
    assert_eq!(bob.available("CNY"), "12.34");
}

fn a_declined_transfer_returns_to_the_sender(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let id = send(&alice, &bob, "100.00").json()["id"].as_str().unwrap().to_string();
    let declined = bob.post(&format!("/api/v1/transfers/{id}/decline"), "{}");
    assert_eq!(declined.json()["state"], "declined", "{}", declined.body);
    assert_eq!(alice.available("CNY"), "1000.00");
    assert_eq!(bob.post(&format!("/api/v1/transfers/{id}/accept"), "{}").json()["code"], "ALREADY_DECLINED");
}

fn an_unaccepted_transfer_returns_after_24_hours(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let id = send(&alice, &bob, "30.00").json()["id"].as_str().unwrap().to_string();
    advance_clock(server.port, 86_400 + 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alice.get(&format!("/api/v1/transfers/{id}")).json()["state"] != "refunded" {
        assert!(std::time::Instant::now() < deadline, "the transfer was refunded within 10 s of the deadline");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(alice.available("CNY"), "1000.00");
    let late = bob.post(&format!("/api/v1/transfers/{id}/accept"), "{}");
    assert_eq!((late.status, late.json()["code"].as_str().unwrap()), (410, "EXPIRED"));
    assert_eq!(bob.available("CNY"), "0.00");
}

fn only_the_receiver_sees_and_resolves_a_transfer(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let eve = Wallet::register(server.port, &phone(), "Eve");
    let id = send(&alice, &bob, "5.00").json()["id"].as_str().unwrap().to_string();
    assert_eq!(eve.get(&format!("/api/v1/transfers/{id}")).status, 404);
    assert_eq!(eve.post(&format!("/api/v1/transfers/{id}/accept"), "{}").status, 404);
    assert_eq!(alice.post(&format!("/api/v1/transfers/{id}/accept"), "{}").status, 403, "the sender cannot accept their own transfer");
    assert_eq!(alice.get(&format!("/api/v1/transfers/{id}")).json()["state"], "pending");
}

fn bad_amounts_and_notes_are_refused(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let to = &bob.id;
    for (body, field, code) in [
        (format!(r#"{{"to_person_id":"{to}","amount":"1.234","currency":"CNY","pin":"135790"}}"#), "amount", "PARAM_ERROR"),
        (format!(r#"{{"to_person_id":"{to}","amount":"0.00","currency":"CNY","pin":"135790"}}"#), "amount", "PARAM_ERROR"),
        (format!(r#"{{"to_person_id":"{to}","amount":"-5","currency":"CNY","pin":"135790"}}"#), "amount", "PARAM_ERROR"),
        (format!(r#"{{"to_person_id":"{to}","amount":"1.00","currency":"XYZ","pin":"135790"}}"#), "currency", "PARAM_ERROR"),
        (format!(r#"{{"to_person_id":"{to}","amount":"1.00","currency":"USD","pin":"135790"}}"#), "currency", "PARAM_ERROR"),
        (
            format!(r#"{{"to_person_id":"{to}","amount":"1.00","currency":"CNY","note":"{}","pin":"135790"}}"#, "长".repeat(101)),
            "note",
            "PARAM_ERROR",
        ),
    ] {
        let r = alice.post("/api/v1/transfers", &body);
        assert_eq!(
            (r.status, r.json()["code"].as_str().unwrap(), r.json()["field"].as_str()),
            (400, code, Some(field)),
            "{body}: {}",
            r.body
        );
    }
    let too_much = send(&alice, &bob, "1000.01"); // within tier 1's limits, beyond the balance
    assert_eq!((too_much.status, too_much.json()["code"].as_str().unwrap()), (402, "NOT_ENOUGH"));
    assert_eq!(alice.available("CNY"), "1000.00");
}

fn an_idempotency_key_replays_the_first_answer(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let body = format!(r#"{{"to_person_id":"{}","amount":"10.00","currency":"CNY","pin":"135790"}}"#, bob.id);
    let first = alice.post_keyed("/api/v1/transfers", &body, "pay-once-1");
    let again = alice.post_keyed("/api/v1/transfers", &body, "pay-once-1");
    assert_eq!((first.status, &first.body), (again.status, &again.body));
    assert_eq!(alice.available("CNY"), "990.00", "paid once");
    let different = alice.post_keyed("/api/v1/transfers", &body.replace("10.00", "11.00"), "pay-once-1");
    assert_eq!((different.status, different.json()["code"].as_str().unwrap()), (409, "IDEMPOTENCY_KEY_REUSED"));
    let keyless = request(server.port, "POST", "/api/v1/transfers", Some(&alice.token), Some(&body)).unwrap();
    assert_eq!((keyless.status, keyless.json()["field"].as_str()), (400, Some("Idempotency-Key")));
    assert_eq!(alice.available("CNY"), "990.00");
}

/// A group of `n` friends of `sender`, sender included.
fn group_of(server: &Server, sender: &Wallet, n: usize) -> (String, Vec<Wallet>) {
    let members: Vec<Wallet> = (0..n).map(|i| Wallet::register(server.port, &phone(), &format!("M{i}"))).collect();
    for m in &members {
        sender.befriend(m);
    }
    let ids: Vec<String> = members.iter().map(|m| format!("\"{}\"", m.id)).collect();
    let r = sender.post("/api/v1/groups", &format!(r#"{{"name":"family","members":[{}]}}"#, ids.join(",")));
    assert_eq!(r.status, 201, "{}", r.body);
    (r.json()["id"].as_str().unwrap().to_string(), members)
}

fn packet(sender: &Wallet, body: &str) -> serde_json::Value {
    let r = sender.post("/api/v1/red-packets", body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn a_lucky_group_packet_pays_each_member_once_and_exactly_the_total(env: Env) {
    let server = start(&env);
    let (alice, _) = alice_and_bob(&server);
    let (group, members) = group_of(&server, &alice, 6);
    let p = packet(
        &alice,
        &format!(r#"{{"split":"lucky","to_group_id":"{group}","currency":"CNY","amount":"100.00","shares":5,"pin":"135790"}}"#),
    );
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(alice.available("CNY"), "900.00");
    let mut got = 0i64;
    for m in &members[..5] {
        let r = m.post(&format!("/api/v1/red-packets/{id}/claims"), "{}");
        assert_eq!(r.status, 201, "{}", r.body);
        let amount = r.json()["amount"].as_str().unwrap().replace('.', "").parse::<i64>().unwrap();
        assert!(amount >= 1);
        got += amount;
        assert_eq!(m.post(&format!("/api/v1/red-packets/{id}/claims"), "{}").json()["code"], "ALREADY_CLAIMED");
    }
    assert_eq!(got, 10_000, "the shares sum to the total exactly");
    let late = members[5].post(&format!("/api/v1/red-packets/{id}/claims"), "{}");
    assert_eq!((late.status, late.json()["code"].as_str().unwrap()), (410, "EXHAUSTED"));
    let outsider = Wallet::register(server.port, &phone(), "Outsider");
    assert_eq!(outsider.post(&format!("/api/v1/red-packets/{id}/claims"), "{}").status, 404);
    let seen = alice.get(&format!("/api/v1/red-packets/{id}")).json();
    assert_eq!(
        (seen["state"].as_str(), seen["claims"].as_array().unwrap().len(), seen["claimed"].as_str()),
        (Some("exhausted"), 5, Some("100.00"))
    );
}

fn an_equal_packet_splits_evenly_and_a_one_to_one_packet_goes_to_one_friend(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let (group, members) = group_of(&server, &alice, 3);
    let p = packet(
        &alice,
        &format!(r#"{{"split":"equal","to_group_id":"{group}","currency":"CNY","amount":"8.88","shares":3,"pin":"135790"}}"#),
    );
    assert_eq!(p["total"], "26.64");
    let id = p["id"].as_str().unwrap();
    for m in &members {
        assert_eq!(m.post(&format!("/api/v1/red-packets/{id}/claims"), "{}").json()["amount"], "8.88");
    }
    let single = packet(
        &alice,
        &format!(r#"{{"split":"single","to_person_id":"{}","currency":"CNY","amount":"66.00","title":"生日快乐","pin":"135790"}}"#, bob.id),
    );
    let sid = single["id"].as_str().unwrap();
    assert_eq!(members[0].post(&format!("/api/v1/red-packets/{sid}/claims"), "{}").status, 404, "a 1:1 packet is for its receiver only");
    assert_eq!(bob.post(&format!("/api/v1/red-packets/{sid}/claims"), "{}").json()["amount"], "66.00");
    assert_eq!(bob.available("CNY"), "66.00");
    let over = alice.post(
        "/api/v1/red-packets",
        &format!(r#"{{"split":"single","to_person_id":"{}","currency":"CNY","amount":"200.01","pin":"135790"}}"#, bob.id),
    );
    assert_eq!((over.status, over.json()["field"].as_str()), (400, Some("amount")));
    let too_many = alice.post(
        "/api/v1/red-packets",
        &format!(r#"{{"split":"lucky","to_group_id":"{group}","currency":"CNY","amount":"100.00","shares":101,"pin":"135790"}}"#),
    );
    assert_eq!(too_many.json()["field"], "shares");
    let too_thin = alice.post(
        "/api/v1/red-packets",
        &format!(r#"{{"split":"lucky","to_group_id":"{group}","currency":"CNY","amount":"0.05","shares":6,"pin":"135790"}}"#),
    );
    assert_eq!(too_thin.json()["field"], "amount");
}

fn unclaimed_red_packet_money_returns_after_24_hours(env: Env) {
    let server = start(&env);
    let (alice, _) = alice_and_bob(&server);
    let (group, members) = group_of(&server, &alice, 2);
    let p = packet(
        &alice,
        &format!(r#"{{"split":"lucky","to_group_id":"{group}","currency":"CNY","amount":"50.00","shares":4,"pin":"135790"}}"#),
    );
    let id = p["id"].as_str().unwrap().to_string();
    let claimed: i64 = members
        .iter()
        .map(|m| {
            m.post(&format!("/api/v1/red-packets/{id}/claims"), "{}").json()["amount"]
                .as_str()
                .unwrap()
                .replace('.', "")
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    advance_clock(server.port, 86_400 + 1);
    let seen = alice.get(&format!("/api/v1/red-packets/{id}")).json();
    assert_eq!(seen["state"], "expired");
    let back = alice.available("CNY").replace('.', "").parse::<i64>().unwrap();
    assert_eq!(back, 100_000 - claimed, "everything not claimed came back");
    let late = Wallet::register(server.port, &phone(), "Late");
    alice.befriend(&late);
    let r = members[0].post(&format!("/api/v1/red-packets/{id}/claims"), "{}");
    assert_eq!(r.json()["code"], "ALREADY_CLAIMED");
    advance_clock(server.port, 60);
    assert_eq!(alice.available("CNY").replace('.', "").parse::<i64>().unwrap(), back, "refunded exactly once");
}

fn concurrent_claims_never_take_more_shares_than_exist(env: Env) {
    let server = start(&env);
    let (alice, _) = alice_and_bob(&server);
    let (group, members) = group_of(&server, &alice, 40);
    let p = packet(
        &alice,
        &format!(r#"{{"split":"lucky","to_group_id":"{group}","currency":"CNY","amount":"200.00","shares":25,"pin":"135790"}}"#),
    );
    let id = p["id"].as_str().unwrap().to_string();
    let handles: Vec<_> = members
        .into_iter()
        .map(|m| {
            let id = id.clone();
            std::thread::spawn(move || {
                let r = m.post(&format!("/api/v1/red-packets/{id}/claims"), "{}");
                (r.status, r.json())
            })
        })
        .collect();
    let results: Vec<(u16, serde_json::Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let won: Vec<i64> =
        results.iter().filter(|(s, _)| *s == 201).map(|(_, j)| j["amount"].as_str().unwrap().replace('.', "").parse().unwrap()).collect();
    assert_eq!(won.len(), 25, "{results:?}");
    assert_eq!(won.iter().sum::<i64>(), 20_000);
    assert!(results.iter().filter(|(s, _)| *s != 201).all(|(s, j)| *s == 410 && j["code"] == "EXHAUSTED"), "{results:?}");
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

fn history_lists_what_happened_with_filters(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let t = send(&alice, &bob, "7.00").json()["id"].as_str().unwrap().to_string();
    bob.post(&format!("/api/v1/transfers/{t}/accept"), "{}");
    let all = alice.get("/api/v1/history").json();
    let kinds: Vec<&str> = all.as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["transfer_out", "top_up"], "newest first");
    assert_eq!(
        (all[0]["amount"].as_str(), all[0]["state"].as_str(), all[0]["counterparty_id"].as_str()),
        (Some("-7.00"), Some("accepted"), Some(bob.id.as_str()))
    );
    let only = alice.get("/api/v1/history?type=top_up").json();
    assert_eq!(only.as_array().unwrap().len(), 1);
    assert_eq!(bob.get("/api/v1/history").json()[0]["kind"], "transfer_in");
    let page = alice.get("/api/v1/history?limit=1").json();
    let cursor = format!("{}:{}", page[0]["created_at_ms"].as_i64().unwrap(), page[0]["id"].as_str().unwrap());
    let next = alice.get(&format!("/api/v1/history?limit=1&before={cursor}")).json();
    assert_eq!(next[0]["kind"], "top_up");
    assert_eq!(alice.get("/api/v1/history?type=bogus").json()["field"], "type");
}

/// A tier-0 person with 3,000 CNY (two top-ups: tier 0 tops up at most 2,000 at once) and PIN 135790,
/// and a friend.
fn tier_zero_with_friend(server: &Server) -> (Wallet, Wallet) {
    let payer = Wallet::register(server.port, &phone(), "Tier0");
    let friend = Wallet::register(server.port, &phone(), "Friend");
    payer.set_pin("135790");
    payer.top_up("2000.00", "135790");
    payer.top_up("1000.00", "135790");
    payer.befriend(&friend);
    (payer, friend)
}

fn a_tier_zero_wallet_is_held_to_its_single_and_daily_limits(env: Env) {
    let server = start(&env);
    let (payer, friend) = tier_zero_with_friend(&server);
    let single = send(&payer, &friend, "500.01");
    assert_eq!((single.status, single.json()["code"].as_str().unwrap()), (409, "LIMIT_SINGLE"), "{}", single.body);
    assert_eq!(send(&payer, &friend, "400.00").status, 201);
    assert_eq!(send(&payer, &friend, "400.00").status, 201);
    let daily = send(&payer, &friend, "300.00");
    assert_eq!((daily.status, daily.json()["code"].as_str().unwrap()), (409, "LIMIT_DAILY"), "{}", daily.body);
    assert_eq!(payer.available("CNY"), "2200.00", "a refused payment moves nothing");
    assert_eq!(send(&payer, &friend, "200.00").status, 201, "exactly up to the limit is fine");
    advance_clock(server.port, 86_400);
    assert_eq!(send(&payer, &friend, "300.00").status, 201, "a new day, a new daily limit");
}

fn concurrent_payments_cannot_both_slip_under_the_daily_limit(env: Env) {
    let server = start(&env);
    let (payer, friend) = tier_zero_with_friend(&server);
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (payer, friend) = (payer.clone(), friend.clone());
            std::thread::spawn(move || send(&payer, &friend, "150.00").status)
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let paid = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(paid, 6, "6 x 150 = 900 fits the 1000 daily limit, a 7th would not: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert_eq!(payer.available("CNY"), "2100.00");
}

fn kyc_raises_the_limits_and_refuses_a_bad_document(env: Env) {
    let server = start(&env);
    let (payer, friend) = tier_zero_with_friend(&server);
    let bad =
        payer.post("/api/v1/me/kyc", r#"{"legal_name":"Li Lei","document_type":"cn_resident_id","document_number":"110105194912310029"}"#);
    assert_eq!((bad.status, bad.json()["field"].as_str()), (400, Some("document_number")));
    assert_eq!(send(&payer, &friend, "600.00").json()["code"], "LIMIT_SINGLE");
    let hk = payer.post("/api/v1/me/kyc", r#"{"legal_name":"Li Lei","document_type":"hk_id","document_number":"A123456(3)"}"#);
    assert_eq!(hk.json()["kyc_tier"], 1, "{}", hk.body);
    assert_eq!(send(&payer, &friend, "600.00").status, 201, "tier 1 allows 5000 at once");
    let r = post(server.port, &format!("/admin/api/people/{}/kyc", payer.id), r#"{"tier":2}"#);
    assert_eq!(r.json()["kyc_tier"], 2, "{}", r.body);
    assert_eq!(payer.get("/api/v1/me").json()["person"]["kyc_tier"], 2);
}

fn withdraw(w: &Wallet, number: &str, amount: &str) -> Response {
    let account = w.post("/api/v1/bank-accounts", &format!(r#"{{"bank":"ICBC","holder_name":"Alice Wang","number":"{number}"}}"#));
    assert_eq!(account.status, 201, "{}", account.body);
    assert!(!account.body.contains(number), "only the last four digits come back");
    let id = account.json()["id"].as_str().unwrap().to_string();
    w.post("/api/v1/withdrawals", &format!(r#"{{"bank_account_id":"{id}","amount":"{amount}","currency":"CNY","pin":"135790"}}"#))
}

fn a_withdrawal_holds_the_money_until_the_bank_confirms(env: Env) {
    let server = start(&env);
    let (alice, _) = alice_and_bob(&server);
    let r = withdraw(&alice, "6222021234567890123", "250.00");
    assert_eq!((r.status, r.json()["state"].as_str()), (201, Some("pending")), "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(alice.available("CNY"), "750.00", "held at once");
    advance_clock(server.port, 5);
    assert_eq!(alice.get(&format!("/api/v1/withdrawals/{id}")).json()["state"], "succeeded");
    assert_eq!(alice.available("CNY"), "750.00");
    let me = alice.get("/api/v1/me").json();
    assert_eq!(me["balances"][0]["outgoing_pending"], "0.00", "no longer held: paid out");
    let too_much = withdraw(&alice, "6222021234567890123", "750.01");
    assert_eq!((too_much.status, too_much.json()["code"].as_str().unwrap()), (402, "NOT_ENOUGH"));
    let bad = alice.post("/api/v1/bank-accounts", r#"{"bank":"ICBC","holder_name":"A","number":"12"}"#);
    assert_eq!(bad.json()["field"], "number");
}

fn a_withdrawal_the_bank_refuses_returns_the_money(env: Env) {
    let server = start(&env);
    let (alice, _) = alice_and_bob(&server);
    let r = withdraw(&alice, "6222021234560000", "100.00");
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(alice.available("CNY"), "900.00");
    advance_clock(server.port, 5);
    let done = alice.get(&format!("/api/v1/withdrawals/{id}")).json();
    assert_eq!((done["state"].as_str(), done["failure"].as_str()), (Some("failed"), Some("account_closed")));
    assert_eq!(alice.available("CNY"), "1000.00");
    let kinds: Vec<String> = alice
        .get("/api/v1/history?type=withdrawal")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["failed"]);
}

fn the_monthly_statement_is_a_csv_of_the_month(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    send(&alice, &bob, "12.50");
    let now_ms = alice.get("/api/v1/history?limit=1").json()[0]["created_at_ms"].as_i64().unwrap();
    let days = now_ms / 86_400_000;
    // The month of `days` (civil from days, UTC).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let mp = (5 * (doe - (365 * yoe + yoe / 4 - yoe / 100)) + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let r = alice.get(&format!("/api/v1/statements/{year}-{month:02}?currency=CNY"));
    assert_eq!(r.status, 200, "{}", r.body);
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines[0], "time_utc,type,id,counterparty_id,currency,amount,state");
    assert_eq!(lines.len(), 3, "{}", r.body);
    assert!(lines[1].contains(",top_up,") && lines[1].ends_with(",CNY,1000.00,succeeded"), "{}", lines[1]);
    assert!(lines[2].contains(",transfer_out,") && lines[2].contains(&bob.id) && lines[2].ends_with(",CNY,-12.50,pending"), "{}", lines[2]);
    let empty = alice.get(&format!("/api/v1/statements/{}-{month:02}?currency=CNY", year - 1));
    assert_eq!(empty.body.lines().count(), 1, "only the header for a month with nothing");
    assert_eq!(alice.get("/api/v1/statements/2026-13").json()["field"], "month");
}

fn a_declined_or_returned_transfer_gives_its_limit_back(env: Env) {
    let server = start(&env);
    let (payer, friend) = tier_zero_with_friend(&server);
    let id = send(&payer, &friend, "450.00").json()["id"].as_str().unwrap().to_string();
    let second = send(&payer, &friend, "450.00").json()["id"].as_str().unwrap().to_string();
    assert_eq!(send(&payer, &friend, "450.00").json()["code"], "LIMIT_DAILY", "900 of 1000 used");
    assert_eq!(friend.post(&format!("/api/v1/transfers/{id}/decline"), "{}").json()["state"], "declined");
    assert_eq!(send(&payer, &friend, "450.00").status, 201, "the declined 450 no longer counts");
    assert_eq!(friend.post(&format!("/api/v1/transfers/{second}/accept"), "{}").json()["state"], "accepted");
    assert_eq!(send(&payer, &friend, "450.00").json()["code"], "LIMIT_DAILY", "an accepted transfer keeps counting");
    assert_eq!(payer.available("CNY"), "2100.00");
}

fn expired_sessions_and_idempotency_keys_are_purged(env: Env) {
    let server = start(&env);
    let (alice, bob) = alice_and_bob(&server);
    let body = format!(r#"{{"to_person_id":"{}","amount":"1.00","currency":"CNY","pin":"135790"}}"#, bob.id);
    let first = alice.post_keyed("/api/v1/transfers", &body, "old-key");
    assert_eq!(first.status, 201);
    advance_clock(server.port, 2 * 86_400);
    // The key's record was purged, but the key still names the transfer it created (the transfer's id is
    // derived from it): the same key answers that transfer, now returned, and moves no money again.
    let again = alice.post_keyed("/api/v1/transfers", &body, "old-key");
    assert_eq!(again.json()["id"], first.json()["id"], "{}", again.body);
    assert_eq!(again.json()["state"], "refunded", "{}", again.body);
    assert_eq!(alice.available("CNY"), "1000.00", "the unaccepted transfer came back, and nothing was paid twice");
    advance_clock(server.port, 31 * 86_400);
    assert_eq!(alice.get("/api/v1/me").status, 401, "the session expired and was purged");
    let r = post(server.port, "/admin/api/sandbox/clock", r#"{"advance_s":1}"#);
    assert_eq!(r.json()["deadlines"]["records_purged"], 0, "nothing left to purge");
}

/// A person with no balance, PIN 135790, a card with `number`, and a friend.
fn card_payer(server: &Server, number: &str) -> (Wallet, Wallet, String) {
    let payer = Wallet::register(server.port, &phone(), "CardPayer");
    let friend = Wallet::register(server.port, &phone(), "Friend");
    payer.set_pin("135790");
    payer.befriend(&friend);
    let card = payer.post("/api/v1/cards", &format!(r#"{{"number":"{number}","exp_month":12,"exp_year":2099}}"#));
    (payer, friend, card.json()["id"].as_str().unwrap().to_string())
}

fn pay_by_card(payer: &Wallet, friend: &Wallet, card: &str, amount: &str) -> Response {
    payer.post(
        "/api/v1/transfers",
        &format!(r#"{{"to_person_id":"{}","amount":"{amount}","currency":"CNY","pin":"135790","card_id":"{card}"}}"#, friend.id),
    )
}

fn card_funding_states(w: &Wallet) -> Vec<String> {
    w.get("/api/v1/history?type=card_funding").json().as_array().unwrap().iter().map(|i| i["state"].as_str().unwrap().to_string()).collect()
}

fn a_card_pays_a_friend_without_any_balance(env: Env) {
    let server = start(&env);
    let (payer, friend, card) = card_payer(&server, "4242424242424242");
    let t = pay_by_card(&payer, &friend, &card, "50.00");
    assert_eq!(t.status, 201, "{}", t.body);
    assert_eq!(payer.available("CNY"), "0.00", "the card paid, not the balance");
    let id = t.json()["id"].as_str().unwrap().to_string();
    assert_eq!(friend.post(&format!("/api/v1/transfers/{id}/accept"), "{}").json()["state"], "accepted");
    assert_eq!(friend.available("CNY"), "50.00");
    assert_eq!(card_funding_states(&payer), ["succeeded"]);
    let declined_card = payer.post("/api/v1/cards", r#"{"number":"4000000000000002","exp_month":12,"exp_year":2099}"#).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = pay_by_card(&payer, &friend, &declined_card, "5.00");
    assert_eq!((r.status, r.json()["code"].as_str().unwrap()), (402, "DECLINED"), "{}", r.body);
    assert_eq!(friend.available("CNY"), "50.00");
}

fn a_card_payment_the_ledger_refuses_is_refunded_to_the_card(env: Env) {
    let server = start(&env);
    let (payer, friend, card) = card_payer(&server, "4242424242424242");
    let single = pay_by_card(&payer, &friend, &card, "600.00");
    assert_eq!(single.json()["code"], "LIMIT_SINGLE", "tier 0 pays at most 500 at once: {}", single.body);
    assert!(card_funding_states(&payer).is_empty(), "the single-payment limit is checked before the card is charged");
    assert_eq!(pay_by_card(&payer, &friend, &card, "500.00").status, 201);
    assert_eq!(pay_by_card(&payer, &friend, &card, "400.00").status, 201);
    // The daily limit is the ledger's to enforce, after the charge: the card is charged, then given back.
    let daily = pay_by_card(&payer, &friend, &card, "200.00");
    assert_eq!(daily.json()["code"], "LIMIT_DAILY", "{}", daily.body);
    let mut states = card_funding_states(&payer);
    states.sort();
    assert_eq!(states, ["refunded", "succeeded", "succeeded"], "the card was charged, then given back");
    assert_eq!(payer.available("CNY"), "0.00");
    let later = payer.post("/api/v1/cards", r#"{"number":"4000000000000259","exp_month":12,"exp_year":2099}"#).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = pay_by_card(&payer, &friend, &later, "5.00");
    assert_eq!(r.json()["code"], "DECLINED", "a card the issuer answers later cannot pay at once: {}", r.body);
    assert_eq!(card_funding_states(&payer).iter().filter(|s| *s == "refunded").count(), 2);
    assert_eq!(friend.available("CNY"), "0.00", "nothing reached the friend but held transfers");
}
