//! The OpenAPI 3.1 document of the wallet and operator APIs, served at `/openapi.json`. Written by hand
//! next to the routes; every operation documents every status it can answer. A test fuzzes every
//! operation from this very document and checks each answer's status is documented for it.

use serde_json::{Value, json};

fn body(required: &[&str], properties: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": required, "properties": properties, "additionalProperties": false}}}})
}

fn ok(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {}}})
}

fn op(summary: &str, secured: bool, request: Option<Value>, idempotent: bool) -> Value {
    let mut o = json!({
        "summary": summary,
        "responses": {
            "200": ok("OK"), "201": ok("Created"),
            "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
            "409": {"$ref": "#/components/responses/Error"}
        }
    });
    if secured {
        o["security"] = json!([{"bearer": []}]);
    }
    if let Some(r) = request {
        o["requestBody"] = r;
    }
    if idempotent {
        o["parameters"] = json!([{"$ref": "#/components/parameters/IdempotencyKey"}]);
    }
    o
}

fn id_param() -> Value {
    json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}}])
}

fn with_id(mut o: Value) -> Value {
    let mut params = id_param();
    if let Some(existing) = o.get("parameters").and_then(|p| p.as_array()).cloned() {
        params.as_array_mut().expect("array").extend(existing);
    }
    o["parameters"] = params;
    o
}

/// Every status the wallet surface's one error mapping can answer (see `wallet::status_of`), plus the
/// body limits' 408 and 413.
const WALLET_ERRORS: [u16; 13] = [400, 401, 402, 403, 404, 408, 409, 410, 413, 423, 429, 500, 503];
/// Registering and signing in need no session (a bearer that is sent must be valid: 401), and move no
/// money (no 402, 410, 423).
const SIGN_UP_ERRORS: [u16; 8] = [400, 401, 408, 409, 413, 429, 500, 503];
/// The operator surface's mapping (see `operator::ApiError`).
const OPERATOR_ERRORS: [u16; 10] = [400, 401, 403, 404, 408, 409, 413, 429, 500, 503];

pub fn document() -> Value {
    let mut doc = base_document();
    let paths = doc["paths"].as_object_mut().expect("paths");
    for extra in [merchant_paths(), fx_paths(), operator_paths(), charity_paths()] {
        for (path, item) in extra.as_object().expect("paths") {
            paths.insert(path.clone(), item.clone());
        }
    }
    // Four eyes: the change waits for a second operator.
    paths["/admin/api/fx/markups"]["put"]["responses"] = json!({"202": ok("the approval request; a second finance operator approves it")});
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().expect("a path item").iter_mut() {
            complete_responses(path, method, op);
        }
    }
    for rule in crate::operator::policy() {
        let op = &mut doc["paths"][rule.path][rule.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is in the operator table but not documented", rule.method, rule.path);
        document_access(op, &rule);
    }
    doc
}

/// Who may call an operator route (`x-qianbao-access`), its security scheme, and the reason header a
/// change needs.
fn document_access(op: &mut Value, rule: &crate::operator::Rule) {
    use crate::operator::Access;
    let (security, access) = match rule.access {
        Access::Public => (json!([]), json!("public")),
        Access::Bootstrap => (json!([{"bootstrap": []}]), json!("bootstrap")),
        Access::Own => (json!([{"operator": []}]), json!("any operator, about themselves")),
        Access::Signed => (json!([{"operator": []}]), json!("any operator")),
        Access::Roles(roles) => (json!([{"operator": []}]), json!(roles.iter().map(|r| r.as_str()).collect::<Vec<_>>())),
    };
    op["security"] = security;
    op["x-qianbao-access"] = access;
    if rule.needs_reason() {
        let reason = json!({"name": "Qianbao-Reason", "in": "header", "required": true, "description": "why (3 to 500 characters, percent-encoded UTF-8): the audit log keeps it",
            "schema": {"type": "string", "minLength": 3}});
        match op["parameters"].as_array_mut() {
            Some(list) => list.push(reason),
            None => op["parameters"] = json!([reason]),
        }
    }
}

/// Operators, sessions and four-eyes approvals.
fn operator_paths() -> Value {
    let doc = |summary: &str| json!({"summary": summary, "responses": {"200": ok("OK")}});
    let with = |mut o: Value, params: Value| {
        o["parameters"] = params;
        o
    };
    let name = json!([{"name": "username", "in": "path", "required": true, "schema": {"type": "string"}}]);
    json!({
        "/admin/api/bootstrap": {"post": doc("With the bootstrap token, once: create the first admin (username, password of 12 to 128 characters)")},
        "/admin/api/sessions": {"post": doc("Sign in (username, password, totp when enrolled): a session token for 10 hours")},
        "/admin/api/sessions/current": {"delete": doc("Sign out")},
        "/admin/api/operators/me": {"get": doc("The signed-in operator and their roles")},
        "/admin/api/operators/me/totp": {"post": doc("Start enrolling a TOTP second factor: its secret and otpauth:// URI, shown once")},
        "/admin/api/operators/me/totp/confirm": {"post": doc("Confirm the second factor with a code from it (totp)")},
        "/admin/api/operators": {"get": doc("Every operator"), "post": doc("Add an operator (username, password, roles)")},
        "/admin/api/operators/{username}/roles": {"put": with(doc("Set another operator's roles (admin, operator, risk, finance, support)"), name.clone())},
        "/admin/api/operators/{username}/disabled": {"put": with(doc("Disable (ending their sessions) or enable another operator"), name)},
        "/admin/api/approvals": {"get": with(doc("Four-eyes requests, newest first"), json!([{"name": "state", "in": "query", "schema": {"enum": ["pending", "approved", "rejected", "expired"]}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}]))},
        "/admin/api/approvals/{id}": {"get": with_id(doc("A four-eyes request"))},
        "/admin/api/approvals/{id}/approve": {"post": with_id(doc("Approve (not the operator who asked; the role it names): the action runs now"))},
        "/admin/api/approvals/{id}/reject": {"post": with_id(doc("Reject"))},
        "/admin/api/freezes": {"get": doc("The active freezes"), "post": doc("Freeze a person, a card or a merchant (kind, id, inbound_allowed): money out refused with ACCOUNT_FROZEN, CARD_FROZEN or MERCHANT_FROZEN")},
        "/admin/api/merchants/{mchid}/daily-cap": {"put": with(doc("A merchant's daily cap on takings (UTC day): {currency, amount} in major units, amount null removes it; payments past it get MERCHANT_CAP_REACHED"),
            json!([{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}]))},
        "/admin/api/risk/rules": {"get": doc("The risk engine's rule set"),
            "put": doc("Replace the rule set: [{id, when: {velocity: {scope: person|payee|merchant|card|ip|device, measure: count|amount|declines, window_s, max}} | {new_payee: {amount_minor_over}} | {first_abroad: {}} | {amount_anomaly: {times, history_min}} | {mule: {strangers_min, window_s}}, then: allow|step_up|hold|decline}]; hold applies to transfers and withdrawals (the money waits for a reviewer) and declines the rest")},
        "/admin/api/risk/reviews": {"get": with(doc("Movements held for review, oldest first, with the rule and the engine's evidence"),
            json!([{"name": "state", "in": "query", "schema": {"enum": ["waiting", "released", "returned", "expired"]}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}]))},
        "/admin/api/risk/reviews/{id}": {"get": with_id(doc("A held movement's review"))},
        "/admin/api/risk/reviews/{id}/release": {"post": with_id(doc("Release: the transfer may be accepted, the withdrawal goes to the bank"))},
        "/admin/api/risk/reviews/{id}/return": {"post": with_id(doc("Return: the held money goes back to its owner"))},
        "/admin/api/screening/lists/{list}": {"post": with(doc("Import a sanctions list, the body as published (ofac_sdn: sdn.csv; un: consolidated.xml); replaces that list or changes nothing, naming the bad line; everyone screened before is screened again"),
            json!([{"name": "list", "in": "path", "required": true, "schema": {"enum": ["ofac_sdn", "un"]}}]))},
        "/admin/api/screening/hits": {"get": with(doc("Possible matches found by screening, newest first"), json!([{"name": "state", "in": "query", "schema": {"enum": ["pending", "cleared", "confirmed"]}}]))},
        "/admin/api/screening/hits/{id}": {"post": with_id(doc("Review a hit: {\"state\": \"cleared\" | \"confirmed\"} (lifting the freeze is asked for apart)"))},
        "/admin/api/merchants/{mchid}/refunds": {"post": with({
            let mut o = doc("Refund a merchant's paid order to its payer in the merchant's name: {transaction_id, amount (major units), out_refund_no?}; 1,000 major units of the order's currency or more wait for a second finance operator (202 with the approval)");
            o["responses"] = json!({"200": ok("the refund, as the merchant API shows it"), "202": ok("the approval request")});
            o
        }, json!([{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}]))},
        "/admin/api/freezes/{id}/lift": {"post": with_id({
            let mut o = doc("Ask to lift a freeze: a second risk operator approves it");
            o["responses"] = json!({"202": ok("the approval request")});
            o
        })},
        "/admin/api/partners/{mchid}/settlements/{day}": {"get": with(doc("A partner institution's settlement file for a day, per currency (CSV; its SHA-256 in a header)"),
            json!([{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "day", "in": "path", "required": true, "schema": {"type": "string", "format": "date"}}]))}
    })
}

/// Each operation documents every status it can answer: its successes, and every error of its surface.
fn complete_responses(path: &str, method: &str, op: &mut Value) {
    let errors: &[u16] = match path {
        "/api/v1/people" | "/api/v1/sessions" => &SIGN_UP_ERRORS,
        p if p.starts_with("/admin/") => &OPERATOR_ERRORS,
        _ => &WALLET_ERRORS,
    };
    let responses = op["responses"].as_object_mut().expect("responses");
    responses.retain(|status, _| status.starts_with('2'));
    if method == "delete" || path == "/api/v1/me/pin" {
        responses.clear();
        responses.insert("204".into(), json!({"description": "done; no body"}));
    }
    for status in errors {
        responses.insert(status.to_string(), json!({"$ref": "#/components/responses/Error"}));
    }
}

fn base_document() -> Value {
    let amount =
        json!({"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$", "description": "decimal in major units of the currency, e.g. 12.34"});
    let currency = json!({"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code"});
    let id = json!({"type": "string", "pattern": "^[0-9]+$"});
    let pin = json!({"type": "string", "pattern": "^[0-9]{6}$"});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Qianbao wallet and operator API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Amounts are decimal strings in major units, ids are decimal strings, errors are {code, message, field?}. Every POST that moves money needs an Idempotency-Key."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a session token from POST /api/v1/sessions"},
                "operator": {"type": "http", "scheme": "bearer", "description": "an operator session token from POST /admin/api/sessions"},
                "bootstrap": {"type": "http", "scheme": "bearer", "description": "the bootstrap token (creates the first admin only)"}
            },
            "parameters": {"IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}},
            "responses": {"Error": {"description": "refused", "content": {"application/json": {"schema": {"type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}}}}}
        },
        "paths": {
            "/api/v1/people": {"post": op("Register (phone in E.164, password 8-128 characters, region CN or HK)", false,
                Some(body(&["phone", "password", "region", "display_name"], json!({"phone": {"type": "string"}, "password": {"type": "string"}, "region": {"type": "string"}, "display_name": {"type": "string"}}))), false)},
            "/api/v1/sessions": {"post": op("Sign in: a bearer session token", false,
                Some(body(&["phone", "password"], json!({"phone": {"type": "string"}, "password": {"type": "string"}}))), false)},
            "/api/v1/sessions/current": {"delete": op("Sign out", true, None, false)},
            "/api/v1/me": {"get": op("Profile and balances", true, None, false)},
            "/api/v1/me/close": {"post": op("Close my wallet (nothing may remain in it: BALANCE_REMAINS); sessions end, sign-in is refused, personal data erased after five years", true,
                Some(body(&["pin"], json!({"pin": pin}))), false)},
            "/api/v1/me/export": {"get": op("Everything Qianbao holds about me (JSON download): profile, KYC record, balances, cards, bank accounts, friends, groups, history, what operators did about me", true, None, false)},
            "/api/v1/me/pin": {"put": op("Set or change the 6-digit payment PIN", true,
                Some(body(&["pin"], json!({"pin": pin, "current_pin": pin}))), false)},
            "/api/v1/me/kyc": {"post": op("KYC tier 1: legal name and identity document", true,
                Some(body(&["legal_name", "document_type", "document_number"], json!({"legal_name": {"type": "string"}, "document_type": {"enum": ["cn_resident_id", "hk_id", "passport"]}, "document_number": {"type": "string"}}))), false)},
            "/api/v1/wallet": {"get": op("Balances per currency", true, None, false)},
            "/api/v1/friends": {
                "get": op("Friends and requests", true, None, false),
                "post": op("Ask someone to be friends (by phone or person id)", true, Some(body(&[], json!({"phone": {"type": "string"}, "person_id": id}))), false)
            },
            "/api/v1/friends/{id}/accept": {"post": with_id(op("Accept a friend request", true, None, false))},
            "/api/v1/groups": {
                "get": op("My groups", true, None, false),
                "post": op("Create a group of friends", true, Some(body(&["name"], json!({"name": {"type": "string"}, "members": {"type": "array", "items": id}}))), false)
            },
            "/api/v1/groups/{id}": {"get": with_id(op("A group", true, None, false))},
            "/api/v1/groups/{id}/members": {"post": with_id(op("Add friends to a group", true, Some(body(&["members"], json!({"members": {"type": "array", "items": id}}))), false))},
            "/api/v1/cards": {
                "get": op("Linked cards (brand and last four only)", true, None, false),
                "post": op("Link a card (Luhn-checked; Visa, Mastercard, UnionPay, AmEx, JCB)", true,
                    Some(body(&["number", "exp_month", "exp_year"], json!({"number": {"type": "string"}, "exp_month": {"type": "integer"}, "exp_year": {"type": "integer"}}))), false)
            },
            "/api/v1/cards/{id}": {"delete": with_id(op("Remove a linked card: never charged again (a monthly donation it paid lapses)", true, None, false))},
            "/api/v1/top-ups": {"post": op("Top up from a linked card", true,
                Some(body(&["card_id", "amount", "currency"], json!({"card_id": id, "amount": amount, "currency": currency, "pin": pin}))), true)},
            "/api/v1/top-ups/{id}": {"get": with_id(op("A top-up's state", true, None, false))},
            "/api/v1/bank-accounts": {
                "get": op("Linked bank accounts", true, None, false),
                "post": op("Link a bank account", true, Some(body(&["bank", "holder_name", "number"], json!({"bank": {"type": "string"}, "holder_name": {"type": "string"}, "number": {"type": "string"}}))), false)
            },
            "/api/v1/withdrawals": {"post": op("Withdraw to a linked bank account (held until the bank confirms)", true,
                Some(body(&["bank_account_id", "amount", "currency"], json!({"bank_account_id": id, "amount": amount, "currency": currency, "pin": pin}))), true)},
            "/api/v1/withdrawals/{id}": {"get": with_id(op("A withdrawal's state", true, None, false))},
            "/api/v1/transfers": {"post": op("Send money to a friend (returned if not accepted in 24 h)", true,
                Some(body(&["to_person_id", "amount", "currency"], json!({"to_person_id": id, "amount": amount, "currency": currency, "note": {"type": "string", "maxLength": 100}, "pin": pin,
                    "card_id": {"type": "string", "pattern": "^[0-9]+$", "description": "pay straight from this linked card instead of the balance"}}))), true)},
            "/api/v1/transfers/{id}": {"get": with_id(op("A transfer (sender or receiver)", true, None, false))},
            "/api/v1/transfers/{id}/accept": {"post": with_id(op("Accept a transfer (receiver)", true, None, true))},
            "/api/v1/transfers/{id}/decline": {"post": with_id(op("Decline a transfer (receiver): the money returns", true, None, true))},
            "/api/v1/red-packets": {"post": op("Send a red packet: single (to a friend), lucky or equal (to a group)", true,
                Some(body(&["split", "currency", "amount"], json!({"split": {"enum": ["single", "lucky", "equal"]}, "to_person_id": id, "to_group_id": id, "currency": currency,
                    "amount": amount, "shares": {"type": "integer", "minimum": 1}, "title": {"type": "string"}, "cover": {"type": "string"}, "pin": pin}))), true)},
            "/api/v1/red-packets/{id}": {"get": with_id(op("A red packet and who claimed what", true, None, false))},
            "/api/v1/red-packets/{id}/claims": {"post": with_id(op("Claim a share", true, None, true))},
            "/api/v1/history": {"get": {
                "summary": "History, newest first", "security": [{"bearer": []}],
                "parameters": [
                    {"name": "type", "in": "query", "schema": {"enum": ["transfer_out", "transfer_in", "red_packet_sent", "red_packet_received", "top_up", "withdrawal", "card_funding", "merchant_payment", "merchant_refund", "network_payment"]}},
                    {"name": "currency", "in": "query", "schema": currency},
                    {"name": "from_ms", "in": "query", "schema": {"type": "integer"}},
                    {"name": "to_ms", "in": "query", "schema": {"type": "integer"}},
                    {"name": "before", "in": "query", "schema": {"type": "string", "description": "<created_at_ms>:<id> of the previous page's last item"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}
                ],
                "responses": {"200": ok("items")}
            }},
            "/api/v1/statements/{month}": {"get": {
                "summary": "A month's statement as CSV", "security": [{"bearer": []}],
                "parameters": [{"name": "month", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}},
                               {"name": "currency", "in": "query", "schema": currency}],
                "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}}
            }},
            "/admin/api/ledger/accounts": {"post": {"summary": "Create ledger accounts (up to 8190)", "security": [{"operator": []}], "responses": {"200": ok("one result per event")}}},
            "/admin/api/ledger/transfers": {"post": {"summary": "Ask for a ledger correction (up to 8190 transfers, applied together or not at all) that a second finance operator approves", "security": [{"operator": []}], "responses": {"202": ok("the approval request")}}},
            "/admin/api/ledger/accounts/{id}": {"get": {"summary": "A ledger account", "security": [{"operator": []}], "parameters": id_param(), "responses": {"200": ok("account")}}},
            "/admin/api/ledger/transfers/{id}": {"get": {"summary": "A ledger transfer", "security": [{"operator": []}], "parameters": id_param(), "responses": {"200": ok("transfer")}}},
            "/admin/api/people/{id}/kyc": {"post": {"summary": "Set a person's KYC tier (2: verified by an operator)", "security": [{"operator": []}], "parameters": id_param(),
                "requestBody": body(&["tier"], json!({"tier": {"type": "integer", "minimum": 0, "maximum": 2}})), "responses": {"200": ok("tier")}}},
            "/admin/api/audit": {"get": {"summary": "The operator audit log, newest first", "security": [{"operator": []}],
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                               {"name": "before", "in": "query", "schema": {"type": "string", "description": "the previous page's last id"}}],
                "responses": {"200": ok("entries")}}},
            "/admin/api/sandbox/clock": {"post": {"summary": "Move the manual clock (sandbox only)", "security": [{"operator": []}],
                "requestBody": body(&["advance_s"], json!({"advance_s": {"type": "integer", "minimum": 0}})), "responses": {"200": ok("now")}}}
        }
    })
}

/// The wallet's side of merchant payments and the operator's merchant tools. (The merchant API itself,
/// `/v3/...`, is WeChat Pay API v3's: see shared/reference/wechatpay-v3.md.)
fn merchant_paths() -> Value {
    let pin = json!({"type": "string", "pattern": "^[0-9]{6}$"});
    let operator =
        |summary: &str| json!({"summary": summary, "security": [{"operator": []}], "responses": {"200": ok("OK"), "201": ok("Created")}});
    let mchid = json!([{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let payment = body(
        &[],
        json!({
            "code_url": {"type": "string", "description": "a Native order's code_url or a merchant's static code, as scanned"},
        "amount": {"type": "string", "description": "with a static code: what you pay, in major units"},
        "currency": {"type": "string", "description": "with a static code (default: the merchant's currency)"},
        "order_id": {"type": "string", "description": "a payment-code order waiting for your PIN"},
            "prepay_id": {"type": "string", "description": "a JSAPI, App or H5 order's prepay_id"},
            "app_id": {"type": "string"}, "time_stamp": {"type": "string"}, "nonce_str": {"type": "string"},
            "package": {"type": "string"}, "sign_type": {"enum": ["RSA"]}, "pay_sign": {"type": "string", "description": "the merchant's client-side signature (JSAPI, App)"},
            "pin": pin, "card_id": {"type": "string", "pattern": "^[0-9]+$"}
        }),
    );
    let with = |mut o: Value, params: Value| {
        o["parameters"] = params;
        o
    };
    json!({
        "/api/v1/merchant-payments/preview": {"post": op("What a scanned code or prepay_id would pay: merchant, amount, state", true, Some(payment.clone()), false)},
        "/api/v1/merchant-payments": {"post": op("Pay a merchant's order (balance or a linked card; PIN rules apply)", true, Some(payment), true)},
        "/admin/api/merchants": {"post": operator("Onboard a merchant; the answer carries its APIv3 key, shown once")},
        "/admin/api/merchants/{mchid}": {"get": with(operator("A merchant, its key serials and app ids"), mchid.clone())},
        "/admin/api/merchants/{mchid}/keys": {"post": with(operator("Register an API certificate or public key (with serial_no)"), mchid.clone())},
        "/admin/api/merchants/{mchid}/keys/{serial}": {"delete": with(operator("Revoke an API key"),
            json!([{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "serial", "in": "path", "required": true, "schema": {"type": "string"}}]))},
        "/admin/api/merchants/{mchid}/apps": {"post": with(operator("Bind an app id (mini_program, official_account, mobile_app, web)"), mchid.clone())},
        "/admin/api/merchants/{mchid}/static-codes": {"post": with(operator("A static QR code for the till (people enter the amount)"), mchid.clone())},
        "/admin/api/merchants/{mchid}/users": {"post": with(operator("Add a merchant console user (username, password, role owner or cashier)"), mchid.clone())},
        "/admin/api/merchants/{mchid}/covers": {"post": with(operator("Publish a red-packet cover (title, https image_url)"), mchid)},
        "/api/v1/red-packet-covers": {"get": op("Red-packet covers merchants published (choose one by id as a packet's cover)", true, None, false)},
        "/admin/api/settlements": {"get": with(operator("A day's settlements (format=json or csv)"),
            json!([{"name": "day", "in": "query", "required": true, "schema": {"type": "string"}}, {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}}]))},
        "/admin/api/settlements/run": {"post": operator("Settle a day now (idempotent per merchant, day and currency)")},
        "/api/v1/payment-codes": {"post": op("A one-time payment code (18 digits, one minute, one order)", true, None, false)},
        "/api/v1/qr/decode": {"post": op("Decode an EMV QR payload: its objects, the national schemes recognised, the verdict (valid, or each broken rule naming its field)", true,
            Some(body(&["payload"], json!({"payload": {"type": "string", "maxLength": 512}}))), false)},
        "/api/v1/payment-codes/awaiting": {"get": op("Payment-code orders waiting for your PIN", true, None, false)},
        "/api/v1/scans": {"post": op("Whatever a camera read, told apart: a Qianbao code (merchant, amount or enter_amount, the plan), a partner network's code (network, merchant, currency, the FX quote), a payment code, or unknown with the reason", true,
            Some(body(&["payload"], json!({"payload": {"type": "string", "maxLength": 8192}, "amount": {"type": "string"}, "balance_currency": {"type": "string"}}))), false)},
        "/api/v1/network-payments": {"post": op("Pay a partner network's code (201 succeeded or declined; 202 pending while the network has not answered: retry with the same key)", true,
            Some(body(&["payload"], json!({"payload": {"type": "string"}, "amount": {"type": "string"}, "pin": {"type": "string"}, "balance_currency": {"type": "string"}, "quote_id": {"type": "string"}}))), true)},
        "/api/v1/network-payments/{id}": {"get": with(op("A network payment of yours", true, None, false),
            json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]))},
        "/admin/api/merchants/{mchid}/qr-profile": {"put": with(operator("What the merchant's EMV codes say: Latin name (≤ 25) and city (≤ 15), postal code, local-language name and city"),
            json!([{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}]))},
        "/admin/api/merchants/{mchid}/schemes/{scheme}": {"put": with(operator("Register the merchant on a national scheme (fps, paynow, promptpay, pix, qris): its template joins the merchant's static codes"),
            json!([{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "scheme", "in": "path", "required": true, "schema": {"enum": ["fps", "paynow", "promptpay", "pix", "qris"]}}]))},
        "/admin/api/networks": {"get": operator("The partner networks")},
        "/admin/api/networks/{network}/reconciliations/{day}": {"get": with(operator("A finished day (UTC): Qianbao's bookings against the network's report, and the net per currency"),
            json!([{"name": "network", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "day", "in": "path", "required": true, "schema": {"type": "string"}}]))},
        "/admin/api/networks/{network}/settlements/{day}": {"post": with(operator("Book a finished day's net per currency between the network's account and the bank rail (once)"),
            json!([{"name": "network", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "day", "in": "path", "required": true, "schema": {"type": "string"}}]))},
        "/admin/api/platform-keys": {"get": operator("Platform certificates and the public key (with its PUB_KEY_ID)")},
        "/admin/api/platform-keys/rotate": {"post": operator("Start a new platform certificate (the old one stays valid until retired)")},
        "/admin/api/platform-keys/{serial}/retire": {"post": with(operator("Retire a platform certificate"),
            json!([{"name": "serial", "in": "path", "required": true, "schema": {"type": "string"}}]))},
        "/admin/api/notifications": {"get": with(operator("Notification deliveries, newest first"),
            json!([{"name": "mchid", "in": "query", "schema": {"type": "string"}}, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}]))},
        "/admin/api/notifications/{id}": {"get": with(operator("A notification and every delivery attempt"),
            json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]))},
        "/admin/api/notifications/{id}/replay": {"post": with(operator("Send a notification again now"),
            json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]))}
    })
}

/// Currency exchange: the wallet's quotes and conversions, the operator's rates, markups and reports.
/// Campaigns and donations (the charity's own side is on the merchant API: `/v3/qianbao/campaigns`).
fn charity_paths() -> Value {
    let id = json!({"type": "string", "pattern": "^[0-9]+$"});
    let currency = json!({"type": "string", "pattern": "^[A-Z]{3}$"});
    let amount = json!({"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"});
    let pin = json!({"type": "string", "pattern": "^[0-9]{6}$"});
    let operator =
        |summary: &str| json!({"summary": summary, "security": [{"operator": []}], "responses": {"200": ok("OK"), "201": ok("Created")}});
    let mchid = json!([{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let appid = json!([{"name": "appid", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let with = |mut o: Value, params: Value| {
        o["parameters"] = params;
        o
    };
    let live = json!({"summary": "The campaign's totals now and each time they change (server-sent events: event totals, data the totals)",
        "parameters": id_param(), "responses": {"200": {"description": "an event stream", "content": {"text/event-stream": {}}}}});
    json!({
        "/api/v1/campaigns/{id}": {"get": with_id(op("A campaign: its charity's badge, goal, totals and match (public)", false, None, false))},
        "/api/v1/campaigns/{id}/live": {"get": live},
        "/api/v1/campaigns/{id}/donations": {"post": with_id(op("Give to a campaign (its currency, at least its minimum) from my balance, another balance through FX (balance_currency, quote_id) or straight from a linked card (card_id)", true,
            Some(body(&["amount", "currency"], json!({"amount": amount, "currency": currency, "anonymous": {"type": "boolean"},
                "message": {"type": "string", "maxLength": 200}, "pin": pin, "card_id": id, "balance_currency": currency, "quote_id": id}))), true))},
        "/api/v1/campaigns/{id}/recurring-donations": {"post": with_id(op("Give every month (the PIN is the mandate): the first gift now, then on the same day each month from the card or the balance", true,
            Some(body(&["amount", "currency", "pin"], json!({"amount": amount, "currency": currency, "card_id": id, "anonymous": {"type": "boolean"}, "pin": pin}))), true))},
        "/api/v1/recurring-donations": {"get": op("My monthly donations: state, charges, the next charge, the last failure", true, None, false)},
        "/api/v1/recurring-donations/{id}": {"delete": with_id(op("Stop a monthly donation (never charged again)", true, None, false))},
        "/api/v1/campaigns/{id}/gifts": {"get": with_id(op("A campaign's Inspired Gifts on offer, with their prices (public)", false, None, false))},
        "/api/v1/gifts": {"post": op("Give an Inspired Gift in a friend's name: a donation of its price; the friend receives a gift card", true,
            Some(body(&["item_id", "friend_id"], json!({"item_id": id, "friend_id": id, "note": {"type": "string", "maxLength": 200}, "pin": pin, "card_id": id, "balance_currency": currency}))), true)},
        "/api/v1/gift-cards": {"get": op("The gift cards I received or sent, newest first", true, None, false)},
        "/api/v1/gift-cards/{id}/thanks": {"post": with_id(op("Thank the giver of a gift card I received (once)", true,
            Some(body(&["message"], json!({"message": {"type": "string", "maxLength": 200}}))), false))},
        "/api/v1/charities/{mchid}/receipts.pdf": {"get": json!({"summary": "My year's gifts to a charity as a PDF", "security": [{"bearer": []}],
            "parameters": [{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "year", "in": "query", "required": true, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "the summary", "content": {"application/pdf": {}}}}})},
        "/api/v1/donations/{id}/receipt.pdf": {"get": with_id(json!({"summary": "A donation's receipt as a PDF", "security": [{"bearer": []}],
            "responses": {"200": {"description": "the receipt", "content": {"application/pdf": {}}}}}))},
        "/api/v1/campaigns/{id}/matches": {"post": with_id(op("Pledge to match a campaign's donations 1:1 up to a cap and a per-donor limit (the cap leaves my balance now)", true,
            Some(body(&["currency", "cap", "per_donor_max"], json!({"currency": currency, "cap": amount, "per_donor_max": amount, "pin": pin}))), true))},
        "/api/v1/donations": {"get": op("My donations, newest first", true, None, false)},
        "/api/v1/donations/{id}/receipt": {"get": with_id(op("A donation's receipt: charity and registration, donor, amount, date, receipt number", true, None, false))},
        "/api/v1/charities/{mchid}/receipts": {"get": with(op("My year's gifts to a charity: totals and every receipt", true, None, false),
            json!([{"name": "mchid", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "year", "in": "query", "required": true, "schema": {"type": "integer"}}]))},
        "/api/v1/official-accounts": {"get": with(op("Official accounts by id or the start of their name", true, None, false),
            json!([{"name": "q", "in": "query", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}]))},
        "/api/v1/official-accounts/{appid}": {"get": with(op("An official account: its owner, the charity badge, followers, the link its QR code carries", true, None, false), appid.clone())},
        "/api/v1/official-accounts/{appid}/follow": {
            "post": with(op("Follow an account (again: nothing changes)", true, None, false), appid.clone()),
            "delete": with(op("Unfollow", true, None, false), appid.clone())
        },
        "/api/v1/official-accounts/{appid}/mute": {"put": with(op("Mute or unmute an account (its messages still arrive)", true,
            Some(body(&["muted"], json!({"muted": {"type": "boolean"}}))), false), appid.clone())},
        "/api/v1/official-accounts/{appid}/read": {"post": with(op("Mark an account's messages read, up to up_to (default: all)", true,
            Some(body(&[], json!({"up_to": {"type": "string", "pattern": "^[0-9]+$"}}))), false), appid)},
        "/api/v1/follows": {"get": op("The accounts I follow, with my openid at each and the unread count", true, None, false)},
        "/api/v1/inbox": {"get": with(op("My inbox: the messages of the accounts I follow since I followed them, newest first, and the unread count", true, None, false),
            json!([{"name": "before", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]+$"}}, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}]))},
        "/admin/api/charities": {"post": operator("Register a merchant as a charity: {mchid, charity_number, jurisdiction, fee_bps?} (no fee by default)")},
        "/admin/api/charities/{mchid}": {"get": with(operator("A charity's registration"), mchid.clone())},
        "/admin/api/charities/{mchid}/state": {"put": with(operator("Suspend a charity (it takes no donations) or make it active: {state}"), mchid)},
        "/admin/api/campaigns/{id}/reconciliation": {"get": with_id(operator("A campaign's totals beside the ledger: the match's escrow, the charity's receivable"))},
        "/admin/api/donations/{id}/chargeback": {"post": with_id(operator("Record a card gift's chargeback by its issuer: the gift and its match reversed, once: {reason}"))}
    })
}

fn fx_paths() -> Value {
    let currency = json!({"type": "string", "pattern": "^[A-Z]{3}$"});
    let amount = json!({"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"});
    let operator = |summary: &str, request: Option<Value>| {
        let mut o = json!({"summary": summary, "security": [{"operator": []}], "responses": {"200": ok("OK")}});
        if let Some(r) = request {
            o["requestBody"] = r;
        }
        o
    };
    let with = |mut o: Value, params: Value| {
        o["parameters"] = params;
        o
    };
    let query = |names: &[(&str, bool)]| {
        Value::Array(
            names
                .iter()
                .map(|(n, required)| json!({"name": n, "in": "query", "required": required, "schema": {"type": "string"}}))
                .collect(),
        )
    };
    json!({
        "/api/v1/fx/quotes": {"post": op("A quote: exactly one of sell_amount and buy_amount, priced at the reference rate plus the markup, valid for two minutes", true,
            Some(body(&["sell_currency", "buy_currency"], json!({"sell_currency": currency, "buy_currency": currency, "sell_amount": amount, "buy_amount": amount,
                "purpose": {"enum": ["conversion", "payment"]}}))), false)},
        "/api/v1/fx/quotes/{id}": {"get": with_id(op("One of my quotes", true, None, false))},
        "/api/v1/fx/conversions": {"post": op("Convert between my own balances at a conversion quote (once per quote)", true,
            Some(body(&["quote_id"], json!({"quote_id": {"type": "string", "pattern": "^[0-9]+$"}, "pin": {"type": "string", "pattern": "^[0-9]{6}$"}}))), true)},
        "/admin/api/fx/rates": {
            "put": operator("Publish a reference rate: quote per one base, exactly as given", Some(body(&["base", "quote", "rate"], json!({"base": currency, "quote": currency,
                "rate": {"type": "string"}, "effective_at": {"type": "string", "format": "date-time"}, "source": {"type": "string"}})))),
            "get": with(operator("A pair's published rates, newest first", None), query(&[("base", true), ("quote", true), ("limit", false)]))
        },
        "/admin/api/fx/rates/import": {"post": operator("Import the ECB's reference-rate CSV (eurofxref.csv or eurofxref-hist.csv) as the body", None)},
        "/admin/api/fx/markups": {"put": operator("The markup of a pair (either side may be absent: any) on a channel", Some(body(&["channel", "markup_bps"],
            json!({"base": currency, "quote": currency, "channel": {"enum": ["payment", "card_payment", "conversion"]}, "markup_bps": {"type": "integer", "minimum": 0, "maximum": 1000}}))))},
        "/admin/api/fx/pairs/{base}/{quote}": {"put": with(operator("How old a pair's rate may be before payments needing it are refused", Some(body(&["max_age_s"], json!({"max_age_s": {"type": "integer"}})))),
            json!([{"name": "base", "in": "path", "required": true, "schema": currency}, {"name": "quote", "in": "path", "required": true, "schema": currency}]))},
        "/admin/api/fx/quotes/{id}": {"get": with(operator("Any quote, with its person and what used it", None), id_param())},
        "/admin/api/fx/positions": {"get": with(operator("The platform's FX exposure per currency, valued in a report currency, and the spread earned", None), query(&[("report_currency", false)]))},
        "/admin/api/fx/cross-border-report": {"get": with(operator("A day's exchanges and cross-border payments (JSON or CSV)", None), query(&[("day", true), ("format", false)]))}
    })
}

#[cfg(test)]
mod tests {
    /// The operator table and the document list the same routes: a route added to one and not the
    /// other fails here (and `document` itself refuses a rule it cannot find).
    #[test]
    fn every_operator_route_is_documented_and_every_documented_one_has_a_rule() {
        let doc = super::document();
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(path, _)| path.starts_with("/admin/"))
            .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
            .collect();
        let mut ruled: Vec<(String, String)> =
            crate::operator::policy().iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
        documented.sort();
        ruled.sort();
        assert_eq!(documented, ruled);
    }
}
