//! Connecting the partner networks at start: those of the configuration file, and the sandbox network
//! when asked for (`sandbox_network_listen`, and always in `--demo`), served in this process on its own
//! port and reached over real HTTP like any other.

use crate::config::Config;
use platform::networks::NetworkConfig;
use server::network::client::HttpNetwork;
use server::network::sandbox::{PROMPTPAY_GUID, Sandbox, SandboxConfig};
use std::sync::Arc;

/// The sandbox network's id and its key (a sandbox's: published, like the demo's operator token).
pub const SANDBOX_ID: &str = "sandbox-th";
const SANDBOX_KEY: &str = "sandbox-network-key-not-a-secret-0123456789";

/// Where the sandbox network listens, when it runs.
pub struct Started {
    pub sandbox_url: Option<String>,
}

pub async fn connect(config: &Config, platform: &platform::Platform, demo: bool, public_url: &str) -> Result<Started, String> {
    for n in &config.networks {
        let currency = money::Currency::from_code(&n.currency).map_err(|_| format!("network {}: currency {:?}", n.id, n.currency))?;
        let network = NetworkConfig {
            id: n.id.clone(),
            number: n.number,
            name: n.name.clone(),
            currency,
            guids: n.guids.clone(),
            url: n.url.clone(),
            key: n.key.clone(),
            timeout_ms: n.timeout_ms,
        };
        platform.networks.register(Arc::new(HttpNetwork::new(network))).await.map_err(|e| e.to_string())?;
    }
    let listen = match (&config.sandbox_network_listen, demo) {
        (Some(l), _) => l.clone(),
        (None, true) => "127.0.0.1:0".to_string(),
        (None, false) => return Ok(Started { sandbox_url: None }),
    };
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| format!("sandbox network on {listen}: {e}"))?;
    let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let sandbox = Sandbox::new(SandboxConfig {
        id: SANDBOX_ID.into(),
        key: SANDBOX_KEY.into(),
        qianbao_url: public_url.to_string(),
        slow_ms: config.sandbox_network_slow_ms,
    });
    tokio::spawn(async move {
        if let Err(e) = sandbox.serve(listener).await {
            tracing::error!(error = %e, "the sandbox network stopped");
        }
    });
    let network = NetworkConfig {
        id: SANDBOX_ID.into(),
        number: 1,
        name: "Sandbox Network TH".into(),
        currency: money::Currency::from_code("THB").expect("THB"),
        guids: vec![PROMPTPAY_GUID.into()],
        url: url.clone(),
        key: SANDBOX_KEY.into(),
        timeout_ms: config.sandbox_network_timeout_ms,
    };
    platform.networks.register(Arc::new(HttpNetwork::new(network))).await.map_err(|e| e.to_string())?;
    tracing::info!(%url, "sandbox partner network connected");
    Ok(Started { sandbox_url: Some(url) })
}
