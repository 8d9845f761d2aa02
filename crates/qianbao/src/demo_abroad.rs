//! `serve --demo`, payment beyond borders: a Hong Kong person (HKD balance, an HK card), a mainland
//! rail-ticket merchant settled in CNY, a Paris department store settled in EUR through a French
//! partner institution, and reference rates (EUR legs, as the ECB publishes them: every other pair is
//! crossed through EUR). Seeding is idempotent: a restart finds what the last start made (the static
//! codes' URLs are kept in the data directory); the rates are published again, so they are fresh.

use platform::merchants::MerchantSetup;
use platform::{Conflict, Platform, PlatformError};
use std::path::Path;

/// The Hong Kong person: phone, name (password and PIN as the other demo people).
pub const HK_PHONE: &str = "+85291234567";
pub const HK_NAME: &str = "Mei";
const RAIL_MCHID: &str = "1900000201";
const PARTNER_MCHID: &str = "1900000301";
const PARIS_MCHID: &str = "1900000302";
/// EUR → quote, as the ECB publishes them (quote per one EUR).
const EUR_RATES: &[(&str, &str)] = &[("CNY", "7.8000"), ("HKD", "8.4500"), ("USD", "1.0850"), ("MOP", "8.7000"), ("JPY", "162.50")];

pub struct DemoAbroad {
    rail_code: String,
    paris_code: String,
}

pub async fn seed(platform: &Platform, data_dir: &Path) -> Result<DemoAbroad, String> {
    let e = |what: &'static str| move |err: PlatformError| format!("demo ({what}): {err}");
    for (quote, rate) in EUR_RATES {
        platform.fx.set_rate("EUR", quote, rate, None, "demo").await.map_err(e("rates"))?;
    }
    seed_hk_person(platform).await.map_err(e("Hong Kong person"))?;
    for (phone, _) in super::DEMO_PEOPLE {
        // Cross-border spending needs KYC tier 1 (tier 0 may spend 300 abroad at a time).
        let person = platform.people.person_by_phone(phone).await.map_err(e("people"))?;
        if person.kyc_tier < 1 {
            platform.people.set_kyc_tier(person.id, 1).await.map_err(e("people"))?;
        }
    }
    let rail = setup(RAIL_MCHID, "direct", None, "Mainland Rail Tickets", "4112", "CN", "CNY");
    onboard(platform, rail).await?;
    let partner = setup(PARTNER_MCHID, "service_provider", None, "Banque de l'Opéra Acquiring", "6012", "FR", "EUR");
    onboard(platform, partner).await?;
    let store = setup(PARIS_MCHID, "sub_merchant", Some(PARTNER_MCHID), "Galeries du Boulevard Haussmann", "5311", "FR", "EUR");
    onboard(platform, store).await?;
    // What their EMV codes say (the Latin name and city; the local ones in template 64).
    let profiles = [
        (RAIL_MCHID, "Mainland Rail Tickets", "Beijing", Some(("zh", "中国铁路购票", "北京"))),
        (PARIS_MCHID, "Galeries Haussmann", "Paris", None),
        (super::DEMO_MCHID, "Qianbao Demo Shop", "Shenzhen", Some(("zh", "钱包演示商店", "深圳"))),
    ];
    for (mchid, name, city, local) in profiles {
        let profile =
            platform::merchants::qr::QrProfile::parse(name, city, None, local.map(|l| l.0), local.map(|l| l.1), local.map(|l| l.2))
                .map_err(e("QR profiles"))?;
        platform.merchants.set_qr_profile(mchid, profile, None).await.map_err(e("QR profiles"))?;
    }
    let rail_code = static_code(platform, data_dir, RAIL_MCHID, "High-speed rail ticket").await?;
    let paris_code = static_code(platform, data_dir, PARIS_MCHID, "Galeries du Boulevard").await?;
    Ok(DemoAbroad { rail_code, paris_code })
}

async fn seed_hk_person(platform: &Platform) -> Result<(), PlatformError> {
    let person = match platform.people.register(HK_PHONE, super::DEMO_PASSWORD, "HK", HK_NAME).await {
        Ok(p) => p,
        Err(PlatformError::Conflict { code: Conflict::PhoneTaken, .. }) => platform.people.person_by_phone(HK_PHONE).await?,
        Err(e) => return Err(e),
    };
    if !person.pin_set {
        platform.people.set_pin(person.id, super::DEMO_PIN, None).await?;
    }
    if person.kyc_tier < 1 {
        platform.people.set_kyc_tier(person.id, 1).await?;
    }
    let card = match platform.wallet.cards(person.id).await?.first() {
        Some(card) => card.id,
        // A Mastercard issued by a Hong Kong bank (the sandbox rail approves this test number).
        None => platform.wallet.add_card(person.id, "5555555555554444", 12, 2099).await?.id,
    };
    let top_up = platform::wallet::TopUp { card, amount: "2000.00", currency: "HKD", pin: Some(super::DEMO_PIN) };
    platform.wallet.top_up(person.id, top_up, Some("demo-top-up-hkd")).await?;
    Ok(())
}

fn setup(mchid: &str, kind: &str, parent: Option<&str>, name: &str, mcc: &str, country: &str, currency: &str) -> MerchantSetup {
    MerchantSetup {
        mchid: Some(mchid.into()),
        kind: kind.into(),
        parent_mchid: parent.map(str::to_string),
        name: name.into(),
        mcc: mcc.into(),
        country: country.into(),
        settlement_currency: currency.into(),
        fee_bps: 60,
        settlement_account: format!("{country}-DEMO-{mchid}"),
        public_key_mode: false,
        licence: Some(format!(r#"{{"demo":true,"registered_in":"{country}"}}"#)),
    }
}

/// A demo merchant's own app id (an app id belongs to one merchant).
fn appid(mchid: &str) -> String {
    format!("wxdemo{mchid}")
}

/// Onboard once (a restart finds it) and bind the demo app id.
async fn onboard(platform: &Platform, setup: MerchantSetup) -> Result<(), String> {
    let mchid = setup.mchid.clone().unwrap_or_default();
    if platform.merchants.merchant(&mchid).await.is_ok() {
        return Ok(());
    }
    platform.merchants.onboard(setup).await.map_err(|e| format!("demo merchant {mchid}: {e}"))?;
    platform
        .merchants
        .register_app(&mchid, &appid(&mchid), "official_account", "Qianbao demo", None)
        .await
        .map_err(|e| format!("demo app of {mchid}: {e}"))
}

/// A merchant's static code (the person enters the amount), made once and kept in the data directory.
async fn static_code(platform: &Platform, data_dir: &Path, mchid: &str, description: &str) -> Result<String, String> {
    let path = data_dir.join(format!("demo-static-code-{mchid}"));
    if let Ok(url) = std::fs::read_to_string(&path) {
        return Ok(url.trim().to_string());
    }
    let url = platform
        .payments
        .create_static_code(
            mchid,
            &appid(mchid),
            description,
            &format!("{}/sandbox/inbox/{mchid}", platform.config().public_url.trim_end_matches('/')),
            None,
        )
        .await
        .map_err(|e| format!("demo static code of {mchid}: {e}"))?;
    std::fs::write(&path, &url).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(url)
}

pub fn print(address: std::net::SocketAddr, d: &DemoAbroad, token: &str) {
    let login = |var: &str, phone: &str| {
        format!(
            "{var}=$(curl -s -d '{{\"phone\":\"{phone}\",\"password\":\"{password}\"}}' http://{address}/api/v1/sessions | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')",
            password = super::DEMO_PASSWORD
        )
    };
    let pay = |var: &str, code: &str, amount: &str, currency: &str, key: &str| {
        format!(
            "curl -s -H \"Authorization: Bearer ${var}\" -H 'Idempotency-Key: {key}' -d '{{\"code_url\":\"{code}\",\"amount\":\"{amount}\",\"currency\":\"{currency}\",\"pin\":\"{pin}\"}}' http://{address}/api/v1/merchant-payments",
            pin = super::DEMO_PIN
        )
    };
    let preview = |var: &str, code: &str, amount: &str, currency: &str| {
        format!(
            "curl -s -H \"Authorization: Bearer ${var}\" -d '{{\"code_url\":\"{code}\",\"amount\":\"{amount}\",\"currency\":\"{currency}\"}}' http://{address}/api/v1/merchant-payments/preview"
        )
    };
    println!(
        "Payment beyond borders (rates: EUR/CNY 7.8000, EUR/HKD 8.4500, EUR/USD 1.0850, others crossed through EUR; markup 0.50%):\n\
         Mei {HK_PHONE} (Hong Kong: 2000.00 HKD and an HK Mastercard) buys a 553.00 CNY rail ticket from a mainland merchant,\n\
         paid from her HKD balance at the rate shown in the preview:\n  {}\n  {}\n  {}\n\
         Alice (mainland, CNY) pays 80.00 EUR at a Paris department store, settled in EUR through a French partner:\n  {}\n  {}\n\
         The operator's view of the FX positions and the day's cross-border report:\n  \
         curl -s -H 'Authorization: Bearer {token}' http://{address}/admin/api/fx/positions\n",
        login("MEI", HK_PHONE),
        preview("MEI", &d.rail_code, "553.00", "CNY"),
        pay("MEI", &d.rail_code, "553.00", "CNY", "demo-rail-1"),
        login("ALICE", "+8613800000001"),
        pay("ALICE", &d.paris_code, "80.00", "EUR", "demo-paris-1"),
    );
}
