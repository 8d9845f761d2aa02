//! The `qianbao` binary: `serve`, `migrate`, ledger operator commands, benchmarks.

mod bench;
mod bench_merchant;
mod bench_wallet;
mod config;

use clap::{Parser, Subcommand};
use config::Config;
use ledger::{AccountFlags, NewAccount, NewTransfer, TransferFlags};
use money::Currency;
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
    Store::open(&url).map_err(|e| format!("opening {}: {e}", url.redacted()))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
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
                    println!("{}", serde_json::to_string_pretty(&server::AccountOut::from(account)).expect("serialisable"));
                }
                LedgerCommand::Transfer { id } => {
                    let (t, p) = store.transfer(id).map_err(|e| e.to_string())?.ok_or(format!("no transfer {id}"))?;
                    println!("{}", serde_json::to_string_pretty(&server::TransferOut::new(t, p)).expect("serialisable"));
                }
            }
        }
        Command::Bench { command: BenchCommand::Ledger(args) } => bench::run(&args)?,
        Command::Bench { command: BenchCommand::Wallet(args) } => bench_wallet::run(&args)?,
        Command::Bench { command: BenchCommand::Merchant(args) } => bench_merchant::run(&args)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Connections the platform's pool opens at most.
const DB_CONNECTIONS_MAX: usize = 16;
/// How often each instance resolves what fell due (red packet refunds, pending top-ups ...).
const DEADLINES_PERIOD_MS: u64 = 1_000;

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
        if demo {
            seed_demo(&committer).await?;
        }
        let rail = Arc::new(platform::SandboxRail::new(clock.clone(), config.sandbox_confirm_after_ms));
        let mut platform_config =
            platform::PlatformConfig { password_memory_kib: config.password_memory_kib, ..platform::PlatformConfig::default() };
        platform_config.red_packets.shares_max = config.red_packet_shares_max;
        platform_config.no_pin_threshold_minor = config.no_pin_threshold_minor;
        platform_config.group_members_max = config.group_members_max;
        platform_config.public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{}", config.listen));
        let platform = Arc::new(
            platform::Platform::start(store.clone(), db, committer.clone(), clock, platform_config, rail, secret)
                .await
                .map_err(|e| e.to_string())?,
        );
        let worker = platform.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(DEADLINES_PERIOD_MS));
            loop {
                tick.tick().await;
                if let Err(e) = worker.run_deadlines().await {
                    tracing::error!(error = %e, "resolving deadlines");
                }
            }
        });
        let server_metrics = Arc::new(server::server_metrics::ServerMetrics::default());
        // The demo delivers to whatever the developer runs locally.
        server::notify::spawn(platform.clone(), server_metrics.clone(), config.notify_private_addresses || demo);
        let demo_merchant = if demo {
            seed_demo_people(&platform).await.map_err(|e| format!("demo people: {e}"))?;
            Some(seed_demo_merchant(&platform, &config.data_dir).await?)
        } else {
            None
        };
        let state = Arc::new(server::AppState {
            store: store.clone(),
            committer,
            platform,
            admin_token: admin_token.clone(),
            manual_clock,
            nonces: Default::default(),
            merchant_rate: server::merchant_api::RateLimiter::new(config.merchant_requests_per_s_max),
            metrics: server_metrics,
        });
        let listener = tokio::net::TcpListener::bind(&config.listen).await.map_err(|e| format!("listening on {}: {e}", config.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%address, "qianbao listening");
        if let Some(merchant) = demo_merchant {
            print_demo(address, &config, &admin_token);
            print_demo_merchant(address, &merchant);
        }
        axum::serve(listener, server::router(state)).with_graceful_shutdown(shutdown_signal()).await.map_err(|e| e.to_string())
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}

/// Demo ledger: a card rail and two funded CNY wallets. Idempotent: a restart answers `exists`.
const DEMO_RAIL: u128 = 1;
const DEMO_ALICE: u128 = 2;
const DEMO_BOB: u128 = 3;

async fn seed_demo(committer: &store::Committer) -> Result<(), String> {
    let cny = Currency::from_code("CNY").expect("CNY");
    let wallet = |id| NewAccount { id, currency: cny, code: 1, flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS, user_data: 0 };
    let accounts = vec![
        NewAccount { id: DEMO_RAIL, currency: cny, code: 2, flags: AccountFlags::empty(), user_data: 0 },
        wallet(DEMO_ALICE),
        wallet(DEMO_BOB),
    ];
    let results = committer.create_accounts(accounts).await.map_err(|e| e.to_string())?;
    if let Some(e) = results.iter().find_map(|r| r.err()) {
        return Err(format!("demo accounts: {}", e.code()));
    }
    let top_up = |id, to| NewTransfer {
        id,
        debit_account_id: DEMO_RAIL,
        credit_account_id: to,
        amount: 100_000,
        pending_id: 0,
        currency: Some(cny),
        code: 1,
        flags: TransferFlags::empty(),
        timeout_s: 0,
        user_data: 0,
    };
    let results = committer.create_transfers(vec![top_up(1, DEMO_ALICE), top_up(2, DEMO_BOB)]).await.map_err(|e| e.to_string())?;
    if let Some(e) = results.iter().find_map(|r| r.err()) {
        return Err(format!("demo top-ups: {}", e.code()));
    }
    Ok(())
}

/// Demo people: phone, name. Password `qianbao-demo`, payment PIN 135790, 1000.00 CNY each.
const DEMO_PEOPLE: &[(&str, &str)] = &[("+8613800000001", "Alice"), ("+8613800000002", "Bob"), ("+8613800000003", "Carol")];
const DEMO_PASSWORD: &str = "qianbao-demo";
const DEMO_PIN: &str = "135790";

async fn seed_demo_people(platform: &platform::Platform) -> Result<(), platform::PlatformError> {
    let mut ids = Vec::new();
    for (phone, name) in DEMO_PEOPLE {
        let person = match platform.register(phone, DEMO_PASSWORD, "CN", name).await {
            Ok(p) => p,
            Err(platform::PlatformError::Conflict { code: "PHONE_TAKEN", .. }) => platform.person_by_phone(phone).await?,
            Err(e) => return Err(e),
        };
        if !person.pin_set {
            platform.set_pin(person.id, DEMO_PIN, None).await?;
        }
        if platform.balances(person.id).await?.iter().all(|b| b.available == "0.00") {
            let card = match platform.cards(person.id).await?.first() {
                Some(card) => card.id,
                None => platform.add_card(person.id, "4242424242424242", 12, 2099).await?.id,
            };
            platform.top_up(person.id, card, "1000.00", "CNY", Some(DEMO_PIN)).await?;
        }
        ids.push(person.id);
    }
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            platform.request_friend(*a, *b).await?;
            platform.accept_friend(*b, *a).await?;
        }
    }
    if platform.groups(ids[0]).await?.is_empty() {
        platform.create_group(ids[0], "Family", &ids[1..]).await?;
    }
    Ok(())
}

/// The demo merchant: WeChat's documented example mchid and appid, keys written to the data directory.
const DEMO_MCHID: &str = "1900000109";
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
        platform::Platform::crypto_sha256(key.public_key_spki_der().as_slice())[..20].iter().map(|b| b & 0x3f | 0x10).collect();
    let certificate = wxpay::certificate(&key, &serial_bytes, "Qianbao demo merchant", 1_700_000_000, 4_102_444_800);
    let certificate_pem = wxpay::pem_encode("CERTIFICATE", &certificate);
    std::fs::write(dir.join("apiclient_cert.pem"), &certificate_pem).map_err(io)?;
    let apiv3_path = dir.join("apiv3_key");
    let apiv3_key = match platform.merchant(DEMO_MCHID).await {
        Ok(_) => std::fs::read_to_string(&apiv3_path).map_err(io)?.trim().to_string(),
        Err(_) => {
            let setup = platform::MerchantSetup {
                mchid: Some(DEMO_MCHID.into()),
                kind: "direct".into(),
                parent_mchid: None,
                name: "Qianbao Demo Shop".into(),
                mcc: "5411".into(),
                country: "CN".into(),
                settlement_currency: "CNY".into(),
                fee_bps: 60,
                settlement_account: "6222020000000000000".into(),
                public_key_mode: false,
            };
            let (_, apiv3_key) = platform.onboard_merchant(setup).await.map_err(|e| format!("demo merchant: {e}"))?;
            write_private(&apiv3_path, &apiv3_key).map_err(io)?;
            platform.register_app(DEMO_MCHID, DEMO_APPID, "mini_program", "Qianbao Demo Mini Program").await.map_err(|e| e.to_string())?;
            apiv3_key
        }
    };
    let serial = match platform.register_merchant_key(DEMO_MCHID, &certificate_pem, None).await {
        Ok(serial) => serial,
        Err(platform::PlatformError::Conflict { .. }) => serial_bytes.iter().map(|b| format!("{b:02X}")).collect(),
        Err(e) => return Err(e.to_string()),
    };
    let keys = platform.platform_keys().await.map_err(|e| e.to_string())?;
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
         notify_url='https://merchant.example/notify', public_key=open('{dir}/wechatpay_public_key.pem').read(), public_key_id='{pk}')\n  \
         pay._core._gate_way = 'http://{address}'\n  \
         print(pay.pay(description='demo', out_trade_no='demo0001', amount={{'total': 100}}))\n",
        serial = m.serial,
        apiv3 = m.apiv3_key,
        pk = m.public_key_id,
    );
}

fn print_demo(address: std::net::SocketAddr, config: &Config, token: &str) {
    println!(
        "\nQianbao demo is running at http://{address}\n\
         Data: {data}   Operator token: {token} (also in {data}/admin-token)\n\
         Ledger accounts: 1 = card rail, 2 = Alice (1000.00 CNY), 3 = Bob (1000.00 CNY)\n\n\
         Move 12.34 CNY from Alice to Bob:\n  \
         curl -s -H 'Authorization: Bearer {token}' -d '[{{\"id\":\"1001\",\"debit_account_id\":\"2\",\"credit_account_id\":\"3\",\"amount\":1234,\"currency\":\"CNY\",\"code\":10}}]' http://{address}/admin/api/ledger/transfers\n\
         See Bob's account:\n  \
         curl -s -H 'Authorization: Bearer {token}' http://{address}/admin/api/ledger/accounts/3\n\
         Metrics: http://{address}/metrics\n\n\
         Wallets: Alice +8613800000001, Bob +8613800000002, Carol +8613800000003 (password qianbao-demo, PIN 135790),\n\
         1000.00 CNY each, all friends, in the group Family. Sign in as Alice:\n  \
         curl -s -d '{{\"phone\":\"+8613800000001\",\"password\":\"qianbao-demo\"}}' http://{address}/api/v1/sessions\n\
         then: curl -s -H 'Authorization: Bearer <token>' http://{address}/api/v1/me\n",
        data = config.data_dir.display()
    );
}
