//! Test support: start the real `qianbao` binary on a free port against a fresh database, and talk to it
//! over real HTTP with a minimal std-only client.
#![allow(dead_code)]

pub mod merchant;

/// Each named test body runs once on SQLite and, when QIANBAO_TEST_DATABASE_URL is set, once on
/// PostgreSQL (in a schema of its own).
#[allow(unused_macros)]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Env::sqlite(stringify!($name))); })*
        }
        mod postgres {
            $(#[test] fn $name() {
                match super::Env::postgres(stringify!($name)) {
                    Some(env) => super::$name(env),
                    None => eprintln!("QIANBAO_TEST_DATABASE_URL not set: PostgreSQL run of {} skipped", stringify!($name)),
                }
            })*
        }
    };
}

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bootstrap token: it creates the first admin and nothing else.
pub const TOKEN: &str = "test-operator-token-0123456789";
/// The test operators' password.
pub const OPERATOR_PASSWORD: &str = "test-operator-password";
/// The reason the helpers give for each operator change.
pub const REASON: &str = "test%20case";

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request on a fresh connection. `Err` when the server cannot be reached or the reply is cut.
pub fn request(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> std::io::Result<Response> {
    request_with(port, method, path, token, body, &[])
}

pub fn request_with(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let mut auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    for (name, value) in headers {
        auth.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("no status"))?;
    let length: Option<usize> =
        head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)));
    if let Some(n) = length
        && body.len() < n
    {
        return Err(std::io::Error::other("body cut short"));
    }
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response { status, body: body.to_string(), headers })
}

/// A GET as the tests' operator (every role).
pub fn get(port: u16, path: &str) -> Response {
    operator_request(port, "GET", path, None)
}

/// A POST as the tests' operator (every role), with a reason.
pub fn post(port: u16, path: &str, body: &str) -> Response {
    operator_request(port, "POST", path, Some(body))
}

/// Any operator call as the tests' operator, with a reason.
pub fn operator_request(port: u16, method: &str, path: &str, body: Option<&str>) -> Response {
    as_operator(port, method, path, body, |tokens| tokens.0)
}

/// The same call as the second operator (every role): the other pair of eyes.
pub fn checker_request(port: u16, method: &str, path: &str, body: Option<&str>) -> Response {
    as_operator(port, method, path, body, |tokens| tokens.1)
}

/// A call with one of the two sessions; when it has ended (a test moved the server's clock past it), the
/// operators sign in again and the call is made once more.
fn as_operator(port: u16, method: &str, path: &str, body: Option<&str>, which: fn((String, String)) -> String) -> Response {
    let reason = [("Qianbao-Reason", REASON)];
    let r = request_with(port, method, path, Some(&which(operators(port))), body, &reason).expect("server reachable");
    if r.status != 401 {
        return r;
    }
    forget_operators(port);
    request_with(port, method, path, Some(&which(operators(port))), body, &reason).expect("server reachable")
}

/// A ledger correction asked for by the tests' operator and approved by the second: the approval's
/// answer (`result` holds one result per event).
pub fn correct_ledger(port: u16, body: &str) -> Response {
    let asked = post(port, "/admin/api/ledger/transfers", body);
    if asked.status != 202 {
        return asked;
    }
    let id = asked.json()["approval"]["id"].as_str().expect("an approval id").to_string();
    checker_request(port, "POST", &format!("/admin/api/approvals/{id}/approve"), None)
}

/// As [`correct_ledger`], `None` when the server cannot be reached (it was killed).
pub fn try_correct_ledger(port: u16, body: &str) -> Option<Response> {
    let (ops, checker) = operators(port);
    let reason = [("Qianbao-Reason", REASON)];
    let asked = request_with(port, "POST", "/admin/api/ledger/transfers", Some(&ops), Some(body), &reason).ok()?;
    if asked.status != 202 {
        return None;
    }
    let id = asked.json()["approval"]["id"].as_str()?.to_string();
    request_with(port, "POST", &format!("/admin/api/approvals/{id}/approve"), Some(&checker), None, &reason).ok()
}

/// Session tokens of the tests' operator and of the second operator on a server, both with every
/// role: on a fresh database the bootstrap token creates the first admin, who adds them; on one that
/// has them (a restart) they sign in; on a demo database the demo's operators sign in.
pub fn operators(port: u16) -> (String, String) {
    if let Some(known) = operator_tokens().lock().unwrap().get(&port) {
        return known.clone();
    }
    let made = make_operators(port);
    operator_tokens().lock().unwrap().insert(port, made.clone());
    made
}

fn operator_tokens() -> &'static std::sync::Mutex<std::collections::HashMap<u16, (String, String)>> {
    static TOKENS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<u16, (String, String)>>> = std::sync::OnceLock::new();
    TOKENS.get_or_init(Default::default)
}

/// Forget a server's operator sessions (they ended): the next call signs in again.
pub fn forget_operators(port: u16) {
    operator_tokens().lock().unwrap().remove(&port);
}

pub fn sign_in_operator(port: u16, username: &str, password: &str) -> Option<String> {
    let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let r = request(port, "POST", "/admin/api/sessions", None, Some(&body)).expect("server reachable");
    (r.status == 200).then(|| r.json()["token"].as_str().unwrap().to_string())
}

fn make_operators(port: u16) -> (String, String) {
    let first = format!(r#"{{"username":"root","password":"{OPERATOR_PASSWORD}"}}"#);
    let bootstrapped = request(port, "POST", "/admin/api/bootstrap", Some(TOKEN), Some(&first)).expect("server reachable").status == 200;
    if bootstrapped {
        let root = sign_in_operator(port, "root", OPERATOR_PASSWORD).expect("root signs in");
        for name in ["ops", "checker"] {
            let body = format!(
                r#"{{"username":"{name}","password":"{OPERATOR_PASSWORD}","roles":["admin","operator","risk","finance","support"]}}"#
            );
            let r = request_with(port, "POST", "/admin/api/operators", Some(&root), Some(&body), &[("Qianbao-Reason", REASON)]).unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    match (sign_in_operator(port, "ops", OPERATOR_PASSWORD), sign_in_operator(port, "checker", OPERATOR_PASSWORD)) {
        (Some(ops), Some(checker)) => (ops, checker),
        _ => (
            sign_in_operator(port, "alex", "qianbao-demo").expect("the demo's operator signs in"),
            sign_in_operator(port, "fiona", "qianbao-demo").expect("the demo's second operator signs in"),
        ),
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{name}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A data directory and database for one test; removed on drop.
pub struct Env {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl Env {
    pub fn sqlite(name: &str) -> Env {
        let data_dir = std::env::temp_dir().join(unique(&format!("qianbao_{name}")));
        std::fs::create_dir_all(&data_dir).unwrap();
        Env { data_dir, database_url: None }
    }

    /// `None` when QIANBAO_TEST_DATABASE_URL is not set.
    pub fn postgres(name: &str) -> Option<Env> {
        let base = std::env::var("QIANBAO_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
        let schema = unique(&format!("t_{name}")).to_lowercase();
        let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("QIANBAO_TEST_DATABASE_URL is reachable");
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let mut env = Env::sqlite(name);
        env.database_url = Some(format!("{base}{sep}options=-csearch_path%3D{schema}"));
        Some(env)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qianbao"));
        cmd.args(args)
            .env("QIANBAO_DATA_DIR", &self.data_dir)
            .env("QIANBAO_ADMIN_TOKEN", TOKEN)
            .env_remove("QIANBAO_DATABASE_URL")
            .env_remove("QIANBAO_CONFIG");
        if let Some(url) = &self.database_url {
            cmd.env("QIANBAO_DATABASE_URL", url);
        }
        cmd
    }

    /// Start `qianbao serve` and wait until it is ready.
    pub fn serve(&self, extra: &[&str]) -> Server {
        self.serve_with(extra, &[])
    }

    /// Start `qianbao serve` with extra environment and wait until it is ready.
    pub fn serve_with(&self, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let log = std::fs::File::create(self.data_dir.join(format!("server-{port}.log"))).unwrap();
        let child = self
            .command(&args)
            .env("QIANBAO_LISTEN", format!("127.0.0.1:{port}"))
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("qianbao starts");
        let server = Server { child, port };
        // A port is used again by later servers: sessions of an earlier one are not this one's.
        forget_operators(port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = request(port, "GET", "/readyz", None, None)
                && r.status == 200
            {
                return server;
            }
            assert!(Instant::now() < deadline, "qianbao did not become ready within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    /// SIGKILL: no shutdown code runs, as in a power cut of the process.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A person signed in to the wallet API.
#[derive(Clone)]
pub struct Wallet {
    pub port: u16,
    pub id: String,
    pub token: String,
}

static KEY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Wallet {
    /// Register (region CN unless the phone starts with +852) and sign in.
    pub fn register(port: u16, phone: &str, name: &str) -> Wallet {
        let region = if phone.starts_with("+852") { "HK" } else { "CN" };
        let body = format!(r#"{{"phone":"{phone}","password":"correct horse battery","region":"{region}","display_name":"{name}"}}"#);
        let r = request(port, "POST", "/api/v1/people", None, Some(&body)).unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["id"].as_str().unwrap().to_string();
        let r =
            request(port, "POST", "/api/v1/sessions", None, Some(&format!(r#"{{"phone":"{phone}","password":"correct horse battery"}}"#)))
                .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        Wallet { port, id, token: r.json()["token"].as_str().unwrap().to_string() }
    }

    pub fn get(&self, path: &str) -> Response {
        request(self.port, "GET", path, Some(&self.token), None).unwrap()
    }

    /// POST with a fresh Idempotency-Key.
    pub fn post(&self, path: &str, body: &str) -> Response {
        let key = format!("k{}", KEY.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        self.post_keyed(path, body, &key)
    }

    pub fn post_keyed(&self, path: &str, body: &str, key: &str) -> Response {
        request_with(self.port, "POST", path, Some(&self.token), Some(body), &[("Idempotency-Key", key)]).unwrap()
    }

    pub fn put(&self, path: &str, body: &str) -> Response {
        request(self.port, "PUT", path, Some(&self.token), Some(body)).unwrap()
    }

    pub fn set_pin(&self, pin: &str) {
        let r = self.put("/api/v1/me/pin", &format!(r#"{{"pin":"{pin}"}}"#));
        assert_eq!(r.status, 204, "{}", r.body);
    }

    /// Available balance in a currency, as a decimal string.
    pub fn available(&self, currency: &str) -> String {
        let r = self.get("/api/v1/wallet");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json().as_array().unwrap().iter().find(|b| b["currency"] == currency).unwrap()["available"].as_str().unwrap().to_string()
    }

    /// Link the sandbox's always-approving Visa and top up.
    pub fn top_up(&self, amount: &str, pin: &str) {
        let card = self.post("/api/v1/cards", r#"{"number":"4242 4242 4242 4242","exp_month":12,"exp_year":2099}"#);
        assert_eq!(card.status, 201, "{}", card.body);
        let card_id = card.json()["id"].as_str().unwrap().to_string();
        let r = self.post("/api/v1/top-ups", &format!(r#"{{"card_id":"{card_id}","amount":"{amount}","currency":"CNY","pin":"{pin}"}}"#));
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["state"], "succeeded", "{}", r.body);
    }

    /// Ask `other` to be friends, and accept on their side.
    pub fn befriend(&self, other: &Wallet) {
        let r = self.post("/api/v1/friends", &format!(r#"{{"person_id":"{}"}}"#, other.id));
        assert_eq!(r.status, 201, "{}", r.body);
        let r = other.post(&format!("/api/v1/friends/{}/accept", self.id), "{}");
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// The sandbox operator moves the manual clock.
pub fn advance_clock(port: u16, seconds: u64) {
    let r = post(port, "/admin/api/sandbox/clock", &format!(r#"{{"advance_s":{seconds}}}"#));
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Server settings for wallet tests: manual clock, cheap password hashing.
pub const WALLET_ENV: &[(&str, &str)] =
    &[("QIANBAO_CLOCK", "manual"), ("QIANBAO_PASSWORD_MEMORY_KIB", "64"), ("QIANBAO_NOTIFY_PRIVATE_ADDRESSES", "true")];
