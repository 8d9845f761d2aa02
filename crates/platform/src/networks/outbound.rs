//! A Qianbao wallet pays a partner network's merchant: scan (the network identifies its code), hold
//! (one commit: the payment's row, the pending chain behind the payer's limits, the quote used), ask
//! the network (idempotent on the payment's id), then post or void the hold on its answer. No answer
//! leaves the payment pending: a retry with the same key or the sweep asks the network what it did.

use super::{Direction, Identified, NetworkConnector, NetworkOutcome, NetworkPayment, NetworkState, Networks, digest, store};
use crate::core::{Commit, Committed, chain_outcome};
use crate::payments::{PayOrder, Payee, PaymentPlan, payment_execution};
use crate::people::{Direction as Limit, legs_of};
use crate::{PersonId, PlatformError, Result, chart};
use ledger::{NewTransfer, TransferFlags};
use money::Money;
use std::sync::Arc;

/// Pending payments the sweep asks about per network and round.
const SWEEP_PAYMENTS_MAX: i64 = 100;
/// How long one sweep round may take.
const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// What scanning a partner network's code shows.
pub struct NetworkScan {
    pub network: Arc<dyn NetworkConnector>,
    pub identified: Identified,
}

/// A person paying a partner network's code.
pub struct NetworkPay<'a> {
    pub payload: &'a str,
    /// For a code without an amount: what the person pays, in the code's currency.
    pub amount: Option<&'a str>,
    pub how: PayOrder<'a>,
}

fn hold_id(op: i64) -> u128 {
    chart::derived(op, chart::transfer::NETWORK_PAY, 0)
}

fn fx_leg_id(op: i64) -> u128 {
    chart::derived(op, chart::transfer::NETWORK_PAY_FX_OUT, 0)
}

fn limits(cross_border: bool) -> &'static [Limit] {
    if cross_border { &[Limit::Out, Limit::CrossBorder] } else { &[Limit::Out] }
}

impl Networks {
    /// The partner network that claims a scanned EMV code, and what it says the code is; `None` when
    /// no network claims it.
    pub async fn scan(&self, payload: &str) -> Result<Option<NetworkScan>> {
        let Ok(parsed) = emvqr::parse(payload) else { return Ok(None) };
        let Some(network) = self.claiming(&parsed) else { return Ok(None) };
        let code = payload.to_string();
        let identified = self.call(&network, move |n| n.identify(&code)).await?.map_err(|why| {
            PlatformError::conflict(
                crate::Conflict::NetworkUnreachable,
                format!("{} could not identify this code: {why}", network.config().name),
            )
        })?;
        let identified =
            identified.ok_or_else(|| PlatformError::invalid("payload", format!("{} does not know this code", network.config().name)))?;
        if !self.core.config.currencies().contains(&identified.currency) {
            return Err(PlatformError::invalid(
                "payload",
                format!("this merchant is paid in {}, a currency this platform does not convert to", identified.currency),
            ));
        }
        Ok(Some(NetworkScan { network, identified }))
    }

    /// What paying a scanned code would cost the person: the plan, its price locked in a quote.
    pub async fn preview(
        &self,
        person: PersonId,
        scan: &NetworkScan,
        amount: Option<&str>,
        how: &PayOrder<'_>,
    ) -> Result<Option<PaymentPlan>> {
        let Some(total) = total(&scan.identified, amount)? else { return Ok(None) };
        Ok(Some(self.payments.preview_plan_in(person, &scan.identified.country, total, how).await?))
    }

    /// Pay a partner network's code. The same key is the same payment, however often it is retried.
    pub async fn pay_out(&self, person: PersonId, request: NetworkPay<'_>, key: Option<&str>) -> Result<NetworkPayment> {
        let id = self.core.request_id("network-pay", person, key);
        if let Some(existing) = self.core.read(move |c| store::by_id(c, id)).await? {
            if existing.person != Some(person) || existing.code_digest != digest(request.payload) {
                return Err(PlatformError::invalid("Idempotency-Key", "this key was used for another payment"));
            }
            return self.follow(existing, request.payload).await;
        }
        let scan =
            self.scan(request.payload).await?.ok_or_else(|| PlatformError::invalid("payload", "no partner network claims this code"))?;
        let total = total(&scan.identified, request.amount)?
            .ok_or_else(|| PlatformError::invalid("amount", "this code has no amount: give the amount you pay"))?;
        let plan = self.payments.plan_in(person, &scan.identified.country, total, &request.how).await?;
        let config = scan.network.config();
        if plan.cross_border {
            // The payee is not one of ours: screened by the name its code carries, each payment.
            let payee = format!("network:{}:{}", config.id, scan.identified.merchant_name);
            self.sanctions.screen_payee(&payee, &scan.identified.merchant_name).await?;
        }
        let kind = crate::risk::engine::Kind::Payment;
        let judged = crate::risk::Attempt {
            cross_border: plan.cross_border,
            ..crate::risk::Attempt::of(kind, person, plan.pay.currency().numeric(), plan.pay.minor())
        };
        self.people.assess(&judged, request.how.pin).await?;
        self.people.authorize_payment(person, plan.pay.minor(), request.how.pin).await?;
        let now = self.core.now_ms();
        let row = NetworkPayment {
            id,
            network: config.id.clone(),
            direction: Direction::Out,
            request_id: id.to_string(),
            code_digest: digest(request.payload),
            state: NetworkState::Pending,
            person: Some(person),
            order: None,
            merchant_name: scan.identified.merchant_name.clone(),
            amount: total,
            payer_amount: plan.pay,
            cross_border: plan.cross_border,
            network_reference: None,
            failure: None,
            created_at_ms: now,
            expires_at_ms: Networks::expiry_ms(config),
            finished_at_ms: None,
        };
        let chain = self.hold(person, &row, config.number).await?;
        let mut guards = vec![store::insert(&row)];
        guards.extend(plan.quote.map(|(q, _)| crate::fx::use_quote(q, person, id, now)));
        let mut effects = Vec::new();
        if plan.price.is_some() || plan.cross_border {
            let payee = Payee { order: None, country: &scan.identified.country, mcc: &scan.identified.mcc };
            effects.push(crate::fx::insert_execution(&payment_execution(id, person, total, &plan, payee, now)?));
        }
        match self.core.commit(Commit { guards, transfers: chain.chain.clone(), effects }).await? {
            Committed::Applied(results) => {
                chain.outcome(&results)?;
                self.people.risk.record(&judged, false);
            }
            // The same request raced in and holds the money: follow it.
            Committed::GuardFailed(0) => return Box::pin(self.pay_out(person, request, key)).await,
            Committed::GuardFailed(_) => {
                return Err(PlatformError::conflict(crate::Conflict::QuoteExpired, "the quote expired or was used: ask for a new one"));
            }
        }
        self.ask(row, request.payload).await
    }

    /// The pending chain behind the payer's limits: their wallet to the network's account, or into the
    /// FX position of their currency and out of the code's currency's position to the network.
    async fn hold(&self, person: PersonId, row: &NetworkPayment, number: u16) -> Result<crate::people::LimitedPayment> {
        let transfer = |id, debit, credit, amount: Money, code| -> Result<NewTransfer> {
            Ok(NewTransfer {
                id,
                debit_account_id: debit,
                credit_account_id: credit,
                amount: chart::ledger_amount(amount.minor(), amount.currency())?,
                pending_id: 0,
                currency: Some(amount.currency()),
                code,
                flags: TransferFlags::PENDING,
                timeout_s: 0,
                user_data: row.id as u128,
            })
        };
        let (pay, total) = (row.payer_amount, row.amount);
        let network = super::settlement_account(number, total.currency());
        let wallet = chart::wallet(person, pay.currency());
        let (first, second) = if pay.currency() == total.currency() {
            (transfer(hold_id(row.id), wallet, network, pay, chart::transfer::NETWORK_PAY)?, None)
        } else {
            let position = |c| chart::system_account(chart::account::FX_POSITION, c);
            let into = transfer(hold_id(row.id), wallet, position(pay.currency()), pay, chart::transfer::NETWORK_PAY)?;
            (into, Some(transfer(fx_leg_id(row.id), position(total.currency()), network, total, chart::transfer::NETWORK_PAY_FX_OUT)?))
        };
        let chain = self.people.limited_by(person, limits(row.cross_border), pay.currency(), pay.minor(), None, first).await?;
        Ok(match second {
            Some(next) => chain.then(next),
            None => chain,
        })
    }

    /// Ask the network to pay (idempotent on the request id) and apply its answer.
    async fn ask(&self, row: NetworkPayment, code: &str) -> Result<NetworkPayment> {
        let network = self.connector(&row.network)?;
        let expiry = row.expires_at_ms;
        let (request_id, code, amount) = (row.request_id.clone(), code.to_string(), row.amount);
        let outcome = self.call(&network, move |n| n.pay(&request_id, &code, amount, expiry)).await?;
        self.settle(&row, outcome).await?;
        self.payment(row.id).await
    }

    /// A payment found again (a retry): a pending one asks the network again, with a new pay call
    /// while it has not expired, else only by an inquiry.
    async fn follow(&self, row: NetworkPayment, code: &str) -> Result<NetworkPayment> {
        if row.state != NetworkState::Pending {
            return Ok(row);
        }
        if super::wall_clock_ms() <= row.expires_at_ms {
            return self.ask(row, code).await;
        }
        self.inquire(&row).await?;
        self.payment(row.id).await
    }

    /// What the network did with a pending payment. One it never heard of, asked once the payment's
    /// expiry and a further timeout have passed (a pay call still in flight then is refused by the
    /// network as expired), never happened: voided.
    async fn inquire(&self, row: &NetworkPayment) -> Result<()> {
        let network = self.connector(&row.network)?;
        let request_id = row.request_id.clone();
        let void_after = row.expires_at_ms + network.config().timeout_ms as i64;
        let outcome = match self.call(&network, move |n| n.inquire(&request_id)).await? {
            Ok(Some(outcome)) => outcome,
            Ok(None) if super::wall_clock_ms() > void_after => {
                NetworkOutcome::Declined { reason: "the network never received the payment".into() }
            }
            Ok(None) => return Ok(()),
            Err(why) => NetworkOutcome::Unknown { why },
        };
        self.settle(row, outcome).await
    }

    /// Apply the network's answer: succeeded posts the hold, declined voids it (both with the row, in
    /// one commit); unknown leaves it pending.
    async fn settle(&self, row: &NetworkPayment, outcome: NetworkOutcome) -> Result<()> {
        let now = self.core.now_ms();
        let (post, state, reference, failure) = match outcome {
            NetworkOutcome::Unknown { why } => {
                tracing::warn!(network = %row.network, payment = row.id, %why, "a network payment is still pending");
                return Ok(());
            }
            NetworkOutcome::Succeeded { reference } => (true, NetworkState::Succeeded, Some(reference), None),
            NetworkOutcome::Declined { reason } => (false, NetworkState::Declined, None, Some(reason)),
        };
        let guard = store::finish(row.id, state, reference.as_deref(), failure.as_deref(), now);
        let transfers = resolution(row, post);
        // A payment that did not happen made no exchange: its record goes with the hold.
        let effects = if post { Vec::new() } else { vec![crate::fx::delete_execution(row.id)] };
        match self.core.commit(Commit { guards: vec![guard], transfers, effects }).await? {
            Committed::Applied(results) => {
                chain_outcome(&results).map_err(|e| PlatformError::Internal(format!("resolving a network payment: {}", e.code())))?;
                Ok(())
            }
            Committed::GuardFailed(_) => Ok(()), // ended before
        }
    }

    /// Outbound payments the networks have not answered: ask them again, network by network, within a
    /// time budget (a network that is down is skipped for the rest of the round after its first
    /// failure, so it cannot hold up the others).
    pub async fn sweep(&self) -> Result<usize> {
        let started = std::time::Instant::now();
        let before = self.core.now_ms() - 1_000;
        let mut settled = 0;
        for network in self.connectors() {
            let id = network.config().id.clone();
            let pending = self.core.read(move |c| store::pending(c, &id, before, SWEEP_PAYMENTS_MAX)).await?;
            for row in pending {
                if started.elapsed() > SWEEP_BUDGET {
                    return Ok(settled);
                }
                match self.inquire(&row).await {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::warn!(network = %row.network, payment = row.id, error = %e, "asking a network about a payment");
                        break;
                    }
                }
                match self.payment(row.id).await?.state {
                    NetworkState::Pending => break, // the network has not decided (or did not answer): next round
                    _ => settled += 1,
                }
            }
        }
        Ok(settled)
    }

    /// A person's payments to partner networks' merchants, for their history: what each did to the
    /// wallet (held or paid counts as out; a declined one moved nothing).
    pub(crate) async fn history(&self, person: PersonId, window: crate::history::Window) -> Result<Vec<crate::history::HistoryItem>> {
        let rows = self.core.read(move |c| store::paid_by(c, person, window)).await?;
        Ok(rows
            .into_iter()
            .map(|p| crate::history::HistoryItem {
                kind: crate::history::HistoryKind::NetworkPayment,
                id: p.id,
                currency: p.payer_amount.currency(),
                amount_minor: if p.state == NetworkState::Declined { 0 } else { -p.payer_amount.minor() },
                counterparty_id: None,
                state: p.state.as_str(),
                created_at_ms: p.created_at_ms,
            })
            .collect())
    }

    /// A person's own network payment.
    pub async fn payment_of(&self, person: PersonId, id: i64) -> Result<NetworkPayment> {
        match self.payment(id).await? {
            p if p.person == Some(person) => Ok(p),
            _ => Err(PlatformError::NotFound("network payment")),
        }
    }
}

/// The amount a code fixes, or the one the person entered (in the code's currency).
fn total(identified: &Identified, amount: Option<&str>) -> Result<Option<Money>> {
    match (identified.amount, amount) {
        (Some(fixed), None) => Ok(Some(fixed)),
        (Some(fixed), Some(given)) => {
            let given = crate::wallet::parse_amount("amount", given, identified.currency)?;
            if given != fixed {
                return Err(PlatformError::invalid(
                    "amount",
                    format!("this code fixes the amount at {} {}", fixed.to_decimal_string(), fixed.currency()),
                ));
            }
            Ok(Some(fixed))
        }
        (None, Some(given)) => Ok(Some(crate::wallet::parse_amount("amount", given, identified.currency)?)),
        (None, None) => Ok(None),
    }
}

/// The hold's post (everything) or void, with its limit legs', as one linked chain.
fn resolution(row: &NetworkPayment, post: bool) -> Vec<NewTransfer> {
    let code = if post { chart::transfer::NETWORK_PAY_POST } else { chart::transfer::NETWORK_PAY_VOID };
    let mut pending = legs_of(limits(row.cross_border), hold_id(row.id));
    pending.push(hold_id(row.id));
    if row.payer_amount.currency() != row.amount.currency() {
        pending.push(fx_leg_id(row.id));
    }
    let pairs: Vec<(u128, u128)> = pending.into_iter().enumerate().map(|(i, p)| (chart::derived(row.id, code, i as u32), p)).collect();
    crate::core::resolve_pending(&pairs, post, row.id as u128)
}
