//! The HTTP API, black-box over real HTTP against `qianbao serve` processes: one test binary for every
//! surface (the crash tests, which kill servers mid-flight, are their own binary).
//!
//! - `operator`: the operator's ledger API, health, readiness, metrics, the demo;
//! - `wallet`: people, PIN, cards, top-ups, friends, transfers, red packets, history, idempotency;
//! - `merchant`: the WeChat Pay v3 merchant API (orders, codes, refunds, notifications, bills, settlement);
//! - `merchant_sdk`: the merchants' own unmodified SDKs against it;
//! - `global`: the global merchant API and paying across currencies;
//! - `qr`: the `qianbao qr` command;
//! - `roles`: operators, their roles on every operator route, sessions, second factors, four eyes.

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod browser;
mod charity;
mod console;
mod freezes;
mod giving;
mod global;
mod hostile;
mod merchant;
mod merchant_sdk;
mod networks;
mod official_accounts;
mod openapi;
mod operator;
mod ops_console;
mod privacy;
mod qr;
mod risk;
mod roles;
mod screening;
mod wallet;
mod wallet_pages;
mod web;
