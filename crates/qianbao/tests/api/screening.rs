//! Sanctions screening, black-box on both backends: lists imported in their public formats (small
//! samples generated here), people screened at KYC and merchants at onboarding with transliteration and
//! word order, near misses below the threshold passing, a hit freezing its subject until review, and a
//! malformed list changing nothing.

use crate::support::merchant::TestMerchant;
use crate::support::*;
use serde_json::json;

/// An OFAC `sdn.csv` sample: ent_num, SDN_Name, SDN_Type, Program, then the empty (`-0-`) columns.
const SDN_CSV: &str = "9001,\"ZHANG, Weiming\",\"individual\",\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"DOB 1971\"\n\
9002,\"GOLDEN DRAGON TRADING CO\",-0- ,\"NPWMD\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n";

/// A UN consolidated list sample.
const UN_XML: &str = "<CONSOLIDATED_LIST>\n<INDIVIDUALS>\n<INDIVIDUAL><DATAID>1</DATAID><FIRST_NAME>JÜRGEN</FIRST_NAME><SECOND_NAME>MÜLLER</SECOND_NAME><REFERENCE_NUMBER>QDi.900</REFERENCE_NUMBER><INDIVIDUAL_ALIAS><QUALITY>Good</QUALITY><ALIAS_NAME>Juergen Mueller</ALIAS_NAME></INDIVIDUAL_ALIAS></INDIVIDUAL>\n</INDIVIDUALS>\n<ENTITIES></ENTITIES>\n</CONSOLIDATED_LIST>\n";

fn import(port: u16, list: &str, body: &str) -> Response {
    operator_request(port, "POST", &format!("/admin/api/screening/lists/{list}"), Some(body))
}

fn kyc(w: &Wallet, legal_name: &str, document: &str) {
    let body = json!({"legal_name": legal_name, "document_type": "passport", "document_number": document}).to_string();
    let r = w.post("/api/v1/me/kyc", &body);
    assert_eq!(r.status, 200, "{}", r.body);
}

fn a_possible_match_at_kyc_freezes_the_wallet_until_review_and_near_misses_pass(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    assert_eq!(import(port, "ofac_sdn", SDN_CSV).json()["names"], 2);
    assert_eq!(import(port, "un", UN_XML).json()["names"], 2, "a name and its alias");
    let listed = Wallet::register(port, "+8613900001601", "Wei");
    listed.set_pin("135790");
    listed.top_up("20.00", "135790");
    kyc(&listed, "张伟明", "E12345671");
    let near = Wallet::register(port, "+8613900001602", "Min");
    kyc(&near, "Zhang Min", "E12345672");
    listed.befriend(&near);
    let other = Wallet::register(port, "+8613900001603", "Jurgen");
    kyc(&other, "Muller Jurgen", "E12345673");
    let hits = get(port, "/admin/api/screening/hits?state=pending").json();
    let found: Vec<(String, String)> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["subject"].as_str().unwrap().to_string(), h["listed_name"].as_str().unwrap().to_string()))
        .collect();
    assert!(found.contains(&(listed.id.clone(), "ZHANG, Weiming".into())), "Chinese characters transliterated: {found:?}");
    assert!(found.iter().any(|(s, n)| *s == other.id && n.contains("MÜLLER")), "word order and diacritics: {found:?}");
    assert!(!found.iter().any(|(s, _)| *s == near.id), "Zhang Min is below the threshold: {found:?}");
    let read = get(port, "/admin/api/audit?limit=1").json()[0].clone();
    assert_eq!(
        (read["action"].as_str(), read["target"].as_str()),
        (Some("people.read"), Some("screening:hits")),
        "the hits name people: reading them is audited"
    );
    let pay = listed.post_keyed(
        "/api/v1/transfers",
        &json!({"to_person_id": near.id, "amount": "1.00", "currency": "CNY", "pin": "135790"}).to_string(),
        "x1",
    );
    assert_eq!(pay.json()["code"], "ACCOUNT_FROZEN", "{}", pay.body);
    assert!(!pay.body.contains("sanction"), "the subject is not told why: {}", pay.body);
    // Review: cleared, then the freeze is lifted by four eyes.
    let hit = hits.as_array().unwrap().iter().find(|h| h["subject"] == listed.id.as_str()).unwrap();
    let cleared = post(port, &format!("/admin/api/screening/hits/{}", hit["id"].as_str().unwrap()), r#"{"state":"cleared"}"#);
    assert_eq!(cleared.json()["state"], "cleared", "{}", cleared.body);
    let freezes = get(port, "/admin/api/freezes").json();
    let freeze = freezes.as_array().unwrap().iter().find(|f| f["subject"] == listed.id.as_str()).unwrap();
    assert_eq!(freeze["frozen_by"], "operator:screening");
    let lift = post(port, &format!("/admin/api/freezes/{}/lift", freeze["id"].as_str().unwrap()), "");
    let approval = lift.json()["approval"]["id"].as_str().unwrap().to_string();
    assert_eq!(checker_request(port, "POST", &format!("/admin/api/approvals/{approval}/approve"), None).status, 200);
    let paid = listed.post_keyed(
        "/api/v1/transfers",
        &json!({"to_person_id": near.id, "amount": "1.00", "currency": "CNY", "pin": "135790"}).to_string(),
        "x2",
    );
    assert_eq!(paid.status, 201, "thawed: {}", paid.body);
}

fn a_merchant_is_screened_at_onboarding_and_everyone_again_when_a_list_changes(env: Env) {
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let before = TestMerchant::onboard(port, 60);
    let onboard = |mchid: &str, name: &str| {
        let body = json!({"mchid": mchid, "name": name, "mcc": "5411", "country": "CN", "settlement_currency": "CNY", "fee_bps": 60, "settlement_account": "6222020000000000000"});
        post(port, "/admin/api/merchants", &body.to_string())
    };
    let harvest = onboard("1900009901", "Golden Harvest Trading Co");
    assert_eq!(harvest.status, 201, "{}", harvest.body);
    assert_eq!(import(port, "ofac_sdn", SDN_CSV).status, 200);
    let dragon = onboard("1900009902", "Golden Dragon Trading Company");
    assert_eq!(dragon.json()["screening_hits"][0]["listed_name"], "GOLDEN DRAGON TRADING CO", "{}", dragon.body);
    assert!(harvest.json()["screening_hits"].as_array().unwrap().is_empty());
    // A new list screens those screened before: a person who gave a legal name earlier is found now.
    let early = Wallet::register(port, "+8613900001701", "Early");
    kyc(&early, "Juergen Mueller", "E12345679");
    assert!(get(port, "/admin/api/screening/hits").json().as_array().unwrap().iter().all(|h| h["subject"] != early.id.as_str()));
    let r = import(port, "un", UN_XML);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["new_hits"].as_array().unwrap().iter().any(|h| h["subject"] == early.id.as_str()), "{}", r.body);
    let merchants: Vec<String> =
        get(port, "/admin/api/freezes").json().as_array().unwrap().iter().map(|f| f["subject"].as_str().unwrap().to_string()).collect();
    assert!(merchants.contains(&"1900009902".to_string()) && !merchants.contains(&before.mchid), "{merchants:?}");
}

fn a_malformed_list_changes_nothing_and_names_its_line(env: Env) {
    let server = env.serve(&[]);
    let port = server.port;
    assert_eq!(import(port, "ofac_sdn", SDN_CSV).status, 200);
    let bad = format!("{SDN_CSV}not-a-number,\"SOMEONE\",\"individual\",\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n");
    let r = import(port, "ofac_sdn", &bad);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("line 3"), "{}", r.body);
    let broken = import(port, "un", "<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL>");
    assert_eq!(broken.status, 400, "{}", broken.body);
    assert_eq!(import(port, "eu", SDN_CSV).status, 400, "an unknown list");
    let audit = get(port, "/admin/api/audit?limit=5").json();
    let imports = audit.as_array().unwrap().iter().filter(|e| e["action"] == "screening.import").count();
    assert_eq!(imports, 1, "only the good import happened");
}

both_backends!(
    a_possible_match_at_kyc_freezes_the_wallet_until_review_and_near_misses_pass,
    a_merchant_is_screened_at_onboarding_and_everyone_again_when_a_list_changes,
    a_malformed_list_changes_nothing_and_names_its_line,
);
