//! Configuration: defaults, then a TOML file (`--config` or `QIANBAO_CONFIG`), then `QIANBAO_*`
//! environment variables, later ones winning.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Where the embedded database and generated secrets live.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; unset means SQLite at `<data_dir>/qianbao.db`.
    pub database_url: Option<String>,
    /// The operator API token; unset means generated once and kept in `<data_dir>/admin-token`.
    pub admin_token: Option<String>,
    /// `text` or `json`.
    pub log_format: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./qianbao-data"),
            database_url: None,
            admin_token: None,
            log_format: "text".into(),
        }
    }
}

impl Config {
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("QIANBAO_CONFIG").map(PathBuf::from));
        let mut config = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading config {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("QIANBAO_LISTEN") {
            config.listen = v;
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
        if !matches!(config.log_format.as_str(), "text" | "json") {
            return Err(format!(
                "log_format must be text or json, got {:?}",
                config.log_format
            ));
        }
        Ok(config)
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
        std::fs::create_dir_all(&self.data_dir)
            .map_err(|e| format!("creating {}: {e}", self.data_dir.display()))?;
        let token = random_hex(32)?;
        write_private(&path, &token)?;
        Ok(token)
    }
}

/// `bytes` random bytes from the OS, hex-encoded.
pub fn random_hex(bytes: usize) -> Result<String, String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("reading /dev/urandom: {e}"))?;
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
    file.write_all(text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
