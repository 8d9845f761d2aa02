//! Payment beyond borders: rates and quotes, paying merchants in another currency, refunds at the
//! original rate, conversions, region rules and cross-border caps.

use crate::support::*;
use money::Currency;
use platform::fx::{Channel, QuoteRequest};
use platform::merchants::MerchantAuth;
use platform::p2p::SendTransfer;
use platform::payments::{NewRefund, Order, OrderReference, PayOrder};
use platform::{Conflict, PersonId, PlatformError, chart};

both_backends!(
    an_hk_wallet_pays_a_mainland_merchant_in_cny_with_one_quoted_rate,
    paying_twice_with_one_quote_is_one_payment,
    a_used_quote_cannot_pay_another_order,
    an_expired_quote_is_refused_and_moves_nothing,
    another_persons_quote_does_not_exist_for_them,
    a_stale_rate_refuses_the_payment_and_moves_nothing,
    a_pair_without_a_rate_is_no_rate,
    ecb_rates_price_a_pair_through_the_euro_and_never_an_inverse,
    a_cny_wallet_pays_a_paris_store_in_eur,
    an_hk_wallet_can_pay_from_its_cny_balance_without_conversion,
    partial_refunds_of_an_exchanged_payment_use_the_original_rate_and_close_exactly,
    concurrent_partial_refunds_of_an_exchanged_payment_close_exactly,
    an_hk_wallet_converts_hkd_to_cny_at_a_quote,
    hk_and_mainland_wallets_cannot_pay_each_other_and_the_error_names_the_rule,
    the_cross_border_cap_refuses_a_payment_above_it,
    the_cross_border_report_lists_the_days_exchanges,
    a_paris_merchant_settles_its_own_day_in_eur,
    the_fx_result_is_the_spread_until_a_rate_moves_and_then_its_revaluation_too,
    positions_are_valued_in_eur_from_the_ecbs_own_legs,
);

/// 1 CNY = 1.0870 HKD, as the operator publishes it now.
async fn cny_hkd(h: &Harness) {
    h.platform.fx.set_rate("CNY", "HKD", "1.0870", None, "operator:test").await.unwrap();
}

fn how<'a>(quote: Option<i64>, balance: Option<&'a str>) -> PayOrder<'a> {
    PayOrder { pin: Some(PIN), card: None, balance_currency: balance, quote }
}

async fn pay_with(h: &Harness, person: PersonId, order: &Order, how: PayOrder<'_>) -> platform::Result<Order> {
    let url = h.platform.payments.code_url(order);
    let found = h.platform.payments.resolve_order(person, OrderReference::CodeUrl(&url)).await?;
    h.platform.payments.pay_order(person, found, how, None).await
}

async fn preview_quote(h: &Harness, person: PersonId, order: &Order) -> i64 {
    let plan = h.platform.payments.preview_plan(person, order, &how(None, None)).await.unwrap();
    plan.quote.expect("a payment in another currency is quoted").0
}

fn conflict<T: std::fmt::Debug>(r: platform::Result<T>) -> Conflict {
    match r {
        Err(PlatformError::Conflict { code, .. }) => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn position(h: &Harness, currency: &str) -> i64 {
    let c = Currency::from_code(currency).unwrap();
    let a = h.platform.ledger.account(chart::system_account(chart::account::FX_POSITION, c)).await.unwrap();
    i64::try_from(a.credits_posted).unwrap() - i64::try_from(a.debits_posted).unwrap()
}

async fn an_hk_wallet_pays_a_mainland_merchant_in_cny_with_one_quoted_rate(h: &Harness) {
    cny_hkd(h).await;
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    let order = h.order(&merchant, "X0000001", 10_000).await;
    let plan = h.platform.payments.preview_plan(hana, &order, &how(None, None)).await.unwrap();
    assert_eq!(
        (plan.pay.to_decimal_string(), plan.pay.currency().code()),
        ("109.25".into(), "HKD"),
        "100.00 CNY at 1.0870 + 50 bps, rounded up"
    );
    let price = plan.price.clone().unwrap();
    assert_eq!((price.rate.decimal(), price.mid.decimal(), price.markup_bps), ("1.09243500".into(), "1.0870".into(), 50));
    assert!(plan.cross_border, "an HK wallet paying a mainland merchant crosses a border");
    let paid = pay_with(h, hana, &order, how(plan.quote.map(|q| q.0), None)).await.unwrap();
    let exchange = paid.exchange.clone().unwrap();
    assert_eq!((exchange.total_minor, exchange.currency.code(), exchange.rate.per_1e8()), (10_925, "HKD", Some(109_243_500)));
    assert_eq!(h.available_in(hana, "HKD").await, "390.75");
    assert_eq!((position(h, "HKD").await, position(h, "CNY").await), (10_925, -10_000), "the platform holds the HKD and owes the CNY");
    let json = h.platform.payments.order(order.id).await.unwrap().transaction_json();
    assert_eq!(json["amount"]["payer_total"], 10_925);
    assert_eq!(json["amount"]["payer_currency"], "HKD");
    assert_eq!(json["amount"]["exchange_rate"]["rate"], 109_243_500);
    h.verify();
}

async fn paying_twice_with_one_quote_is_one_payment(h: &Harness) {
    cny_hkd(h).await;
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    let order = h.order(&merchant, "X0000002", 10_000).await;
    let quote = preview_quote(h, hana, &order).await;
    let url = h.platform.payments.code_url(&order);
    for _ in 0..2 {
        let found = h.platform.payments.resolve_order(hana, OrderReference::CodeUrl(&url)).await.unwrap();
        h.platform.payments.pay_order(hana, found, how(Some(quote), None), Some("pay-once")).await.unwrap();
    }
    assert_eq!(h.available_in(hana, "HKD").await, "390.75", "paid once");
    h.verify();
}

async fn a_used_quote_cannot_pay_another_order(h: &Harness) {
    cny_hkd(h).await;
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    let (first, second) = (h.order(&merchant, "X0000003", 10_000).await, h.order(&merchant, "X0000004", 10_000).await);
    let quote = preview_quote(h, hana, &first).await;
    pay_with(h, hana, &first, how(Some(quote), None)).await.unwrap();
    assert_eq!(conflict(pay_with(h, hana, &second, how(Some(quote), None)).await), Conflict::QuoteUsed);
    assert_eq!(h.available_in(hana, "HKD").await, "390.75");
}

async fn an_expired_quote_is_refused_and_moves_nothing(h: &Harness) {
    cny_hkd(h).await;
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    let order = h.order(&merchant, "X0000005", 10_000).await;
    let quote = preview_quote(h, hana, &order).await;
    h.advance_s(121).await;
    assert_eq!(conflict(pay_with(h, hana, &order, how(Some(quote), None)).await), Conflict::QuoteExpired);
    assert_eq!(h.available_in(hana, "HKD").await, "500.00");
    assert_eq!(position(h, "HKD").await, 0);
}

async fn another_persons_quote_does_not_exist_for_them(h: &Harness) {
    cny_hkd(h).await;
    let (hana, other) = (h.funded_hk("500.00").await, h.funded_hk("500.00").await);
    let merchant = h.merchant().await;
    let order = h.order(&merchant, "X0000006", 10_000).await;
    let quote = preview_quote(h, hana, &order).await;
    let stolen = pay_with(h, other, &order, how(Some(quote), None)).await;
    assert!(matches!(stolen, Err(PlatformError::NotFound("quote"))), "{stolen:?}");
    assert!(h.platform.fx.quote_of(Some(other), quote).await.is_err());
    assert_eq!(h.available_in(other, "HKD").await, "500.00");
}

async fn a_stale_rate_refuses_the_payment_and_moves_nothing(h: &Harness) {
    let five_days_ago = h.platform.now_ms() - 5 * 86_400_000;
    h.platform.fx.set_rate("CNY", "HKD", "1.0870", Some(five_days_ago), "operator:test").await.unwrap();
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    let order = h.order(&merchant, "X0000007", 10_000).await;
    let refused = pay_with(h, hana, &order, how(None, None)).await;
    assert!(
        matches!(&refused, Err(PlatformError::Conflict { code: Conflict::RateStale, message }) if message.contains("CNY/HKD")),
        "{refused:?}"
    );
    assert_eq!(h.available_in(hana, "HKD").await, "500.00");
    h.platform.fx.set_max_age("CNY", "HKD", 7 * 86_400, None).await.unwrap();
    pay_with(h, hana, &order, how(None, None)).await.expect("the pair allows a week now");
}

async fn a_pair_without_a_rate_is_no_rate(h: &Harness) {
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    let order = h.order(&merchant, "X0000008", 10_000).await;
    assert_eq!(conflict(pay_with(h, hana, &order, how(None, None)).await), Conflict::NoRate);
    assert_eq!(h.available_in(hana, "HKD").await, "500.00");
}

const ECB: &str = "Date,USD,JPY,HKD,CNY,RUB,\n2026-06-15,1.0541,162.87,8.2046,7.6543,N/A,\n2026-06-12,1.0555,163.01,8.2150,7.6611,N/A,\n";

async fn ecb_rates_price_a_pair_through_the_euro_and_never_an_inverse(h: &Harness) {
    h.clock.advance_s(13 * 3_600); // past 16:00 in Frankfurt on 2026-06-15
    let report = h.platform.fx.import_ecb(ECB).await.unwrap();
    assert_eq!((report.imported, report.days, report.skipped_na), (8, 2, 2));
    assert_eq!(h.platform.fx.import_ecb(ECB).await.unwrap().imported, 0, "importing again changes nothing");
    let (rate, source) = h.platform.fx.mid(Currency::from_code("CNY").unwrap(), Currency::from_code("HKD").unwrap()).await.unwrap();
    assert_eq!(rate.decimal(), "1.07189423", "8.2046 / 7.6543, to eight places");
    assert!(source.contains("via EUR") && source.contains("2026-06-15"), "{source}");
    // EUR → CNY is published; CNY → EUR would be its inverse: not derived.
    let inverse = h.platform.fx.mid(Currency::from_code("EUR").unwrap(), Currency::from_code("CNY").unwrap()).await;
    assert!(inverse.is_ok(), "buying EUR with CNY uses the published EUR/CNY");
    let refused = h.platform.fx.mid(Currency::from_code("CNY").unwrap(), Currency::from_code("EUR").unwrap()).await;
    assert_eq!(conflict(refused), Conflict::NoRate);
}

async fn a_cny_wallet_pays_a_paris_store_in_eur(h: &Harness) {
    h.clock.advance_s(13 * 3_600);
    h.platform.fx.import_ecb(ECB).await.unwrap();
    let payer = h.funded("500.00").await;
    let paris = h.merchant_in("FR", "EUR").await;
    let order = h.order_in(&paris, "P0000001", 1_000, "EUR").await; // 10.00 EUR
    let paid = pay_with(h, payer, &order, how(None, None)).await.unwrap();
    // 10.00 × 7.6543 × 1.005 = 76.925... CNY, rounded up.
    assert_eq!(paid.exchange.as_ref().map(|e| e.total_minor), Some(7_693));
    assert_eq!(h.available(payer).await, "423.07");
    let eur = Currency::from_code("EUR").unwrap();
    let receivable = h.platform.ledger.account(chart::merchant_receivable(paris.merchant.id, eur)).await.unwrap();
    assert_eq!(receivable.credits_posted, 1_000, "the Paris store is owed its 10.00 EUR");
    h.verify();
}

async fn an_hk_wallet_can_pay_from_its_cny_balance_without_conversion(h: &Harness) {
    let (hana, card) = h.person("HK").await;
    h.top_up_in(hana, card, "200.00", "CNY").await.unwrap();
    let merchant = h.merchant().await;
    let order = h.order(&merchant, "X0000009", 10_000).await;
    let paid = pay_with(h, hana, &order, how(None, Some("CNY"))).await.unwrap();
    assert!(paid.exchange.is_none());
    assert_eq!(h.available_in(hana, "CNY").await, "100.00");
    assert_eq!(position(h, "CNY").await, 0, "nothing was exchanged");
}

async fn refund(
    h: &Harness,
    merchant: &MerchantAuth,
    order: &Order,
    no: &str,
    refund_minor: i64,
) -> platform::Result<platform::payments::Refund> {
    let new = NewRefund {
        sp_merchant_id: None,
        transaction_id: Some(order.transaction_id.clone()),
        out_trade_no: None,
        out_refund_no: no.into(),
        reason: None,
        notify_url: None,
        refund_minor,
        total_minor: order.total_minor,
        currency: order.currency.code().into(),
    };
    h.platform.payments.refund_order(merchant.merchant.id, new).await
}

async fn partial_refunds_of_an_exchanged_payment_use_the_original_rate_and_close_exactly(h: &Harness) {
    cny_hkd(h).await;
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    let order = pay_with(h, hana, &h.order(&merchant, "X0000010", 10_000).await, how(None, None)).await.unwrap();
    h.platform.fx.set_rate("CNY", "HKD", "1.2000", None, "operator:test").await.unwrap(); // the rate moves
    let mut given = Vec::new();
    for (no, amount) in [("F1", 3_000), ("F2", 3_000), ("F3", 4_000)] {
        given.push(refund(h, &merchant, &order, no, amount).await.unwrap().payer_amount_minor.unwrap());
    }
    assert_eq!(given, [3_278, 3_277, 4_370]);
    assert_eq!(h.available_in(hana, "HKD").await, "500.00", "all of it came back, at the rate it was paid at");
    assert_eq!((position(h, "HKD").await, position(h, "CNY").await), (0, 0));
    assert_eq!(conflict(refund(h, &merchant, &order, "F4", 1).await), Conflict::NotEnough);
    h.verify();
}

async fn concurrent_partial_refunds_of_an_exchanged_payment_close_exactly(h: &Harness) {
    cny_hkd(h).await;
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    let order = pay_with(h, hana, &h.order(&merchant, "X0000011", 10_000).await, how(None, None)).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (platform, order, id) = (std::sync::Arc::clone(&h.platform), order.clone(), merchant.merchant.id);
            tokio::spawn(async move {
                let new = NewRefund {
                    sp_merchant_id: None,
                    transaction_id: Some(order.transaction_id.clone()),
                    out_trade_no: None,
                    out_refund_no: format!("C{i}"),
                    reason: None,
                    notify_url: None,
                    refund_minor: 2_500,
                    total_minor: order.total_minor,
                    currency: "CNY".into(),
                };
                platform.payments.refund_order(id, new).await.is_ok()
            })
        })
        .collect();
    let mut succeeded = 0;
    for t in tasks {
        succeeded += usize::from(t.await.unwrap());
    }
    assert_eq!(succeeded, 4, "4 × 25.00 CNY is the whole order");
    assert_eq!(h.available_in(hana, "HKD").await, "500.00", "and exactly what was paid came back");
    h.verify();
}

async fn an_hk_wallet_converts_hkd_to_cny_at_a_quote(h: &Harness) {
    h.platform.fx.set_rate("CNY", "HKD", "1.0870", None, "operator:test").await.unwrap();
    let hana = h.funded_hk("500.00").await;
    let request = QuoteRequest {
        sell_currency: "HKD",
        buy_currency: "CNY",
        sell_amount: Some("109.25"),
        buy_amount: None,
        channel: Channel::Conversion,
    };
    let quote = h.platform.fx.quote(hana, request).await.unwrap();
    assert_eq!(quote.buy.to_decimal_string(), "100.00", "109.25 HKD buys 100.00 CNY at 1.092435, rounded down");
    let done = h.platform.fx.convert(hana, quote.id, Some(PIN), Some("convert-1")).await.unwrap();
    let again = h.platform.fx.convert(hana, quote.id, Some(PIN), Some("convert-1")).await.unwrap();
    assert_eq!(done.id, again.id, "a quote converts once");
    assert_eq!((h.available_in(hana, "HKD").await, h.available_in(hana, "CNY").await), ("390.75".into(), "100.00".into()));
    let mainland = h.funded("10.00").await;
    let refused = h.platform.fx.quote(mainland, QuoteRequest { sell_currency: "CNY", buy_currency: "HKD", ..request }).await;
    assert!(refused.is_err(), "a mainland wallet cannot hold HKD");
    h.verify();
}

async fn hk_and_mainland_wallets_cannot_pay_each_other_and_the_error_names_the_rule(h: &Harness) {
    let (hana, card) = h.person("HK").await;
    h.top_up_in(hana, card, "100.00", "CNY").await.unwrap();
    let mainland = h.funded("100.00").await;
    h.befriend(hana, mainland).await;
    let request = SendTransfer { to: mainland, amount: "1.00", currency: "CNY", note: "", pin: Some(PIN), card: None };
    let refused = h.platform.p2p.send(hana, request, None).await;
    assert!(
        matches!(&refused, Err(PlatformError::Conflict { code: Conflict::RegionRule, message }) if message.contains("p2p_regions")),
        "{refused:?}"
    );
    let back = h.platform.p2p.send(mainland, SendTransfer { to: hana, ..request }, None).await;
    assert_eq!(conflict(back), Conflict::RegionRule);
    assert_eq!(h.available_in(hana, "CNY").await, "100.00");
}

async fn the_cross_border_cap_refuses_a_payment_above_it(h: &Harness) {
    cny_hkd(h).await;
    let hana = h.funded_hk("1000.00").await;
    let merchant = h.merchant().await;
    // Tier 0 may pay 500 at once, but only 300 across a border: 300.00 CNY is 327.74 HKD.
    let order = h.order(&merchant, "X0000012", 30_000).await;
    assert_eq!(conflict(pay_with(h, hana, &order, how(None, None)).await), Conflict::LimitSingle);
    let small = h.order(&merchant, "X0000013", 20_000).await;
    pay_with(h, hana, &small, how(None, None)).await.expect("218.49 HKD is within the cap");
    let more = h.order(&merchant, "X0000014", 20_000).await;
    pay_with(h, hana, &more, how(None, None)).await.expect("436.98 HKD today is within the daily cap of 600");
    let third = h.order(&merchant, "X0000015", 20_000).await;
    assert_eq!(conflict(pay_with(h, hana, &third, how(None, None)).await), Conflict::LimitCrossBorderDaily);
    h.verify();
}

async fn the_cross_border_report_lists_the_days_exchanges(h: &Harness) {
    cny_hkd(h).await;
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    pay_with(h, hana, &h.order(&merchant, "X0000016", 10_000).await, how(None, None)).await.unwrap();
    let day = platform::wallet::iso_utc(h.platform.now_ms() + 8 * 3_600_000)[..10].to_string();
    let rows = h.platform.fx.executions(&day).await.unwrap();
    assert_eq!(rows.len(), 1);
    let e = &rows[0];
    assert_eq!((e.payer_region.as_str(), e.merchant_country.as_deref(), e.purpose_code.as_deref()), ("HK", Some("CN"), Some("GOODS")));
    assert_eq!((e.sell.to_decimal_string(), e.buy.to_decimal_string(), e.spread_minor), ("109.25".into(), "100.00".into(), 55));
    assert!(platform::fx::report_csv(&rows).lines().nth(1).unwrap().contains(",HK,CN,5411,GOODS,"));
}

async fn a_paris_merchant_settles_its_own_day_in_eur(h: &Harness) {
    // 02:00 UTC on 2026-06-15: 10:00 in Shanghai, 04:00 in Paris. The ECB's rates of the 12th are in force.
    h.platform.fx.import_ecb(ECB).await.unwrap();
    let payer = h.funded("500.00").await;
    let (paris, shanghai) = (h.merchant_in("FR", "EUR").await, h.merchant().await);
    pay_with(h, payer, &h.order_in(&paris, "P0000002", 2_000, "EUR").await, how(None, None)).await.unwrap();
    pay_with(h, payer, &h.order(&shanghai, "S0000001", 1_000).await, how(None, None)).await.unwrap();
    h.advance_s(15 * 3_600).await; // 17:00 UTC: Shanghai's 15th is over, Paris's is not
    let settled = h.platform.settlement.settlements("2026-06-15").await.unwrap();
    assert_eq!(settled.iter().map(|s| s.mchid.as_str()).collect::<Vec<_>>(), [shanghai.merchant.mchid.as_str()]);
    h.advance_s(6 * 3_600).await; // 23:00 UTC: 01:00 in Paris on the 16th
    let settled = h.platform.settlement.settlements("2026-06-15").await.unwrap();
    let eur = settled.iter().find(|s| s.mchid == paris.merchant.mchid).expect("Paris settled its own 15th");
    assert_eq!((eur.currency.code(), eur.gross_minor, eur.fees_minor, eur.payout_minor), ("EUR", 2_000, 12, 1_988));
    h.verify();
}

async fn the_fx_result_is_the_spread_until_a_rate_moves_and_then_its_revaluation_too(h: &Harness) {
    cny_hkd(h).await;
    let hana = h.funded_hk("500.00").await;
    let merchant = h.merchant().await;
    // 100.00 CNY × 1.0870 × 1.005 = 109.24 35, rounded up: 109.25 HKD.
    pay_with(h, hana, &h.order(&merchant, "X0000090", 10_000).await, how(None, None)).await.unwrap();
    let result = |p: platform::fx::Positions| {
        let r = p.result.expect("every position has a fresh rate");
        (r.net, r.spread, r.revaluation)
    };
    let before = h.platform.fx.positions("HKD").await.unwrap();
    // Held: +109.25 HKD, −100.00 CNY = −108.70 HKD at the reference rate.
    assert_eq!(result(before), ("0.55".into(), "0.55".into(), "0.00".into()));
    h.platform.fx.set_rate("CNY", "HKD", "1.2000", None, "operator:test").await.unwrap();
    let after = h.platform.fx.positions("HKD").await.unwrap();
    // The CNY owed is now worth −120.00 HKD: the spread stays earned, the revaluation loses 11.30.
    assert_eq!(result(after), ("-10.75".into(), "0.55".into(), "-11.30".into()));
}

async fn positions_are_valued_in_eur_from_the_ecbs_own_legs(h: &Harness) {
    // Only EUR → X is published (as the ECB does): a CNY wallet pays a Hong Kong merchant through EUR.
    h.platform.fx.set_rate("EUR", "CNY", "7.8000", None, "ecb").await.unwrap();
    h.platform.fx.set_rate("EUR", "HKD", "8.4500", None, "ecb").await.unwrap();
    let payer = h.funded("500.00").await;
    let hk = h.merchant_in("HK", "HKD").await;
    pay_with(h, payer, &h.order_in(&hk, "X0000091", 8_450, "HKD").await, how(None, None)).await.unwrap();
    let p = h.platform.fx.positions("EUR").await.unwrap();
    let hkd = p.positions.iter().find(|x| x.currency.code() == "HKD").unwrap();
    // −84.50 HKD is −10.00 EUR at 1/8.4500.
    assert_eq!((hkd.value.as_deref(), hkd.reference_rate.as_deref()), (Some("-10.00"), Some("1/8.4500")));
    assert!(p.result.is_some(), "every position is valued: {p:?}");
}
