//! The web wallet in a real browser: headless Chromium driven through ChromeDriver (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs), at a phone's width, as its users use it.

use crate::support::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium and ChromeDriver from Debian's packages, installed the first time (as the SDK tests install
/// their SDKs), once per test run.
fn installed() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    let present = || std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists();
    INSTALL.call_once(|| {
        if !present() {
            let _ = Command::new("apt-get")
                .args(["install", "-y", "-q", "chromium", "chromium-driver"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
        }
    });
    assert!(present(), "browser tests need Chromium and ChromeDriver: apt-get install chromium chromium-driver (bash .ci/run does)");
}

fn driver() -> Driver {
    installed();
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    // Ready once it accepts connections (it keeps them alive, so no read-to-close request here).
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not answer within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, port }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=375,812", "--lang=en-US"];
    caps.insert("goog:chromeOptions".into(), serde_json::json!({"binary": CHROMIUM, "args": args}));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

/// axe-core (the accessibility rules engine), from npm, installed once per test run.
const AXE: &str = "axe-core@4.10.2";

fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("axe");
        let script = dir.join("node_modules/axe-core/axe.min.js");
        if !script.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("package.json"), r#"{"name":"qianbao-axe","private":true}"#).unwrap();
            let installed = Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", AXE])
                .current_dir(&dir)
                .status()
                .expect("npm is installed");
            assert!(installed.success(), "npm install {AXE}");
        }
        std::fs::read_to_string(script).unwrap()
    })
}

/// No serious or critical accessibility violation on the page as it is now (WCAG 2 A and AA rules).
async fn accessible(c: &Client, what: &str) {
    c.execute(axe_source(), vec![]).await.expect("axe loads");
    let check = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => done(r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))));
    "#;
    let violations = c.execute_async(check, vec![]).await.expect("axe runs");
    assert_eq!(violations, serde_json::json!([]), "{what}: accessibility violations");
}

/// The page as the browser shows it, kept under `target/screenshots/` (the README's pictures come from here).
async fn screenshot(c: &Client, name: &str) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), c.screenshot().await.unwrap()).unwrap();
}

/// The text of the element `css` selects once it contains `needle` (within ten seconds: a submitted
/// form's next page may not have replaced the current one yet, and an element of the page going away
/// is looked up again); the last text seen when it never does.
async fn text_with(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = c.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

/// Whether the element `css` selects comes to contain `needle`.
async fn shows(c: &Client, css: &str, needle: &str) -> bool {
    text_with(c, css, needle).await.contains(needle)
}

async fn sign_in(c: &Client, port: u16, phone: &str) {
    sign_in_with(c, port, phone, "qianbao-demo").await;
}

async fn sign_in_with(c: &Client, port: u16, phone: &str, password: &str) {
    c.goto(&format!("http://127.0.0.1:{port}/wallet/sign-in?lang=en")).await.unwrap();
    c.find(Locator::Css("input[name=phone]")).await.unwrap().send_keys(phone).await.unwrap();
    c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys(password).await.unwrap();
    c.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#balances")).await.expect("the wallet's home page");
}

#[test]
fn a_person_pays_a_friend_in_the_web_wallet_and_the_friend_accepts() {
    let env = Env::sqlite("browser_transfer");
    let server = env.serve_with(&["--demo"], WALLET_ENV);
    let driver = driver();
    let port = server.port;
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let c = browser(&driver).await;
        // The landing page leads to the wallet.
        c.goto(&format!("http://127.0.0.1:{port}/?lang=en")).await.unwrap();
        assert!(shows(&c, "#demo", "+8613800000001").await);
        screenshot(&c, "landing").await;
        accessible(&c, "the landing page").await;
        sign_in(&c, port, "+8613800000001").await;
        assert!(shows(&c, "#balances", "1000.00 CNY").await, "Alice starts with 1000.00 CNY");
        screenshot(&c, "wallet-home").await;
        accessible(&c, "the wallet's home").await;
        let send = c.find(Locator::Css("#send")).await.unwrap();
        send.find(Locator::Css("select[name=to]")).await.unwrap().select_by_label("Bob").await.unwrap();
        send.find(Locator::Css("input[name=amount]")).await.unwrap().send_keys("12.34").await.unwrap();
        send.find(Locator::Css("input[name=note]")).await.unwrap().send_keys("noodles").await.unwrap();
        send.find(Locator::Css("input[name=pin]")).await.unwrap().send_keys("135790").await.unwrap();
        send.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, ".notice", "Sent").await, "the page says it was sent");
        assert!(shows(&c, "#balances", "987.66 CNY").await, "held from Alice's balance");
        c.find(Locator::Css("#sign-out")).await.unwrap().click().await.unwrap();
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#sign-in")).await.expect("signed out");

        sign_in(&c, port, "+8613800000002").await;
        let incoming = text_with(&c, "#incoming", "12.34 CNY").await;
        assert!(incoming.contains("Alice") && incoming.contains("12.34 CNY"), "Bob sees Alice's transfer: {incoming}");
        accessible(&c, "the wallet with money to accept").await;
        c.find(Locator::Css("#incoming button.accept")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, ".notice", "Accepted").await);
        assert!(shows(&c, "#balances", "1012.34 CNY").await, "the money is Bob's");
        assert!(shows(&c, "#history", "transfer_in").await);
        c.close().await.unwrap();
    });
}

async fn sign_out(c: &Client, port: u16) {
    c.goto(&format!("http://127.0.0.1:{port}/wallet?lang=en")).await.unwrap();
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#sign-out")).await.unwrap().click().await.unwrap();
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#sign-in")).await.expect("signed out");
}

/// Open the newest red packet waiting for the signed-in person; the share they got.
async fn open_newest_packet(c: &Client, port: u16) -> String {
    c.goto(&format!("http://127.0.0.1:{port}/wallet/red-packets?lang=en")).await.unwrap();
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#openable a")).await.unwrap().click().await.unwrap();
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#open button")).await.unwrap().click().await.unwrap();
    assert!(shows(c, ".notice", "Opened").await, "the page says it was opened");
    text_with(c, "#my-share", "CNY").await
}

#[test]
fn friends_make_a_group_and_three_members_open_its_red_packet() {
    let env = Env::sqlite("browser_red_packet");
    let server = env.serve_with(&["--demo"], WALLET_ENV);
    let driver = driver();
    let port = server.port;
    let dan = Wallet::register(port, "+8613900002001", "Dan");
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let c = browser(&driver).await;
        sign_in(&c, port, "+8613800000001").await;
        c.find(Locator::Css("#to-friends")).await.unwrap().click().await.unwrap();
        let add = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#add-friend")).await.unwrap();
        add.find(Locator::Css("input[name=phone]")).await.unwrap().send_keys("+8613900002001").await.unwrap();
        add.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, ".notice", "Asked").await);
        assert!(shows(&c, "#asked", "Dan").await, "Alice waits for Dan");
        sign_out(&c, port).await;

        sign_in_with(&c, port, "+8613900002001", "correct horse battery").await;
        c.goto(&format!("http://127.0.0.1:{port}/wallet/friends?lang=en")).await.unwrap();
        assert!(shows(&c, "#asking", "Alice").await, "Dan sees Alice's request");
        accessible(&c, "the friends page").await;
        c.find(Locator::Css("#asking button.accept")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, ".notice", "friends now").await);
        assert!(shows(&c, "#friends", "Alice").await);
        sign_out(&c, port).await;

        sign_in(&c, port, "+8613800000001").await;
        c.goto(&format!("http://127.0.0.1:{port}/wallet/friends?lang=en")).await.unwrap();
        let group = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#create-group")).await.unwrap();
        group.find(Locator::Css("input[name=name]")).await.unwrap().send_keys("Lunch").await.unwrap();
        for name in ["Bob", "Carol", "Dan"] {
            let tick = format!("//form[@id='create-group']//label[contains(., '{name}')]/input");
            c.find(Locator::XPath(&tick)).await.unwrap().click().await.unwrap();
        }
        c.find(Locator::Css("#create-group button")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#groups", "Lunch").await, "the group is made");
        let groups = text_with(&c, "#groups", "Dan").await;
        assert!(groups.contains("Bob") && groups.contains("Carol"), "{groups}");
        c.goto(&format!("http://127.0.0.1:{port}/wallet/red-packets?lang=en")).await.unwrap();
        let send = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#send-group")).await.unwrap();
        accessible(&c, "the red packets page").await;
        send.find(Locator::Css("select[name=group]")).await.unwrap().select_by_label("Lunch").await.unwrap();
        send.find(Locator::Css("input[name=amount]")).await.unwrap().send_keys("30.00").await.unwrap();
        send.find(Locator::Css("input[name=shares]")).await.unwrap().send_keys("3").await.unwrap();
        send.find(Locator::Css("input[name=title]")).await.unwrap().send_keys("Lunch is on me").await.unwrap();
        send.find(Locator::Css("input[name=pin]")).await.unwrap().send_keys("135790").await.unwrap();
        send.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, ".notice", "Sent").await);
        assert!(shows(&c, "#packet", "30.00 CNY").await);
        assert!(shows(&c, "#packet", "0/3").await, "nobody has opened it yet");
        sign_out(&c, port).await;

        let mut shares = Vec::new();
        for (phone, password) in
            [("+8613800000002", "qianbao-demo"), ("+8613800000003", "qianbao-demo"), ("+8613900002001", "correct horse battery")]
        {
            sign_in_with(&c, port, phone, password).await;
            shares.push(open_newest_packet(&c, port).await);
            if shares.len() < 3 {
                sign_out(&c, port).await;
            }
        }
        assert!(shows(&c, "#packet", "all opened").await, "three shares, three members");
        let claims = text_with(&c, "#claims", "Dan").await;
        assert!(claims.contains("Bob") && claims.contains("Carol"), "who got what: {claims}");
        assert!(shows(&c, "#claimed", "30.00 CNY").await, "the shares add up to the packet exactly");
        screenshot(&c, "wallet-red-packet").await;
        accessible(&c, "an opened red packet").await;
        let cents: i64 = shares
            .iter()
            .map(|s| {
                let amount = s.split_whitespace().find(|w| w.contains('.')).expect("an amount");
                amount.replace('.', "").parse::<i64>().unwrap()
            })
            .sum();
        assert_eq!(cents, 3_000, "each member's share as their page showed it: {shares:?}");
        // Dan's other pages: money out, the history (his share in it), the settings.
        for (path, shows_text) in
            [("/wallet/withdraw", "Bank accounts"), ("/wallet/history", "Red packet received"), ("/wallet/settings", "Identity")]
        {
            c.goto(&format!("http://127.0.0.1:{port}{path}?lang=en")).await.unwrap();
            assert!(shows(&c, "main", shows_text).await, "{path}");
            accessible(&c, path).await;
        }
        c.close().await.unwrap();
    });
    assert_ne!(dan.available("CNY"), "0.00", "Dan's share is in his balance");
}

#[test]
fn a_wrong_password_is_told_and_a_forged_form_changes_nothing() {
    let env = Env::sqlite("browser_refusals");
    let server = env.serve_with(&["--demo"], WALLET_ENV);
    let driver = driver();
    let port = server.port;
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let c = browser(&driver).await;
        c.goto(&format!("http://127.0.0.1:{port}/wallet/sign-in?lang=zh-HK")).await.unwrap();
        c.find(Locator::Css("input[name=phone]")).await.unwrap().send_keys("+8613800000001").await.unwrap();
        c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("not the password").await.unwrap();
        c.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, ".error", "手機號碼或密碼錯誤").await, "told in the language chosen");
        accessible(&c, "the sign-in page with its error").await;
        c.close().await.unwrap();
    });
    // A form posted from elsewhere (no CSRF token) moves no money.
    let session =
        request(port, "POST", "/api/v1/sessions", None, Some(r#"{"phone":"+8613800000001","password":"qianbao-demo"}"#)).unwrap().json();
    let token = session["token"].as_str().unwrap();
    let cookie = format!("qb_wallet={token}");
    let forged =
        request_with(port, "POST", "/wallet/transfers", None, Some("to=1&amount=1.00&currency=CNY&pin=135790"), &[("Cookie", &cookie)])
            .unwrap();
    assert_eq!(forged.status, 403, "{}", forged.body);
    let me = request(port, "GET", "/api/v1/wallet", Some(token), None).unwrap().json();
    assert_eq!(me[0]["available"], "1000.00");
}

#[test]
fn a_person_scans_a_merchants_code_and_pays_it_with_the_pin() {
    let env = Env::sqlite("browser_scan");
    let server = env.serve_with(&["--demo"], WALLET_ENV);
    let port = server.port;
    // The demo merchant's static code, as printed on its sticker (an EMV payload).
    let body = r#"{"appid":"wxd678efh567hg6787","description":"Noodles","notify_url":"https://merchant.example/notify"}"#;
    let code = post(port, "/admin/api/merchants/1900000109/static-codes", body);
    assert_eq!(code.status, 201, "{}", code.body);
    let emv = code.json()["emv"].as_str().expect("the demo merchant has a QR profile").to_string();
    let driver = driver();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let c = browser(&driver).await;
        sign_in(&c, port, "+8613800000001").await;
        c.find(Locator::Css("#to-scan")).await.unwrap().click().await.unwrap();
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#scan textarea")).await.unwrap().send_keys(&emv).await.unwrap();
        c.find(Locator::Css("#scan button")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#preview .merchant", "Qianbao Demo Shop").await, "the preview names the merchant");
        screenshot(&c, "wallet-scan-preview").await;
        accessible(&c, "the scan preview").await;
        let pay = c.find(Locator::Css("#pay")).await.unwrap();
        pay.find(Locator::Css("input[name=amount]")).await.unwrap().send_keys("25.00").await.unwrap();
        pay.find(Locator::Css("input[name=pin]")).await.unwrap().send_keys("135790").await.unwrap();
        pay.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        let paid = text_with(&c, "#paid", "SUCCESS").await;
        assert!(paid.contains("Paid") && paid.contains("25.00 CNY") && paid.contains("SUCCESS"), "{paid}");
        c.goto(&format!("http://127.0.0.1:{port}/wallet")).await.unwrap();
        assert!(shows(&c, "#balances", "975.00 CNY").await);
        c.find(Locator::Css("#to-code")).await.unwrap().click().await.unwrap();
        let digits = text_with(&c, "#code .digits", "13").await.replace(' ', "");
        assert!(digits.len() == 18 && digits.starts_with("13"), "an 18-digit mainland payment code: {digits}");
        assert!(c.find(Locator::Css("#code svg")).await.is_ok(), "drawn inline as a QR code");
        screenshot(&c, "wallet-payment-code").await;
        accessible(&c, "the payment code").await;
        // The shop's owner sees it paid in the merchant console and refunds it, after confirming.
        c.goto(&format!("http://127.0.0.1:{port}/merchant")).await.unwrap();
        let form = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("form[action='/merchant/sign-in']")).await.unwrap();
        accessible(&c, "the console's sign-in").await;
        form.find(Locator::Css("input[name=mchid]")).await.unwrap().send_keys("1900000109").await.unwrap();
        form.find(Locator::Css("input[name=username]")).await.unwrap().send_keys("owner").await.unwrap();
        form.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("qianbao-demo").await.unwrap();
        form.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
        let row = text_with(&c, "table.orders tbody tr", "25.00 CNY").await;
        assert!(row.contains("Paid"), "the console lists the payment as paid: {row}");
        screenshot(&c, "merchant-orders").await;
        accessible(&c, "the console's orders").await;
        c.find(Locator::Css("table.orders tbody tr a")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#order-state", "Paid").await);
        accessible(&c, "an order's timeline").await;
        c.find(Locator::Css("#refund")).await.unwrap().click().await.unwrap();
        let confirm = text_with(&c, "#confirm-text", "25.00 CNY").await;
        assert!(confirm.contains("25.00 CNY"), "the confirmation says what goes back: {confirm}");
        accessible(&c, "the refund confirmation").await;
        c.find(Locator::Css("#confirm-refund")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#order-refunded", "25.00 CNY").await, "the order shows the refund");
        assert!(shows(&c, "#timeline .refund", "25.00").await);
        screenshot(&c, "merchant-order-refunded").await;
        // The day's bills, for the owner.
        c.find(Locator::Css("#to-bills")).await.unwrap().click().await.unwrap();
        let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let today = &wxpay::time::format_rfc3339(now_s)[..10];
        c.goto(&format!("http://127.0.0.1:{port}/merchant/bills?day={today}")).await.unwrap();
        assert!(shows(&c, "#trade-bill", today).await, "the day's trade bill is offered");
        accessible(&c, "the console's bills").await;
        c.find(Locator::Css("#to-sales")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#sales-refunded", "25.00 CNY").await, "the day's sales count the refund");
        assert!(c.find(Locator::Css("#chart-hours svg")).await.is_ok(), "the hourly chart is drawn");
        screenshot(&c, "merchant-sales").await;
        accessible(&c, "the console's sales").await;
        c.find(Locator::Css("#to-keys")).await.unwrap().click().await.unwrap();
        let serials = text_with(&c, "#key-serials code", "").await;
        assert!(
            serials.len() >= 8 && serials.bytes().all(|b| b.is_ascii_hexdigit()),
            "the demo merchant's key serial is listed: {serials:?}"
        );
        accessible(&c, "the console's API keys").await;
        // The delivery log holds the payment's and the refund's notifications; the static code prints.
        c.find(Locator::Css("#to-notifications")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#notifications", "REFUND.SUCCESS").await, "the delivery log lists the refund's notification");
        accessible(&c, "the console's delivery log").await;
        c.find(Locator::Css("#to-codes")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#codes", "Noodles").await);
        c.find(Locator::Css("#codes a.sticker")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#sticker", "Qianbao Demo Shop").await, "the sticker names the shop");
        screenshot(&c, "merchant-sticker").await;
        accessible(&c, "a static code's sticker").await;
        // The payer has the money back.
        c.goto(&format!("http://127.0.0.1:{port}/wallet")).await.unwrap();
        assert!(shows(&c, "#balances", "1000.00 CNY").await, "the wallet shows the refund");
        c.close().await.unwrap();
    });
}

#[test]
fn a_newcomer_creates_a_wallet_and_lands_signed_in() {
    let env = Env::sqlite("browser_register");
    let server = env.serve_with(&[], WALLET_ENV);
    let driver = driver();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let c = browser(&driver).await;
        c.goto(&format!("http://127.0.0.1:{}/wallet?lang=zh-CN", server.port)).await.unwrap();
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#to-register")).await.unwrap().click().await.unwrap();
        let form = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("form")).await.unwrap();
        accessible(&c, "the register page").await;
        form.find(Locator::Css("input[name=name]")).await.unwrap().send_keys("小明").await.unwrap();
        form.find(Locator::Css("input[name=phone]")).await.unwrap().send_keys("+8613900001234").await.unwrap();
        form.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("correct horse battery").await.unwrap();
        form.find(Locator::Css("#register")).await.unwrap().click().await.unwrap();
        let heading = text_with(&c, "h1", "小明").await;
        assert!(heading.contains("你好") && heading.contains("小明"), "signed in, in the language chosen: {heading}");
        // Money in: the PIN first, a card, then a top-up.
        c.find(Locator::Css("#to-money")).await.unwrap().click().await.unwrap();
        let pin = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#set-pin")).await.unwrap();
        pin.find(Locator::Css("input[name=pin]")).await.unwrap().send_keys("246810").await.unwrap();
        pin.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, ".notice", "支付密码已设置").await);
        let card = c.find(Locator::Css("#add-card")).await.unwrap();
        card.find(Locator::Css("input[name=number]")).await.unwrap().send_keys("4242 4242 4242 4242").await.unwrap();
        card.find(Locator::Css("input[name=exp_month]")).await.unwrap().send_keys("12").await.unwrap();
        card.find(Locator::Css("input[name=exp_year]")).await.unwrap().send_keys("2099").await.unwrap();
        card.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#cards", "4242").await, "the card is linked (its last four digits only)");
        accessible(&c, "the money page").await;
        let top_up = c.find(Locator::Css("#top-up")).await.unwrap();
        top_up.find(Locator::Css("input[name=amount]")).await.unwrap().send_keys("100.00").await.unwrap();
        top_up.find(Locator::Css("input[name=pin]")).await.unwrap().send_keys("246810").await.unwrap();
        top_up.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, ".notice", "充值成功").await);
        assert!(shows(&c, "#balances", "100.00 CNY").await, "the money is in the new wallet");
        c.close().await.unwrap();
    });
}

#[test]
fn an_operator_onboards_a_merchant_and_verifies_a_persons_identity_in_the_console() {
    let env = Env::sqlite("browser_ops_onboard");
    let server = env.serve_with(&["--demo"], WALLET_ENV);
    let driver = driver();
    let port = server.port;
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let c = browser(&driver).await;
        // Bob gives his identity in the wallet's settings: tier 1, waiting for an operator's check.
        sign_in(&c, port, "+8613800000002").await;
        c.find(Locator::Css("#to-settings")).await.unwrap().click().await.unwrap();
        let kyc = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#kyc")).await.unwrap();
        kyc.find(Locator::Css("input[name=legal_name]")).await.unwrap().send_keys("Bob Chen").await.unwrap();
        kyc.find(Locator::Css("select[name=document_type]")).await.unwrap().select_by_value("passport").await.unwrap();
        kyc.find(Locator::Css("input[name=document_number]")).await.unwrap().send_keys("E12345678").await.unwrap();
        kyc.find(Locator::Css("button")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, ".notice", "Submitted").await);
        assert!(shows(&c, "#kyc-tier", "1").await);
        sign_out(&c, port).await;

        // alex (operator and risk among his roles) onboards a merchant, then verifies Bob.
        c.goto(&format!("http://127.0.0.1:{port}/ops/sign-in?lang=en")).await.unwrap();
        c.find(Locator::Css("input[name=username]")).await.unwrap().send_keys("alex").await.unwrap();
        c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("qianbao-demo").await.unwrap();
        c.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#to-merchants")).await.unwrap().click().await.unwrap();
        let form = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#onboard")).await.unwrap();
        accessible(&c, "the onboarding form").await;
        for (name, value) in [
            ("name", "Noodle House"),
            ("mcc", "5812"),
            ("country", "CN"),
            ("fee_bps", "60"),
            ("settlement_account", "ICBC 6222 0000 1111"),
            ("reason", "signed contract 2026-118"),
        ] {
            form.find(Locator::Css(&format!("input[name={name}]"))).await.unwrap().send_keys(value).await.unwrap();
        }
        form.find(Locator::Css("select[name=settlement_currency]")).await.unwrap().select_by_label("CNY").await.unwrap();
        form.find(Locator::Css("#onboard-merchant")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#confirm-text", "Noodle House").await, "the confirmation says what will be made");
        c.find(Locator::Css("#confirm-onboard")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#made", "Onboarded").await);
        let mchid = text_with(&c, "#made-mchid", "").await;
        let key = text_with(&c, "#made-key", "").await;
        assert_eq!(key.len(), 32, "the APIv3 key, shown once");
        accessible(&c, "a merchant onboarded").await;

        c.find(Locator::Css("#to-kyc")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#kyc-queue", "Bob Chen").await, "Bob waits in the queue");
        accessible(&c, "the KYC queue").await;
        c.find(Locator::Css("#kyc-queue a.review")).await.unwrap().click().await.unwrap();
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#tier")).await.unwrap().select_by_value("2").await.unwrap();
        c.find(Locator::Css("#tier-reason")).await.unwrap().send_keys("passport checked at the branch").await.unwrap();
        c.find(Locator::Css("#set-tier")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#confirm-text", "1 → 2").await);
        c.find(Locator::Css("#confirm-tier")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#kyc-tier", "2").await, "Bob is verified");
        c.find(Locator::Css("#to-kyc")).await.unwrap().click().await.unwrap();
        let queue = text_with(&c, "#kyc-queue", "Nothing here").await;
        assert!(queue.contains("Nothing here") && !queue.contains("Bob Chen"), "the queue is empty of him now: {queue}");
        c.find(Locator::Css("#to-operations")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#platform-keys", "signing").await, "the platform's signing keys");
        accessible(&c, "the operations page").await;
        c.find(Locator::Css("#to-reviews")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#reviews", "Nothing is held").await);
        accessible(&c, "the review queue").await;
        c.close().await.unwrap();
        let merchant = get(port, &format!("/admin/api/merchants/{mchid}")).json();
        assert_eq!(merchant["name"], "Noodle House", "{merchant}");
    });
    let log = get(port, "/admin/api/audit?limit=20").json();
    let onboarded = log.as_array().unwrap().iter().find(|e| e["action"] == "merchants.onboard").expect("onboarding is audited");
    assert_eq!((onboarded["actor"].as_str(), onboarded["reason"].as_str()), (Some("operator:alex"), Some("signed contract 2026-118")));
}

#[test]
fn a_second_operator_approves_a_markup_change_in_the_operator_console() {
    let env = Env::sqlite("browser_ops");
    let server = env.serve_with(&["--demo"], WALLET_ENV);
    let driver = driver();
    let port = server.port;
    // alex (finance among his roles) asks; fiona, the demo's second finance operator, decides.
    let alex = sign_in_operator(port, "alex", "qianbao-demo").expect("the demo's operator");
    let markup = r#"{"base":"HKD","quote":"CNY","channel":"payment","markup_bps":75}"#;
    let asked =
        request_with(port, "PUT", "/admin/api/fx/markups", Some(&alex), Some(markup), &[("Qianbao-Reason", "quarterly%20review")]).unwrap();
    assert_eq!(asked.status, 202, "{}", asked.body);
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let c = browser(&driver).await;
        c.goto(&format!("http://127.0.0.1:{port}/ops/sign-in?lang=en")).await.unwrap();
        accessible(&c, "the operator console's sign-in").await;
        c.find(Locator::Css("input[name=username]")).await.unwrap().send_keys("fiona").await.unwrap();
        c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("qianbao-demo").await.unwrap();
        c.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#waiting", "1").await, "one request waits for a second operator");
        c.find(Locator::Css("#verify")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#verified", "The books verify").await, "the ledger verified on demand");
        screenshot(&c, "ops-dashboard").await;
        accessible(&c, "the operator dashboard").await;
        c.find(Locator::Css("#to-approvals")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#approvals", "markup HKD/CNY payment").await);
        c.find(Locator::Css("#approvals input[name=reason]")).await.unwrap().send_keys("checked against the rate policy").await.unwrap();
        c.find(Locator::Css("#approvals button.approve")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#confirm-text", "→ 75 bps").await, "the confirmation says what changes");
        accessible(&c, "the approval's confirmation").await;
        c.find(Locator::Css("#confirm-decision")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#notice", "Approved").await);
        assert!(shows(&c, "#approvals", "approved").await);
        screenshot(&c, "ops-approvals").await;
        accessible(&c, "the approvals queue").await;
        c.close().await.unwrap();
    });
    let log = get(port, "/admin/api/audit?limit=20").json();
    let approved = log.as_array().unwrap().iter().find(|e| e["action"] == "fx.markup.approved").expect("the approval is audited");
    assert_eq!(
        (approved["actor"].as_str(), approved["reason"].as_str()),
        (Some("operator:fiona"), Some("checked against the rate policy"))
    );
}

#[test]
fn a_gift_on_the_campaign_page_shows_live_in_the_charitys_console() {
    use super::charity::{campaign, charity, donor, give};
    let env = Env::sqlite("browser_giving");
    let server = env.serve_with(&[], WALLET_ENV);
    let port = server.port;
    let m = charity(port);
    let id = campaign(&m, "NEPAL2026", 30);
    let owner = serde_json::json!({"username": "owner", "password": "console-pass-1", "role": "owner"}).to_string();
    assert_eq!(post(port, &format!("/admin/api/merchants/{}/users", m.mchid), &owner).status, 201);
    let w = donor(port, "300.00");
    let phone = w.get("/api/v1/me").json()["person"]["phone"].as_str().unwrap().to_string();
    let driver = driver();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let c = browser(&driver).await;
        // The charity watches its campaign in the console.
        c.goto(&format!("http://127.0.0.1:{port}/merchant/sign-in?lang=en")).await.unwrap();
        let form = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("form[action='/merchant/sign-in']")).await.unwrap();
        form.find(Locator::Css("input[name=mchid]")).await.unwrap().send_keys(&m.mchid).await.unwrap();
        form.find(Locator::Css("input[name=username]")).await.unwrap().send_keys("owner").await.unwrap();
        form.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("console-pass-1").await.unwrap();
        form.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#to-campaigns")).await.unwrap().click().await.unwrap();
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#campaigns a")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#live-total", "0.00").await);
        // A gift lands elsewhere: the open page shows it without being reloaded.
        assert_eq!(give(&donor(port, "100.00"), &id, "25.00").status, 201);
        assert!(shows(&c, "#live-total", "25.00").await, "the console's total follows the donations live");
        assert!(shows(&c, "#live-donations", "1").await);
        screenshot(&c, "merchant-campaign").await;
        accessible(&c, "the charity's campaign").await;
        // A person finds the campaign in the wallet, gives with the PIN and reads the receipt.
        sign_in_with(&c, port, &phone, "correct horse battery").await;
        c.find(Locator::Css("#to-giving")).await.unwrap().click().await.unwrap();
        accessible(&c, "the campaigns").await;
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#campaigns a")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#badge", "Verified charity").await);
        let form = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#donate")).await.unwrap();
        form.find(Locator::Css("input[name=amount]")).await.unwrap().send_keys("50.00").await.unwrap();
        form.find(Locator::Css("input[name=message]")).await.unwrap().send_keys("From Sha Tin").await.unwrap();
        form.find(Locator::Css("input[name=pin]")).await.unwrap().send_keys("135790").await.unwrap();
        screenshot(&c, "wallet-campaign").await;
        accessible(&c, "a campaign").await;
        form.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        assert!(shows(&c, "#receipt-amount", "50.00 HKD").await, "the receipt");
        assert!(shows(&c, "#receipt", "QB-").await);
        screenshot(&c, "wallet-receipt").await;
        accessible(&c, "a receipt").await;
        c.close().await.unwrap();
    });
    assert_eq!(w.available("HKD"), "250.00");
}
