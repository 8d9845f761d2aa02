//! Test support: start the real `qianbao` binary on a free port against a fresh database, and talk to it
//! over real HTTP with a minimal std-only client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-operator-token-0123456789";

pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request on a fresh connection. `Err` when the server cannot be reached or the reply is cut.
pub fn request(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
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
    Ok(Response { status, body: body.to_string() })
}

pub fn get(port: u16, path: &str) -> Response {
    request(port, "GET", path, Some(TOKEN), None).expect("server reachable")
}

pub fn post(port: u16, path: &str, body: &str) -> Response {
    request(port, "POST", path, Some(TOKEN), Some(body)).expect("server reachable")
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
        let port = free_port();
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let log = std::fs::File::create(self.data_dir.join(format!("server-{port}.log"))).unwrap();
        let child = self
            .command(&args)
            .env("QIANBAO_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("qianbao starts");
        let server = Server { child, port };
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
