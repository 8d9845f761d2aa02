//! The database goes away: a PostgreSQL of this test's own (initdb in a temporary directory, its own
//! port; never the shared server other tests use) is stopped hard under a running `qianbao serve` and
//! started again. Meanwhile `/readyz` says 503 and requests get a clear 503 at once (not a hang, not a
//! 500); afterwards everything acknowledged is there and nothing is applied twice.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A PostgreSQL server in a temporary directory, stopped when dropped.
struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

/// initdb and the server refuse to run as root: run them as the `postgres` user then.
fn as_postgres_user(program: &Path) -> Command {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn postgres_bin() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    dir.join("initdb").exists().then_some(dir)
}

impl OwnPostgres {
    fn start() -> Option<OwnPostgres> {
        let bin = postgres_bin()?;
        let dir = std::env::temp_dir().join(format!("qianbao_own_pg_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status();
        let init =
            as_postgres_user(&bin.join("initdb")).args(["-A", "trust", "-U", "postgres", "-D"]).arg(dir.join("data")).output().unwrap();
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let pg = OwnPostgres { bin, dir, port: free_port() };
        pg.up();
        Some(pg)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let out = as_postgres_user(&self.bin.join("pg_ctl")).arg("-D").arg(self.dir.join("data")).args(args).output().unwrap();
        assert!(out.status.success(), "pg_ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn up(&self) {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {}", self.port, self.dir.display());
        let log = self.dir.join("postgres.log");
        self.pg_ctl(&["-w", "-o", &options, "-l", log.to_str().unwrap(), "start"]);
    }

    /// As a crash or a pulled cable would: no shutdown checkpoint, connections cut.
    fn down(&self) {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = as_postgres_user(&self.bin.join("pg_ctl")).arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Poll until `ok`, at most `within`.
fn eventually(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn transfer(alice: &Wallet, bob: &Wallet, key: &str) -> std::io::Result<Response> {
    let body = format!(r#"{{"to_person_id":"{}","amount":"1.00","currency":"CNY","pin":"135790"}}"#, bob.id);
    request_with(alice.port, "POST", "/api/v1/transfers", Some(&alice.token), Some(&body), &[("Idempotency-Key", key)])
}

#[test]
fn while_the_database_is_down_requests_get_503_and_afterwards_nothing_is_lost_or_doubled() {
    let Some(pg) = OwnPostgres::start() else {
        eprintln!("no PostgreSQL binaries (pg_config --bindir): the database outage test is skipped");
        return;
    };
    let mut env = Env::sqlite("database_down");
    env.database_url = Some(pg.url());
    let server = env.serve_with(&[], WALLET_ENV);
    let (alice, bob) = (Wallet::register(server.port, "+8613900004001", "Alice"), Wallet::register(server.port, "+8613900004002", "Bob"));
    alice.set_pin("135790");
    alice.top_up("100.00", "135790");
    alice.befriend(&bob);
    for i in 0..5 {
        assert_eq!(transfer(&alice, &bob, &format!("before-{i}")).unwrap().status, 201);
    }

    pg.down();
    eventually(Duration::from_secs(5), "/readyz turns 503", || {
        request(server.port, "GET", "/readyz", None, None).is_ok_and(|r| r.status == 503)
    });
    let started = Instant::now();
    let refused = transfer(&alice, &bob, "during").unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}, not hung", started.elapsed());
    assert_eq!((refused.status, refused.json()["code"].as_str()), (503, Some("UNAVAILABLE")), "{}", refused.body);
    let read = alice.get("/api/v1/wallet");
    assert_eq!(read.status, 503, "{}", read.body);
    assert!(!read.body.contains("postgres") && !read.body.contains("127.0.0.1"), "no internal detail: {}", read.body);

    pg.up();
    eventually(Duration::from_secs(20), "/readyz turns 200", || {
        request(server.port, "GET", "/readyz", None, None).is_ok_and(|r| r.status == 200)
    });
    let mut answered = None;
    eventually(Duration::from_secs(10), "the retried transfer is answered", || match transfer(&alice, &bob, "during") {
        Ok(r) if r.status == 201 => {
            answered = Some(r.json()["id"].clone());
            true
        }
        Ok(r) => {
            assert_eq!(r.status, 503, "only 503 while reconnecting: {}", r.body);
            false
        }
        Err(_) => false,
    });
    let again = transfer(&alice, &bob, "during").unwrap();
    assert_eq!(Some(again.json()["id"].clone()), answered, "one key, one transfer");
    let sent = alice.get("/api/v1/history?type=transfer_out&limit=100").json().as_array().unwrap().len();
    assert_eq!(sent, 6, "the five from before, and the retried one once");
    assert_eq!(alice.available("CNY"), "94.00");
    let verify = env.command(&["ledger", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}
