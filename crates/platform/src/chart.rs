//! The chart of accounts: every kind of ledger account and transfer the platform uses, how their ids
//! derive from business objects, and the platform's own (system) accounts. Money and limit units never
//! mix: limit accounts have kinds of their own.

use crate::core::Core;
use crate::{MerchantId, PersonId, PlatformError, Result};
use ledger::{AccountFlags, NewAccount};
use money::{Currency, Money};

/// Ledger account kinds (also the account `code`).
pub mod account {
    pub const WALLET: u16 = 1;
    /// The card network's mirror per currency: money in from cards, refunds out to them.
    pub const CARD_RAIL: u16 = 2;
    /// The banks' mirror per currency: withdrawals out.
    pub const BANK_RAIL: u16 = 3;
    pub const PACKET_ESCROW: u16 = 4;
    /// What a merchant has been paid and not yet settled (per currency); refunds may take it below zero.
    pub const MERCHANT_RECEIVABLE: u16 = 5;
    /// The platform's fee income per currency.
    pub const FEE_REVENUE: u16 = 6;
    /// Money on its way to merchants' settlement bank accounts, per currency.
    pub const SETTLEMENT_CLEARING: u16 = 7;
    /// A person's allowance for money out (payments, withdrawals) for one day / one year in one currency
    /// (units of allowance, not money), per KYC version (`| version << 8`, see `people::limits`).
    pub const LIMIT_DAILY: u16 = 0x10;
    pub const LIMIT_YEARLY: u16 = 0x11;
    /// Where limit units come from and go to.
    pub const LIMIT_SOURCE: u16 = 0x12;
    pub const LIMIT_SINK: u16 = 0x13;
    /// The same for money in (top-ups).
    pub const LIMIT_IN_DAILY: u16 = 0x14;
    pub const LIMIT_IN_YEARLY: u16 = 0x15;
    /// The same for cross-border spending (a payer's region other than the merchant's country).
    pub const LIMIT_XB_DAILY: u16 = 0x16;
    pub const LIMIT_XB_YEARLY: u16 = 0x17;
    /// The platform's position in a currency: what exchanges bought into it and sold out of it. Its
    /// balance is the platform's exposure; across currencies, the spread it earned.
    pub const FX_POSITION: u16 = 8;
    /// A partner network's settlement account per currency (`| number << 16`, see `networks`): credited
    /// by what Qianbao's wallets paid its merchants, debited by what its wallets paid Qianbao's.
    pub const NETWORK_SETTLEMENT: u16 = 9;
    /// A sponsor's pledge to match a campaign (per pledge): funded with the cap, drawn by each match.
    pub const MATCH_ESCROW: u16 = 10;
}

/// Ledger transfer kinds (also the transfer `code`).
pub mod transfer {
    pub const TOP_UP: u16 = 1;
    pub const WITHDRAWAL: u16 = 2;
    pub const WITHDRAWAL_POST: u16 = 3;
    pub const WITHDRAWAL_VOID: u16 = 4;
    pub const CARD_FUND: u16 = 5;
    pub const P2P: u16 = 10;
    pub const P2P_ACCEPT: u16 = 11;
    pub const P2P_DECLINE: u16 = 12;
    pub const PACKET_FUND: u16 = 20;
    pub const PACKET_CLAIM: u16 = 21;
    pub const PACKET_REFUND: u16 = 22;
    pub const ORDER_PAY: u16 = 30;
    pub const ORDER_REFUND: u16 = 31;
    pub const ORDER_CARD_FUND: u16 = 32;
    /// A refund of a card-funded payment leaving the payer's wallet for the card.
    pub const ORDER_REFUND_TO_CARD: u16 = 33;
    /// The card issuer refused that refund: the money comes back to the wallet.
    pub const ORDER_REFUND_TO_BALANCE: u16 = 34;
    /// A payment in another currency than the order's: the payer's money into the FX position of the
    /// payer's currency, then the FX position of the order's currency to the merchant.
    pub const ORDER_PAY_FX_IN: u16 = 35;
    pub const ORDER_PAY_FX_OUT: u16 = 36;
    /// Its refund, the other way: the merchant into the FX position, the FX position to the payer.
    pub const ORDER_REFUND_FX_IN: u16 = 37;
    pub const ORDER_REFUND_FX_OUT: u16 = 38;
    /// A person converting between their own balances.
    pub const FX_CONVERT_IN: u16 = 50;
    pub const FX_CONVERT_OUT: u16 = 51;
    /// A Qianbao wallet paying a partner network's merchant: the hold (the payer's wallet to the
    /// network, or into the FX position), the FX position to the network, and their post or void.
    pub const NETWORK_PAY: u16 = 60;
    pub const NETWORK_PAY_FX_OUT: u16 = 61;
    pub const NETWORK_PAY_POST: u16 = 62;
    pub const NETWORK_PAY_VOID: u16 = 63;
    /// A partner network's wallet paying a Qianbao merchant's order from the network's account.
    pub const NETWORK_ORDER_PAY: u16 = 64;
    /// A network's day settled: its net between the network's account and the bank rail.
    pub const NETWORK_SETTLE: u16 = 65;
    /// A gift to a campaign: the donor's wallet to the charity's receivable.
    pub const DONATION: u16 = 70;
    /// A gift's match: the pledge's escrow to the charity's receivable.
    pub const DONATION_MATCH: u16 = 71;
    /// A pledge funded: the sponsor's wallet to its escrow.
    pub const MATCH_FUND: u16 = 72;
    /// What a pledge did not match, back to the sponsor when its campaign ended.
    pub const MATCH_RETURN: u16 = 73;
    /// A gift refunded: the charity's receivable back to the donor's wallet.
    pub const DONATION_REFUND: u16 = 74;
    /// A refunded gift's match, back to the pledge's escrow.
    pub const MATCH_REFUND: u16 = 75;
    /// A gift in another currency: the donor's wallet into the FX position of their currency, then the
    /// FX position of the campaign's currency to the charity (and back the same way on a refund).
    pub const DONATION_FX_IN: u16 = 76;
    pub const DONATION_FX_OUT: u16 = 77;
    /// A gift straight from a card: the card rail into the donor's wallet, the gift's first link.
    pub const DONATION_CARD_FUND: u16 = 78;
    /// A card gift's refund on to the card: the donor's wallet to the card rail.
    pub const DONATION_TO_CARD: u16 = 79;
    /// A card gift the issuer took back (a chargeback): the charity's receivable to the card rail.
    pub const DONATION_CHARGEBACK: u16 = 80;
    /// A card refund the issuer refused, kept on the donor's balance: the card rail to the wallet.
    pub const DONATION_CARD_REFUSED: u16 = 81;
    pub const SETTLEMENT_FEE: u16 = 40;
    pub const SETTLEMENT_PAYOUT: u16 = 41;
    /// A limit period funded at KYC version 0: `+ tier` (the tiers' differences, in turn).
    pub const LIMIT_FUND_DAILY: u16 = 0x100;
    pub const LIMIT_FUND_YEARLY: u16 = 0x200;
    /// A limit period funded at a later KYC version: `| account kind` (one transfer, what is left).
    pub const LIMIT_FUND_VERSIONED: u16 = 0x4000;
    /// A payment spending its daily and yearly limits.
    pub const LIMIT_SPEND_DAILY: u16 = 0x300;
    pub const LIMIT_SPEND_YEARLY: u16 = 0x301;
    /// A cross-border payment spending its cross-border daily and yearly caps.
    pub const LIMIT_SPEND_XB_DAILY: u16 = 0x302;
    pub const LIMIT_SPEND_XB_YEARLY: u16 = 0x303;
}

/// The ledger id of something `kind` about `object`, with a sub-index (a share number, a currency).
pub fn derived(object: i64, kind: u16, sub: u32) -> u128 {
    assert!(object > 0, "ids derive from positive object ids");
    (u128::from(object as u64) << 64) | (u128::from(kind) << 48) | u128::from(sub)
}

/// The platform's own accounts per currency: high half 0x5157 ("QW"), never an object's id.
pub fn system_account(kind: u16, currency: Currency) -> u128 {
    (0x5157u128 << 64) | (u128::from(kind) << 48) | u128::from(currency.numeric())
}

pub fn wallet(person: PersonId, currency: Currency) -> u128 {
    derived(person.get(), account::WALLET, u32::from(currency.numeric()))
}

pub fn merchant_receivable(merchant: MerchantId, currency: Currency) -> u128 {
    derived(merchant.get(), account::MERCHANT_RECEIVABLE, u32::from(currency.numeric()))
}

/// A transfer's amount for the ledger: the one checked conversion from minor units (validated positive at
/// the boundary; a negative one is a bug, refused rather than wrapped).
pub fn ledger_amount(minor: i64, currency: Currency) -> Result<u64> {
    Money::from_minor(minor, currency)
        .and_then(Money::ledger_amount)
        .map_err(|e| PlatformError::Internal(format!("{minor} minor units of {currency} as a ledger amount: {e}")))
}

/// Set up the system accounts of every enabled currency (idempotent).
pub(crate) async fn create_system_accounts(core: &Core) -> Result<()> {
    let kinds = [
        account::CARD_RAIL,
        account::BANK_RAIL,
        account::LIMIT_SOURCE,
        account::LIMIT_SINK,
        account::FEE_REVENUE,
        account::SETTLEMENT_CLEARING,
        account::FX_POSITION,
    ];
    let accounts = core
        .config
        .currencies()
        .into_iter()
        .flat_map(|c| {
            kinds.map(|kind| NewAccount {
                id: system_account(kind, c),
                currency: c,
                code: kind,
                flags: AccountFlags::empty(),
                user_data: 0,
            })
        })
        .collect();
    core.accounts(accounts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_keep_object_kind_and_sub_apart() {
        let a = derived(7, transfer::P2P, 0);
        assert_ne!(a, derived(7, transfer::P2P_ACCEPT, 0));
        assert_ne!(a, derived(8, transfer::P2P, 0));
        assert_eq!(a >> 64, 7);
    }

    #[test]
    fn ledger_amounts_refuse_negatives() {
        let cny = Currency::from_code("CNY").unwrap();
        assert_eq!(ledger_amount(1234, cny).unwrap(), 1234);
        assert!(ledger_amount(-1, cny).is_err());
    }
}
