//! The `qianbao` binary: `serve`, `migrate`, ledger operator commands, benchmarks.

#[macro_use]
mod report;
mod bench;
mod bench_bills;
mod bench_donations;
mod bench_merchant;
mod bench_risk;
mod bench_wallet;
mod config;
mod demo_abroad;
mod networks;

use clap::{Parser, Subcommand};
use config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use store::{CommitterConfig, Store, SystemClock};

#[derive(Parser)]
#[command(name = "qianbao", version, about = "Qianbao: a self-hostable payment platform")]
struct Cli {
    /// Configuration file (TOML). Also QIANBAO_CONFIG; QIANBAO_* variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (default: SQLite under ./qianbao-data, 127.0.0.1:8080).
    Serve {
        /// Seed demo data and print how to use it.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Ledger operator commands.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// EMV QR payloads, for the people who debug codes.
    Qr {
        #[command(subcommand)]
        command: QrCommand,
    },
}

#[derive(Subcommand)]
enum QrCommand {
    /// Print a payload's objects, recognised schemes and verdict as JSON; exit 0 when valid, 1 when not.
    Decode { payload: String },
    /// Build a payload (canonical order, CRC) from JSON `{"objects": [{"id": "00", "value": "01"}, ...]}`
    /// (a template as `{"id": "26", "template": [...]}`); `-` or nothing reads the JSON from stdin.
    Encode { json: Option<String> },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every balance from the journal and check every invariant; exit 1 on any difference.
    Verify,
    /// Show an account.
    Account { id: u128 },
    /// Show a transfer.
    Transfer { id: u128 },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The ledger through the group committer (TigerBeetle's benchmark shape).
    Ledger(bench::LedgerBench),
    /// The wallet API end to end over HTTP: transfers between friends, or one red packet's claim storm.
    Wallet(bench_wallet::WalletBench),
    /// Merchant payments end to end: signed order creation, the wallet paying, the notification delivered.
    Merchant(bench_merchant::MerchantBench),
    /// A storm of donors on one campaign with a capped 1:1 match, checked against the ledger.
    Donations(bench_donations::DonationsBench),
    /// A merchant's day of a million orders: its bills streamed and verified, its settlement, the server's memory.
    Bills(bench_bills::BillsBench),
    /// The risk engine's cost per payment, against 5% of a payment at 20,000 payments/s.
    Risk(bench_risk::RiskBench),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("qianbao: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QIANBAO_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn open_store(config: &Config) -> Result<Store, String> {
    let url = config.database()?;
    if !url.is_postgres() {
        config.create_data_dir()?;
    }
    Store::open(&url).map_err(|e| format!("opening {}: {e}", url.redacted()))
}

/// `qianbao qr`: no configuration, no database.
fn qr(command: QrCommand) -> Result<ExitCode, String> {
    match command {
        QrCommand::Decode { payload } => {
            let decoded = server::qr::decode(payload.trim());
            println!("{}", serde_json::to_string_pretty(&decoded).expect("JSON serialises"));
            Ok(if decoded["valid"] == true { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        QrCommand::Encode { json } => {
            let text = match json.as_deref() {
                None | Some("-") => std::io::read_to_string(std::io::stdin()).map_err(|e| format!("reading stdin: {e}"))?,
                Some(text) => text.to_string(),
            };
            let spec: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
            println!("{}", server::qr::encode(&spec)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Command::Qr { command } = cli.command {
        return qr(command);
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { demo } => {
            init_logging(&config);
            serve(config, demo)?;
        }
        Command::Migrate => {
            let store = open_store(&config)?;
            println!("{}: schema version {}", store.url().redacted(), store.schema_version().map_err(|e| e.to_string())?);
        }
        Command::Ledger { command } => {
            let store = open_store(&config)?;
            match command {
                LedgerCommand::Verify => {
                    let report = store.verify().map_err(|e| e.to_string())?;
                    println!("accounts: {}  transfers: {}  pending open: {}", report.accounts, report.transfers, report.pending_open);
                    for (currency, posted) in &report.posted_by_currency {
                        println!("{currency}: posted debits = posted credits = {posted} minor units");
                    }
                    if !report.ok() {
                        for problem in &report.problems {
                            println!("PROBLEM: {problem}");
                        }
                        println!("the books do NOT verify");
                        return Ok(ExitCode::FAILURE);
                    }
                    println!("the books verify: every balance recomputed from the journal, every invariant holds");
                }
                LedgerCommand::Account { id } => {
                    let account = store.account(id).map_err(|e| e.to_string())?.ok_or(format!("no account {id}"))?;
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&server::operator::ledger::AccountOut::from(account)).expect("serialisable")
                    );
                }
                LedgerCommand::Transfer { id } => {
                    let (t, p) = store.transfer(id).map_err(|e| e.to_string())?.ok_or(format!("no transfer {id}"))?;
                    println!("{}", serde_json::to_string_pretty(&server::operator::ledger::TransferOut::new(t, p)).expect("serialisable"));
                }
            }
        }
        Command::Bench { command: BenchCommand::Ledger(args) } => {
            args.output.apply();
            bench::run(&args)?
        }
        Command::Bench { command: BenchCommand::Wallet(args) } => {
            args.output.apply();
            bench_wallet::run(&args)?
        }
        Command::Bench { command: BenchCommand::Merchant(args) } => {
            args.output.apply();
            bench_merchant::run(&args)?
        }
        Command::Bench { command: BenchCommand::Bills(args) } => {
            args.output.apply();
            bench_bills::run(&args)?
        }
        Command::Bench { command: BenchCommand::Donations(args) } => {
            args.output.apply();
            bench_donations::run(&args)?
        }
        Command::Bench { command: BenchCommand::Risk(args) } => {
            args.output.apply();
            bench_risk::run(&args)?
        }
        Command::Qr { command } => return qr(command),
    }
    Ok(ExitCode::SUCCESS)
}

/// Connections the platform's pool opens at most.
const DB_CONNECTIONS_MAX: usize = 16;
/// How often each instance resolves what fell due (red packet refunds, pending top-ups ...).
const DEADLINES_PERIOD_MS: u64 = 1_000;
/// How often each instance beats its heart and looks for merchants changed elsewhere.
const INSTANCE_TICK_MS: u64 = 1_000;

fn serve(config: Config, demo: bool) -> Result<(), String> {
    let store = Arc::new(open_store(&config)?);
    let admin_token = config.admin_token()?;
    let secret = config.secret()?;
    let (clock, manual_clock): (Arc<dyn store::Clock>, Option<Arc<store::ManualClock>>) = if config.clock == "manual" {
        let manual = Arc::new(store::ManualClock::new(store::Clock::now_ns(&SystemClock)));
        (manual.clone(), Some(manual))
    } else {
        (Arc::new(SystemClock), None)
    };
    let db = Arc::new(store::Db::open(store.url(), DB_CONNECTIONS_MAX).map_err(|e| e.to_string())?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let committer = store.start_committer(CommitterConfig::default(), clock.clone()).map_err(|e| e.to_string())?;
    tracing::info!(database = %store.url().redacted(), schema = store.schema_version().unwrap_or(0), clock = %config.clock, "store ready");
    runtime.block_on(async move {
        let rail = Arc::new(platform::wallet::SandboxRail::new(clock.clone(), config.sandbox_confirm_after_ms, db.clone()));
        let mut platform_config =
            platform::PlatformConfig { password_memory_kib: config.password_memory_kib, ..platform::PlatformConfig::default() };
        platform_config.red_packets.shares_max = config.red_packet_shares_max;
        platform_config.no_pin_threshold_minor = config.no_pin_threshold_minor;
        platform_config.group_members_max = config.group_members_max;
        platform_config.public_url = platform_config_url(&config);
        let parts = platform::Parts { store: store.clone(), db, committer, clock, config: platform_config, rail, secret };
        let public_url = platform_config_url(&config);
        let platform = Arc::new(platform::Platform::start(parts).await.map_err(|e| e.to_string())?);
        let networks = networks::connect(&config, &platform, demo, &public_url).await?;
        spawn_deadlines(platform.clone());
        spawn_network_sweep(platform.clone());
        let server_metrics = Arc::new(server::server_metrics::ServerMetrics::default());
        server::notify::spawn(platform.clone(), server_metrics.clone(), config.notify_destinations(demo));
        let demo_merchant = if demo {
            seed_demo_people(&platform).await.map_err(|e| format!("demo people: {e}"))?;
            let operator = seed_demo_operators(&platform).await.map_err(|e| format!("demo operators: {e}"))?;
            let merchant = seed_demo_merchant(&platform, &config.data_dir).await?;
            let abroad = demo_abroad::seed(&platform, &config.data_dir).await?;
            Some((merchant, abroad, operator))
        } else {
            None
        };
        let web = server::web::Web {
            demo: demo.then(|| demo_page(networks.sandbox_url.clone())),
            inbox: (demo || config.sandbox_inbox).then(Default::default),
        };
        let state = Arc::new(server::AppState {
            platform,
            admin_token: admin_token.clone(),
            manual_clock,
            merchant_rate: server::merchant::RateLimiter::new(config.merchant_requests_per_s_max),
            metrics: server_metrics,
            in_flight: Default::default(),
            live_streams: server::wallet::live_slots(),
            web,
        });
        spawn_instance_tasks(state.clone());
        let listener = tokio::net::TcpListener::bind(&config.listen).await.map_err(|e| format!("listening on {}: {e}", config.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%address, "qianbao listening");
        if let Some((merchant, abroad, operator)) = demo_merchant {
            print_demo(address, &config, &operator);
            print_demo_merchant(address, &merchant);
            demo_abroad::print(address, &abroad, &operator);
            if let Some(url) = &networks.sandbox_url {
                println!(
                    "Sandbox partner network ({}): {url}  (its merchants' PromptPay codes: GET {url}/sandbox/v1/merchants)",
                    networks::SANDBOX_ID
                );
            }
        }
        let header_timeout = std::time::Duration::from_millis(config.header_read_timeout_ms);
        let Some(admin_address) = config.admin_listener() else {
            return tokio::select! {
                served = server::serve(listener, server::router(state), header_timeout) => served.map_err(|e| e.to_string()),
                () = shutdown_signal() => Ok(()),
            };
        };
        let admin =
            tokio::net::TcpListener::bind(&admin_address).await.map_err(|e| format!("listening on {admin_address} (admin_listen): {e}"))?;
        tracing::info!(address = %admin.local_addr().map_err(|e| e.to_string())?, "operator API, console and metrics listening");
        let public_app = server::router_for(state.clone(), server::Surface::Public);
        let admin_app = server::router_for(state, server::Surface::Admin);
        tokio::select! {
            served = server::serve(listener, public_app, header_timeout) => served.map_err(|e| e.to_string()),
            served = server::serve(admin, admin_app, header_timeout) => served.map_err(|e| e.to_string()),
            () = shutdown_signal() => Ok(()),
        }
    })
}

/// Where this server is reached (H5 links; the sandbox network's wallet calls it there).
fn platform_config_url(config: &Config) -> String {
    config.public_url.clone().unwrap_or_else(|| format!("http://{}", config.listen))
}

/// Ask the partner networks about payments they have not answered, every second, in a task of its
/// own (a network that is down must not hold up the other deadlines).
fn spawn_network_sweep(platform: Arc<platform::Platform>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(DEADLINES_PERIOD_MS));
        loop {
            tick.tick().await;
            if let Err(e) = platform.networks.sweep().await {
                tracing::error!(error = %e, "asking the partner networks about pending payments");
            }
        }
    });
}

/// Resolve what fell due, every second, on every instance (each deadline resolves once whoever runs it).
fn spawn_deadlines(platform: Arc<platform::Platform>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(DEADLINES_PERIOD_MS));
        loop {
            tick.tick().await;
            if let Err(e) = platform.run_deadlines().await {
                tracing::error!(error = %e, "resolving deadlines");
            }
        }
    });
}

/// Every second: say this instance is alive (the merchant rate limit is shared among the live ones),
/// and forget cached merchant credentials another instance changed.
fn spawn_instance_tasks(state: Arc<server::AppState>) {
    let instance = config::random_hex(8).unwrap_or_else(|_| "instance".into());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(INSTANCE_TICK_MS));
        let mut since = state.platform.now_ms();
        loop {
            tick.tick().await;
            match state.platform.merchants.heartbeat(&instance, 3 * INSTANCE_TICK_MS as i64).await {
                Ok(live) => state.merchant_rate.set_instances(u32::try_from(live).unwrap_or(1)),
                Err(e) => tracing::warn!(error = %e, "instance heartbeat"),
            }
            // A little overlap: changes committed around the last look are looked at again.
            let now = state.platform.now_ms();
            if let Err(e) = state.platform.merchants.forget_changed(since - 2 * INSTANCE_TICK_MS as i64).await {
                tracing::warn!(error = %e, "looking for changed merchants");
            } else {
                since = now;
            }
        }
    });
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}

/// Demo people: phone, name. Password `qianbao-demo`, payment PIN 135790, 1000.00 CNY each.
const DEMO_PEOPLE: &[(&str, &str)] = &[("+8613800000001", "Alice"), ("+8613800000002", "Bob"), ("+8613800000003", "Carol")];
const DEMO_PASSWORD: &str = "qianbao-demo";

/// What the landing page says about the demo.
fn demo_page(network_url: Option<String>) -> server::web::DemoPage {
    let person = |phone: &str, name: &str, balance: &str| server::web::DemoPerson {
        name: name.into(),
        phone: phone.into(),
        balance: balance.into(),
    };
    let mut people: Vec<_> = DEMO_PEOPLE.iter().map(|(phone, name)| person(phone, name, "1000.00 CNY")).collect();
    people.push(person(demo_abroad::HK_PHONE, demo_abroad::HK_NAME, "2000.00 HKD"));
    server::web::DemoPage { people, mchid: DEMO_MCHID.into(), network_url }
}
const DEMO_PIN: &str = "135790";

async fn seed_demo_people(platform: &platform::Platform) -> Result<(), platform::PlatformError> {
    let mut ids = Vec::new();
    for (phone, name) in DEMO_PEOPLE {
        let person = match platform.people.register(phone, DEMO_PASSWORD, "CN", name).await {
            Ok(p) => p,
            Err(platform::PlatformError::Conflict { code: platform::Conflict::PhoneTaken, .. }) => {
                platform.people.person_by_phone(phone).await?
            }
            Err(e) => return Err(e),
        };
        if !person.pin_set {
            platform.people.set_pin(person.id, DEMO_PIN, None).await?;
        }
        let card = match platform.wallet.cards(person.id).await?.first() {
            Some(card) => card.id,
            None => platform.wallet.add_card(person.id, "4242424242424242", 12, 2099).await?.id,
        };
        // The first top-up's key is the person's: a restart finds it done.
        let top_up = platform::wallet::TopUp { card, amount: "1000.00", currency: "CNY", pin: Some(DEMO_PIN) };
        platform.wallet.top_up(person.id, top_up, Some("demo-top-up")).await?;
        ids.push(person.id);
    }
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            platform.social.request_friend(*a, *b).await?;
            platform.social.accept_friend(*b, *a).await?;
        }
    }
    if platform.social.groups(ids[0]).await?.is_empty() {
        platform.social.create_group(ids[0], "Family", &ids[1..]).await?;
    }
    Ok(())
}

/// The demo's operators (password `qianbao-demo`): `admin` (users and roles), `alex` (the day-to-day
/// operator: merchants, risk, finance, support) and `fiona` (finance, the second pair of eyes).
const DEMO_OPERATORS: [(&str, &[&str]); 2] = [("alex", &["operator", "risk", "finance", "support"]), ("fiona", &["finance"])];

/// Create the demo's operators once, and sign `alex` in: the session token the printed examples use.
async fn seed_demo_operators(platform: &platform::Platform) -> Result<String, platform::PlatformError> {
    use platform::operators::{Acting, parse_roles};
    let ops = &platform.operators;
    match ops.create_first_admin("admin", DEMO_PASSWORD, "demo").await {
        Ok(_) | Err(platform::PlatformError::Forbidden(_)) => {}
        Err(e) => return Err(e),
    }
    let admin = ops.by_name("admin").await?;
    for (name, roles) in DEMO_OPERATORS {
        let roles = parse_roles(&roles.iter().map(|r| r.to_string()).collect::<Vec<_>>())?;
        match ops.create(Acting { by: &admin, reason: "demo" }, name, DEMO_PASSWORD, roles).await {
            Ok(_) | Err(platform::PlatformError::Conflict { code: platform::Conflict::UsernameTaken, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ops.sign_in("alex", DEMO_PASSWORD, None, None).await?.0)
}

/// The demo merchant: WeChat's documented example mchid and appid, keys written to the data directory.
pub(crate) const DEMO_MCHID: &str = "1900000109";
const DEMO_APPID: &str = "wxd678efh567hg6787";

struct DemoMerchant {
    dir: std::path::PathBuf,
    serial: String,
    apiv3_key: String,
    public_key_id: String,
}

/// Onboard the demo merchant once; its private key, API certificate, APIv3 key and Qianbao's platform
/// certificate and public key are written under `<data_dir>/demo-merchant` for an SDK to use.
async fn seed_demo_merchant(platform: &platform::Platform, data_dir: &std::path::Path) -> Result<DemoMerchant, String> {
    let dir = data_dir.join("demo-merchant");
    let io = |e: std::io::Error| format!("demo merchant files in {}: {e}", dir.display());
    std::fs::create_dir_all(dir.join("platform-certificates")).map_err(io)?;
    let key_path = dir.join("apiclient_key.pem");
    let key = match std::fs::read_to_string(&key_path) {
        Ok(pem) => wxpay::SigningKey::from_pkcs8_pem(&pem).map_err(|e| e.to_string())?,
        Err(_) => {
            let key = wxpay::SigningKey::generate();
            write_private(&key_path, &key.to_pkcs8_pem()).map_err(io)?;
            key
        }
    };
    let serial_bytes: Vec<u8> =
        platform::crypto::sha256(key.public_key_spki_der().as_slice())[..20].iter().map(|b| b & 0x3f | 0x10).collect();
    let certificate = wxpay::certificate(&key, &serial_bytes, "Qianbao demo merchant", 1_700_000_000, 4_102_444_800);
    let certificate_pem = wxpay::pem_encode("CERTIFICATE", &certificate);
    std::fs::write(dir.join("apiclient_cert.pem"), &certificate_pem).map_err(io)?;
    let apiv3_path = dir.join("apiv3_key");
    let apiv3_key = match platform.merchants.merchant(DEMO_MCHID).await {
        Ok(_) => std::fs::read_to_string(&apiv3_path).map_err(io)?.trim().to_string(),
        Err(_) => {
            let setup = platform::merchants::MerchantSetup {
                mchid: Some(DEMO_MCHID.into()),
                kind: "direct".into(),
                parent_mchid: None,
                name: "Qianbao Demo Shop".into(),
                mcc: "5411".into(),
                country: "CN".into(),
                settlement_currency: "CNY".into(),
                fee_bps: 60,
                settlement_account: "6222020000000000000".into(),
                public_key_mode: true, // as the printed SDK lines configure it (WeChat's mode for new merchants)
                licence: None,
            };
            let (_, apiv3_key) = platform.merchants.onboard(setup).await.map_err(|e| format!("demo merchant: {e}"))?;
            write_private(&apiv3_path, &apiv3_key).map_err(io)?;
            platform
                .merchants
                .register_app(DEMO_MCHID, DEMO_APPID, "mini_program", "Qianbao Demo Mini Program", None)
                .await
                .map_err(|e| e.to_string())?;
            apiv3_key
        }
    };
    // The console's two roles, signed in at /merchant with the demo password (kept from an earlier run).
    for (username, role) in [("owner", platform::merchants::MerchantRole::Owner), ("cashier", platform::merchants::MerchantRole::Cashier)] {
        match platform.merchants.create_user(DEMO_MCHID, username, DEMO_PASSWORD, role, None).await {
            Ok(_) | Err(platform::PlatformError::Conflict { code: platform::Conflict::UsernameTaken, .. }) => {}
            Err(e) => return Err(format!("demo console user: {e}")),
        }
    }
    let serial = match platform.merchants.register_key(DEMO_MCHID, &certificate_pem, None).await {
        Ok(serial) => serial,
        Err(platform::PlatformError::Conflict { .. }) => serial_bytes.iter().map(|b| format!("{b:02X}")).collect(),
        Err(e) => return Err(e.to_string()),
    };
    let keys = platform.merchants.platform_keys().await.map_err(|e| e.to_string())?;
    for k in &keys.certificates {
        let pem = wxpay::pem_encode("CERTIFICATE", k.certificate.as_deref().unwrap_or_default());
        std::fs::write(dir.join("platform-certificates").join(format!("{}.pem", k.serial)), pem).map_err(io)?;
    }
    std::fs::write(dir.join("wechatpay_public_key.pem"), keys.public_key.key.public_key_pem()).map_err(io)?;
    std::fs::write(dir.join("wechatpay_public_key_id"), &keys.public_key.serial).map_err(io)?;
    Ok(DemoMerchant { dir, serial, apiv3_key, public_key_id: keys.public_key.serial.clone() })
}

/// A file only its owner may read (private keys, the APIv3 key).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    std::io::Write::write_all(&mut file, text.as_bytes())
}

fn print_demo_merchant(address: std::net::SocketAddr, m: &DemoMerchant) {
    let dir = m.dir.display();
    println!(
        "Demo merchant (WeChat Pay API v3 compatible) at http://{address}/v3/...\n  \
         mchid {DEMO_MCHID}, appid {DEMO_APPID}, API key serial {serial}, APIv3 key {apiv3}\n  \
         merchant private key {dir}/apiclient_key.pem; Qianbao public key {dir}/wechatpay_public_key.pem (id {pk})\n\n\
         Python (pip install wechatpayv3):\n  \
         from wechatpayv3 import WeChatPay, WeChatPayType\n  \
         pay = WeChatPay(WeChatPayType.NATIVE, '{DEMO_MCHID}', open('{dir}/apiclient_key.pem').read(), '{serial}', '{DEMO_APPID}', '{apiv3}',\n      \
         notify_url='http://{address}/sandbox/inbox/{DEMO_MCHID}', public_key=open('{dir}/wechatpay_public_key.pem').read(), public_key_id='{pk}')\n  \
         pay._core._gate_way = 'http://{address}'\n  \
         print(pay.pay(description='demo', out_trade_no='demo0001', amount={{'total': 100}}))\n\n\
         Its notifications, verified and decrypted: http://{address}/sandbox/inbox/{DEMO_MCHID}\n\
         Its console (orders, refunds, bills, sales): http://{address}/merchant, mchid {DEMO_MCHID}, users owner and cashier, password qianbao-demo\n\
         This page in a browser: http://{address}/\n",
        serial = m.serial,
        apiv3 = m.apiv3_key,
        pk = m.public_key_id,
    );
}

fn print_demo(address: std::net::SocketAddr, config: &Config, token: &str) {
    println!(
        "\nQianbao demo is running at http://{address}\n\
         Data: {data}   Bootstrap token (creates the first admin only): {data}/admin-token\n\
         Operators: admin (admin), alex (operator, risk, finance, support), fiona (finance), password qianbao-demo.\n\
         alex is signed in for the examples (the session lasts 10 h; POST /admin/api/sessions for a new one):\n  \
         OPS={token}\n\
         Metrics: http://{address}/metrics\n\n\
         Wallets: Alice +8613800000001, Bob +8613800000002, Carol +8613800000003 (password qianbao-demo, PIN 135790),\n\
         1000.00 CNY each, all friends, in the group Family. Sign in as Alice and keep her session token:\n  \
         ALICE=$(curl -s -d '{{\"phone\":\"+8613800000001\",\"password\":\"qianbao-demo\"}}' http://{address}/api/v1/sessions | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')\n\
         Find Bob and send him 12.34 CNY (he has 24 h to accept):\n  \
         BOB=$(curl -s -H \"Authorization: Bearer $ALICE\" http://{address}/api/v1/friends | sed 's/.*\"person_id\":\"\\([0-9]*\\)\",\"display_name\":\"Bob\".*/\\1/')\n  \
         curl -s -H \"Authorization: Bearer $ALICE\" -H 'Idempotency-Key: demo-1' -d \"{{\\\"to_person_id\\\":\\\"$BOB\\\",\\\"amount\\\":\\\"12.34\\\",\\\"currency\\\":\\\"CNY\\\",\\\"pin\\\":\\\"135790\\\"}}\" http://{address}/api/v1/transfers\n\
         Alice's balances:\n  \
         curl -s -H \"Authorization: Bearer $ALICE\" http://{address}/api/v1/wallet\n",
        data = config.data_dir.display()
    );
}
