//! Configuration: defaults, then a TOML file (`--config` or `QIANBAO_CONFIG`), then `QIANBAO_*`
//! environment variables, later ones winning.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Where the operator API, the operator console and `/metrics` listen: an address, or `shared` for
    /// the public listener. Unset: shared when `listen` is a loopback address, else `127.0.0.1:8081`
    /// (an operator surface is never public by accident).
    pub admin_listen: Option<String>,
    /// Where the embedded database and generated secrets live.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; unset means SQLite at `<data_dir>/qianbao.db`.
    pub database_url: Option<String>,
    /// The operator API token; unset means generated once and kept in `<data_dir>/admin-token`.
    pub admin_token: Option<String>,
    /// `text` or `json`.
    pub log_format: String,
    /// Keys the payment PIN HMAC (hex, at least 32 bytes); unset means generated once into
    /// `<data_dir>/secret`. Keep it out of the database and its backups.
    pub secret: Option<String>,
    /// `system`, or `manual` (sandbox and tests: the operator moves time with /admin/api/sandbox/clock).
    pub clock: String,
    /// argon2id memory cost for login passwords, KiB (OWASP's minimum 19,456; lower only for tests).
    pub password_memory_kib: u32,
    /// How long the sandbox card rail takes to answer a pending charge.
    pub sandbox_confirm_after_ms: u64,
    /// Most shares one red packet may have (operator rule).
    pub red_packet_shares_max: u32,
    /// Payments at or below this many minor units need no PIN (0: every payment needs it).
    pub no_pin_threshold_minor: i64,
    /// Merchant API requests per second per merchant (beyond: 429 RATELIMIT_EXCEEDED).
    pub merchant_requests_per_s_max: u32,
    /// Deliver notifications to loopback and private addresses too (sandboxes and tests; never in
    /// production, where a merchant's notify_url must not reach into the operator's network).
    pub notify_private_addresses: bool,
    /// Most members a group may have.
    pub group_members_max: usize,
    /// Where people's browsers reach this server (H5 payment links); unset means `http://<listen>`.
    pub public_url: Option<String>,
    /// A client has this long to send a request's headers; an idle keep-alive connection closes after it.
    pub header_read_timeout_ms: u64,
    /// Partner networks (`[[networks]]`): their wallets pay Qianbao's merchants and Qianbao's wallets
    /// pay theirs.
    pub networks: Vec<NetworkFile>,
    /// Run the sandbox partner network (a Thai network, PromptPay codes in THB) in this process,
    /// listening here (`127.0.0.1:0`: any free port), and connect it. `serve --demo` runs one.
    pub sandbox_network_listen: Option<String>,
    /// How long Qianbao waits for the sandbox network, and how late its `..99` answers come.
    pub sandbox_network_timeout_ms: u64,
    pub sandbox_network_slow_ms: u64,
    /// Serve the notification inbox (`/sandbox/inbox/{mchid}`): a notify receiver that shows each
    /// notification verified and decrypted. Sandboxes only; `serve --demo` serves it.
    pub sandbox_inbox: bool,
}

/// A partner network in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    pub id: String,
    pub number: u16,
    pub name: String,
    pub currency: String,
    pub guids: Vec<String>,
    pub url: String,
    pub key: String,
    #[serde(default = "network_timeout_ms")]
    pub timeout_ms: u64,
}

fn network_timeout_ms() -> u64 {
    5_000
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".into(),
            admin_listen: None,
            data_dir: PathBuf::from("./qianbao-data"),
            database_url: None,
            admin_token: None,
            log_format: "text".into(),
            secret: None,
            clock: "system".into(),
            password_memory_kib: 19_456,
            sandbox_confirm_after_ms: 2_000,
            red_packet_shares_max: 100,
            no_pin_threshold_minor: 0,
            merchant_requests_per_s_max: 5_000,
            notify_private_addresses: false,
            group_members_max: 500,
            public_url: None,
            header_read_timeout_ms: 10_000,
            networks: Vec::new(),
            sandbox_network_listen: None,
            sandbox_network_timeout_ms: 2_000,
            sandbox_network_slow_ms: 5_000,
            sandbox_inbox: false,
        }
    }
}

/// The admin listener's address when nothing says otherwise and the public one is not loopback.
pub const ADMIN_LISTEN_DEFAULT: &str = "127.0.0.1:8081";

impl Config {
    /// Where the operator surface listens apart from the public one, if it does.
    pub fn admin_listener(&self) -> Option<String> {
        match self.admin_listen.as_deref() {
            Some("shared") => None,
            Some(address) => Some(address.to_string()),
            None => {
                let loopback = self.listen.parse::<std::net::SocketAddr>().map(|a| a.ip().is_loopback()).unwrap_or(false)
                    || self.listen.starts_with("localhost:");
                (!loopback).then(|| ADMIN_LISTEN_DEFAULT.to_string())
            }
        }
    }

    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("QIANBAO_CONFIG").map(PathBuf::from));
        let mut config = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("reading config {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("QIANBAO_LISTEN") {
            config.listen = v;
        }
        if let Some(v) = var("QIANBAO_ADMIN_LISTEN") {
            config.admin_listen = Some(v);
        }
        if let Some(v) = var("QIANBAO_DATA_DIR") {
            config.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("QIANBAO_DATABASE_URL") {
            config.database_url = Some(v);
        }
        if let Some(v) = var("QIANBAO_ADMIN_TOKEN") {
            config.admin_token = Some(v);
        }
        if let Some(v) = var("QIANBAO_LOG_FORMAT") {
            config.log_format = v;
        }
        if let Some(v) = var("QIANBAO_PUBLIC_URL") {
            config.public_url = Some(v);
        }
        if let Some(v) = var("QIANBAO_SECRET") {
            config.secret = Some(v);
        }
        if let Some(v) = var("QIANBAO_CLOCK") {
            config.clock = v;
        }
        if let Some(v) = var("QIANBAO_PASSWORD_MEMORY_KIB") {
            config.password_memory_kib = v.parse().map_err(|_| "QIANBAO_PASSWORD_MEMORY_KIB must be a number".to_string())?;
        }
        if let Some(v) = var("QIANBAO_SANDBOX_CONFIRM_AFTER_MS") {
            config.sandbox_confirm_after_ms = v.parse().map_err(|_| "QIANBAO_SANDBOX_CONFIRM_AFTER_MS must be a number".to_string())?;
        }
        if let Some(v) = var("QIANBAO_RED_PACKET_SHARES_MAX") {
            config.red_packet_shares_max = v.parse().map_err(|_| "QIANBAO_RED_PACKET_SHARES_MAX must be a number".to_string())?;
        }
        if let Some(v) = var("QIANBAO_NO_PIN_THRESHOLD_MINOR") {
            config.no_pin_threshold_minor = v.parse().map_err(|_| "QIANBAO_NO_PIN_THRESHOLD_MINOR must be a number".to_string())?;
        }
        if let Some(v) = var("QIANBAO_NOTIFY_PRIVATE_ADDRESSES") {
            config.notify_private_addresses = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err("QIANBAO_NOTIFY_PRIVATE_ADDRESSES must be true or false".into()),
            };
        }
        if let Some(v) = var("QIANBAO_MERCHANT_REQUESTS_PER_S_MAX") {
            config.merchant_requests_per_s_max =
                v.parse().map_err(|_| "QIANBAO_MERCHANT_REQUESTS_PER_S_MAX must be a number".to_string())?;
        }
        if !(1..=1_000_000).contains(&config.merchant_requests_per_s_max) {
            return Err("merchant_requests_per_s_max must be 1..=1000000".into());
        }
        if !(0..=1_000_000).contains(&config.no_pin_threshold_minor) {
            return Err("no_pin_threshold_minor must be 0..=1000000".into());
        }
        if let Some(v) = var("QIANBAO_HEADER_READ_TIMEOUT_MS") {
            config.header_read_timeout_ms = v.parse().map_err(|_| "QIANBAO_HEADER_READ_TIMEOUT_MS must be a number".to_string())?;
        }
        if let Some(v) = var("QIANBAO_GROUP_MEMBERS_MAX") {
            config.group_members_max = v.parse().map_err(|_| "QIANBAO_GROUP_MEMBERS_MAX must be a number".to_string())?;
        }
        if let Some(v) = var("QIANBAO_SANDBOX_INBOX") {
            config.sandbox_inbox = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err("QIANBAO_SANDBOX_INBOX must be true or false".into()),
            };
        }
        if let Some(v) = var("QIANBAO_SANDBOX_NETWORK_LISTEN") {
            config.sandbox_network_listen = Some(v);
        }
        if let Some(v) = var("QIANBAO_SANDBOX_NETWORK_TIMEOUT_MS") {
            config.sandbox_network_timeout_ms = v.parse().map_err(|_| "QIANBAO_SANDBOX_NETWORK_TIMEOUT_MS must be a number".to_string())?;
        }
        if let Some(v) = var("QIANBAO_SANDBOX_NETWORK_SLOW_MS") {
            config.sandbox_network_slow_ms = v.parse().map_err(|_| "QIANBAO_SANDBOX_NETWORK_SLOW_MS must be a number".to_string())?;
        }
        if !(100..=60_000).contains(&config.sandbox_network_timeout_ms) || config.sandbox_network_slow_ms > 600_000 {
            return Err("sandbox_network_timeout_ms must be 100..=60000 and sandbox_network_slow_ms at most 600000".into());
        }
        if !(100..=600_000).contains(&config.header_read_timeout_ms) {
            return Err("header_read_timeout_ms must be 100..=600000".into());
        }
        if !(1..=100_000).contains(&config.red_packet_shares_max) || !(2..=100_000).contains(&config.group_members_max) {
            return Err("red_packet_shares_max must be 1..=100000 and group_members_max 2..=100000".into());
        }
        if !matches!(config.clock.as_str(), "system" | "manual") {
            return Err(format!("clock must be system or manual, got {:?}", config.clock));
        }
        if !(8..=4_194_304).contains(&config.password_memory_kib) {
            return Err("password_memory_kib must be between 8 and 4194304".into());
        }
        if !matches!(config.log_format.as_str(), "text" | "json") {
            return Err(format!("log_format must be text or json, got {:?}", config.log_format));
        }
        Ok(config)
    }

    /// The data directory, created readable by its owner only (it holds the database, keys, the secret).
    pub fn create_data_dir(&self) -> Result<(), String> {
        use std::os::unix::fs::DirBuilderExt;
        use std::os::unix::fs::PermissionsExt;
        let failed = |e: std::io::Error| format!("creating {}: {e}", self.data_dir.display());
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.data_dir).map_err(failed)?;
        // A directory made earlier (by hand, by an older release) is made private too: it holds the
        // database, the secret and the demo merchant's keys.
        std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)
    }

    /// Where notifications may go: anywhere when the operator says so (sandboxes in a private network,
    /// tests), this machine too in the demo, else public addresses only.
    pub fn notify_destinations(&self, demo: bool) -> server::notify::Destinations {
        match (self.notify_private_addresses, demo) {
            (true, _) => server::notify::Destinations::Any,
            (false, true) => server::notify::Destinations::Loopback,
            (false, false) => server::notify::Destinations::Public,
        }
    }

    pub fn database(&self) -> Result<store::DatabaseUrl, String> {
        match &self.database_url {
            Some(url) => store::DatabaseUrl::parse(url).map_err(|e| e.to_string()),
            None => Ok(store::DatabaseUrl::Sqlite(self.data_dir.join("qianbao.db"))),
        }
    }

    /// The configured operator token, or the one generated on first start and kept in the data directory.
    pub fn admin_token(&self) -> Result<String, String> {
        if let Some(token) = &self.admin_token {
            if token.len() < 16 {
                return Err("admin_token must be at least 16 characters".into());
            }
            return Ok(token.clone());
        }
        let path = self.data_dir.join("admin-token");
        if let Ok(token) = std::fs::read_to_string(&path) {
            return Ok(token.trim().to_string());
        }
        self.create_data_dir()?;
        let token = random_hex(32)?;
        write_private(&path, &token)?;
        Ok(token)
    }
}

impl Config {
    /// The platform secret, or the one generated on first start and kept in the data directory.
    pub fn secret(&self) -> Result<Vec<u8>, String> {
        let text = match &self.secret {
            Some(s) => s.clone(),
            None => {
                let path = self.data_dir.join("secret");
                match std::fs::read_to_string(&path) {
                    Ok(s) => s.trim().to_string(),
                    Err(_) => {
                        self.create_data_dir()?;
                        let s = random_hex(32)?;
                        write_private(&path, &s)?;
                        s
                    }
                }
            }
        };
        let bytes: Option<Vec<u8>> =
            (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
        bytes
            .filter(|b| b.len() >= 32 && text.len() % 2 == 0)
            .ok_or_else(|| "secret must be at least 64 hex characters (32 bytes)".to_string())
    }
}

/// `bytes` random bytes from the OS, hex-encoded.
pub fn random_hex(bytes: usize) -> Result<String, String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).map_err(|e| format!("reading /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write a secret readable by the owner only.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_surface_listens_apart_unless_the_public_listener_is_loopback_or_told_to_share() {
        let with =
            |listen: &str, admin: Option<&str>| Config { listen: listen.into(), admin_listen: admin.map(Into::into), ..Config::default() };
        assert_eq!(with("127.0.0.1:8080", None).admin_listener(), None);
        assert_eq!(with("[::1]:8080", None).admin_listener(), None);
        assert_eq!(with("0.0.0.0:8080", None).admin_listener().as_deref(), Some(ADMIN_LISTEN_DEFAULT));
        assert_eq!(with("0.0.0.0:8080", Some("shared")).admin_listener(), None);
        assert_eq!(with("127.0.0.1:8080", Some("10.0.0.5:9000")).admin_listener().as_deref(), Some("10.0.0.5:9000"));
    }
}
