//! A merchant's unmodified SDKs against Qianbao. The real PyPI `wechatpayv3` (pinned below) drives
//! Native pay → a wallet pays → the callback verified and decrypted by the SDK's own `callback()` →
//! query → partial refund → refund callback → refund query → close (`tests/sdk/wechatpayv3_flow.py`),
//! in public-key mode and in certificate mode; the real npm `wechatpay-node-v3` does the same in its own
//! way (`tests/sdk/wechatpay_node_flow.js`: it downloads `/v3/certificates` to verify callbacks); both
//! also drive a cross-border flow on the global API (`*_global_flow.*`: HKD order, CNY wallet); on
//! SQLite and (when QIANBAO_TEST_DATABASE_URL is set) PostgreSQL.
//!
//! The SDK lives in a virtualenv: `QIANBAO_TEST_PYTHON` names its interpreter, or the test makes one
//! under the cargo target directory the first time (`python3 -m venv` + `pip install`), so
//! `cargo test` alone runs it on a fresh machine with Python 3 and the package registry. The Node SDK is
//! installed with npm the same way (or `QIANBAO_TEST_NODE_SDK` names a directory that has it).

use crate::support::merchant::*;
use crate::support::*;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

const SDK: &str = "wechatpayv3==2.0.4";
const NODE_SDK: &str = "wechatpay-node-v3@2.2.1";

/// A directory with the Node SDK installed (made once per test run with npm), or `QIANBAO_TEST_NODE_SDK`.
fn node_sdk() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("QIANBAO_TEST_NODE_SDK").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wechatpay-node");
        if !dir.join("node_modules/wechatpay-node-v3/package.json").exists() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("package.json"), r#"{"name":"qianbao-sdk-test","private":true}"#).unwrap();
            let installed = Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", NODE_SDK])
                .current_dir(&dir)
                .status()
                .expect("npm is installed");
            assert!(installed.success(), "npm install {NODE_SDK}");
        }
        dir
    })
    .clone()
}

/// The interpreter of a virtualenv with the SDK (made once per test run).
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("QIANBAO_TEST_PYTHON").filter(|p| !p.is_empty()) {
                return PathBuf::from(p);
            }
            let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wechatpayv3-venv");
            let python = venv.join("bin/python");
            let ready = Command::new(&python).args(["-c", "import wechatpayv3"]).output().is_ok_and(|o| o.status.success());
            if !ready {
                let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 is installed");
                assert!(made.success(), "python3 -m venv {}", venv.display());
                let installed =
                    Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", SDK]).status().unwrap();
                assert!(installed.success(), "pip install {SDK}");
            }
            python
        })
        .clone()
}

fn sdk_flow(env: Env, mode: &str) {
    let node = mode.starts_with("node");
    let global = mode.ends_with("global");
    let python = if node { PathBuf::new() } else { python() };
    let server = env.serve_with(&[], WALLET_ENV);
    let merchant = if global {
        // A Hong Kong merchant pricing in HKD; the payer's wallet is in CNY at 1 HKD = 0.9200 CNY.
        let rate = r#"{"base":"HKD","quote":"CNY","rate":"0.9200","source":"desk"}"#;
        assert_eq!(operator_request(server.port, "PUT", "/admin/api/fx/rates", Some(rate)).status, 200);
        TestMerchant::onboard_in(server.port, 60, "direct", "HK", "HKD")
    } else {
        TestMerchant::onboard(server.port, 60)
    };
    let key_file = env.data_dir.join("apiclient_key.pem");
    std::fs::write(&key_file, merchant.key.to_pkcs8_pem()).unwrap();
    let keys = get(server.port, "/admin/api/platform-keys").json();
    let public_key_file = env.data_dir.join("wechatpay_public_key.pem");
    std::fs::write(&public_key_file, keys["public_key"]["public_key_pem"].as_str().unwrap()).unwrap();
    let cert_dir = env.data_dir.join("platform-certificates");
    std::fs::create_dir_all(&cert_dir).unwrap();
    for c in keys["certificates"].as_array().unwrap() {
        std::fs::write(cert_dir.join(format!("{}.pem", c["serial_no"].as_str().unwrap())), c["certificate_pem"].as_str().unwrap()).unwrap();
    }
    let payer = Wallet::register(server.port, &format!("+8613700{}", server.port), "SDK payer");
    payer.set_pin("135790");
    payer.top_up("100.00", "135790");

    let merchant_public_key = env.data_dir.join("apiclient_public_key.pem");
    std::fs::write(&merchant_public_key, merchant.key.public_key_pem()).unwrap();
    let script = |name: &str| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk").join(name);
    let mut command = if node {
        let mut c = Command::new("node");
        c.arg(script(if global { "wechatpay_node_global_flow.js" } else { "wechatpay_node_flow.js" }));
        c.env("NODE_PATH", node_sdk().join("node_modules")).env("PUBLIC_KEY_FILE", &merchant_public_key);
        c
    } else {
        let mut c = Command::new(python);
        c.arg(script(if global { "wechatpayv3_global_flow.py" } else { "wechatpayv3_flow.py" }));
        c.env("PUBLIC_KEY_FILE", &public_key_file);
        c
    };
    let out = command
        .env("GATEWAY", format!("http://127.0.0.1:{}", server.port))
        .env("MODE", if global { "public_key" } else { mode })
        .env("MCHID", &merchant.mchid)
        .env("SERIAL", &merchant.serial)
        .env("APPID", &merchant.appid)
        .env("APIV3_KEY", &merchant.apiv3_key)
        .env("KEY_FILE", &key_file)
        .env("PUBLIC_KEY_ID", keys["public_key"]["public_key_id"].as_str().unwrap())
        .env("CERT_DIR", &cert_dir)
        .env("WALLET_TOKEN", &payer.token)
        .env("WALLET_PIN", "135790")
        .output()
        .expect("the SDK flow runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("SDK FLOW OK"), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let expected = match (node, global) {
        (_, true) => "35.28",      // paid 92.46 CNY for 100.00 HKD, 27.74 CNY back for 30.00 HKD
        (true, false) => "95.23",  // paid 7.77, 3.00 refunded
        (false, false) => "94.12", // paid 8.88, 3.00 refunded
    };
    assert_eq!(payer.available("CNY"), expected);
}

macro_rules! both_backends {
    ($($name:ident: $mode:literal),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::sdk_flow(super::Env::sqlite(stringify!($name)), $mode); })*
        }
        mod postgres {
            $(#[test] fn $name() {
                match super::Env::postgres(stringify!($name)) {
                    Some(env) => super::sdk_flow(env, $mode),
                    None => eprintln!("QIANBAO_TEST_DATABASE_URL not set: PostgreSQL run of {} skipped", stringify!($name)),
                }
            })*
        }
    };
}

both_backends!(
    the_wechatpayv3_sdk_pays_is_notified_queries_and_refunds_in_public_key_mode: "public_key",
    the_wechatpayv3_sdk_pays_is_notified_queries_and_refunds_in_certificate_mode: "certificate",
    the_node_wechatpay_sdk_pays_is_notified_queries_and_refunds: "node",
    the_wechatpayv3_sdk_drives_a_cross_border_order_refund_and_settlement_query_on_the_global_api: "python_global",
    the_node_wechatpay_sdk_drives_a_cross_border_order_refund_and_settlement_query_on_the_global_api: "node_global",
);
