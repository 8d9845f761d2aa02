#!/usr/bin/env python3
"""Differential corpus generator: real TigerBeetle answers for Qianbao's ledger tests.

Sends seeded random batches of ``create_accounts`` / ``create_transfers`` to a running
TigerBeetle server and records, for every batch, the events sent, TigerBeetle's answer to each
event (its snake_case status name) and the balances and flags of accounts 1..12 afterwards. The
Rust test ``crates/ledger/tests/tigerbeetle_corpus.rs`` replays every batch through Qianbao's
engine and compares every answer and every balance.

Usage (see README.md beside this file for the server):

    python3 differential.py --seed 1 --batches 150 --out corpus/seed-1.json

Requirements: the PyPI client ``tigerbeetle==0.17.9`` and a TigerBeetle server (default
``127.0.0.1:3001``, cluster 0). Only loopback addresses are meant to be used.

Determinism: the events of a run depend only on ``--seed``, ``--batches`` and TigerBeetle's
answers (the generator steers by them: it posts and voids pending transfers it saw created), so
a run with the same seed against the same server version writes the same corpus.

Fresh ids: every run adds a random per-run offset (a random 64-bit value shifted left by 32) to
every account, transfer and pending id it sends, so it never collides with objects of an earlier
run in the same data file. The offset is subtracted again in the corpus. The reserved ids 0 and
2^128-1 are sent and written as they are.

What is generated:
  * fixed accounts (all code 1, user_data 0): on ledger 1 (CNY) 1 and 2 plain, 3
    debits_must_not_exceed_credits, 4 credits_must_not_exceed_debits, 5 plain, 6
    debits_must_not_exceed_credits; on ledger 2 (HKD) 7 plain. Account 8 never exists.
  * transfer batches of 1 to 12 events: ids mostly fresh, else one of the last 40 ids (so
    existing and failed ids collide often; now and then 0 or 2^128-1), plain,
    pending, post, void, balancing and closing transfers, nonsense flag mixes, linked chains
    (also left open at the end of a batch), amounts 0..120 or 2^128-1 (only on post, void and
    balancing transfers), timeouts 0 or 3600 s (nothing expires during a run), ledgers 0/1/2,
    codes 0/1/2, small user_data_128 values; about a quarter of the batches re-send earlier
    events verbatim or with one field changed.
  * about one batch in ten is an account batch: ids 1..7 and 9..12 (rarely 0 or 2^128-1),
    ledger 1 or 2, random flags among linked / the two limits (both too) / closed, code 0 now
    and then.
  * never: the imported or history flags, unknown flag bits, user_data_64/32, timestamps.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from typing import Any

AMOUNT_MAX = (1 << 128) - 1
ID_MAX = (1 << 128) - 1
RESERVED_IDS = (0, ID_MAX)

TIGERBEETLE_COMMIT = "52ad553f96355e63516ecfc8db25540c17c1c0c7"
CLIENT_VERSION = "0.17.9"

# Flag names in bit order, as TigerBeetle's src/tigerbeetle.zig declares them.
ACCOUNT_FLAG_NAMES = [
    "linked",
    "debits_must_not_exceed_credits",
    "credits_must_not_exceed_debits",
    "history",
    "imported",
    "closed",
]
TRANSFER_FLAG_NAMES = [
    "linked",
    "pending",
    "post_pending_transfer",
    "void_pending_transfer",
    "balancing_debit",
    "balancing_credit",
    "closing_debit",
    "closing_credit",
    "imported",
]
A_LINKED, A_DMNEC, A_CMNED, A_HISTORY, A_IMPORTED, A_CLOSED = (1 << i for i in range(6))
T_LINKED, T_PENDING, T_POST, T_VOID, T_BDR, T_BCR, T_CDR, T_CCR, T_IMPORTED = (
    1 << i for i in range(9)
)

# The accounts every run starts with: (id, ledger, flags).
FIXED_ACCOUNTS = [
    (1, 1, 0),
    (2, 1, 0),
    (3, 1, A_DMNEC),
    (4, 1, A_CMNED),
    (5, 1, 0),
    (6, 1, A_DMNEC),
    (7, 2, 0),
]
LOOKED_UP_ACCOUNTS = list(range(1, 13))
ACCOUNT_BATCH_IDS = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12]  # never 8: it must stay missing
# Transfer ids: a fresh one (the next unused) or one of the last RECENT_IDS ids, so that retries,
# duplicates, existing ids and failed ids collide often while new transfers still get created.
RECENT_IDS = 40


def flag_names(bits: int, names: list[str]) -> list[str]:
    """The names of the set bits; an unknown bit is an error (the generator never sends one)."""
    out = [name for i, name in enumerate(names) if bits & (1 << i)]
    if bits >> len(names):
        raise ValueError(f"unknown flag bits in {bits:#x}")
    return out


class Generator:
    """Seeded random events. It learns from TigerBeetle's answers which pending transfers are
    outstanding and which accounts exist, so that posts, voids and transfers often succeed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next_id = 0  # the highest transfer id handed out so far
        # Account id -> ledger, for accounts known to exist (fixed ones and created ones).
        self.ledger_of: dict[int, int] = {a[0]: a[1] for a in FIXED_ACCOUNTS}
        # Account id -> the last account event sent with that id (to retry it).
        self.account_sent: dict[int, dict[str, int]] = {
            a[0]: {"id": a[0], "ledger": a[1], "code": 1, "flags": a[2], "user_data": 0}
            for a in FIXED_ACCOUNTS
        }
        self.pending_outstanding: dict[int, dict[str, int]] = {}  # created, not posted/voided
        self.pending_ever: dict[int, dict[str, int]] = {}  # created pending transfers
        self.pending_sent: list[int] = []  # ids ever sent with the pending flag
        self.transfer_batches: list[list[dict[str, int]]] = []
        self.transfer_events: list[dict[str, int]] = []

    # -- small random helpers -------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, weighted: list[tuple[Any, float]]) -> Any:
        values, weights = zip(*weighted)
        return self.rng.choices(values, weights=weights)[0]

    def small_amount(self) -> int:
        return self.pick([(0, 0.05), (self.rng.randint(1, 20), 0.6), (self.rng.randint(21, 120), 0.35)])

    def transfer_id(self) -> int:
        choice = self.pick([("fresh", 0.7), ("recent", 0.26), (0, 0.02), (ID_MAX, 0.02)])
        if choice == "fresh":
            self.next_id += 1
            return self.next_id
        if choice == "recent":
            return self.recent_id()
        return choice

    def recent_id(self) -> int:
        """One of the last RECENT_IDS transfer ids handed out (maybe never used yet)."""
        return self.rng.randint(max(1, self.next_id - RECENT_IDS + 1), max(1, self.next_id))

    def account_pair(self, ledger: int, noisy: bool) -> tuple[int, int]:
        """Debit and credit account ids: two different existing accounts of ``ledger`` when
        clean; when noisy, each side may also be any of 0..8 (8 never exists) or 2^128-1, and
        both sides may be the same account."""
        same = sorted(i for i, l in self.ledger_of.items() if l == ledger) or [1, 2]
        if len(same) == 1:
            same = same + [self.rng.choice(sorted(self.ledger_of))]
        debit, credit = self.rng.sample(same, 2)
        if noisy:
            side = self.rng.choice(["debit", "credit", "both", "equal"])
            other = lambda: self.pick([(self.rng.randint(0, 8), 0.8), (8, 0.1), (ID_MAX, 0.1)])  # noqa: E731
            if side in ("debit", "both"):
                debit = other()
            if side in ("credit", "both"):
                credit = other()
            if side == "equal":
                credit = debit
        return debit, credit

    def user_data(self) -> int:
        return self.pick([(0, 0.8), (self.rng.randint(1, 5), 0.2)])

    # -- transfers -------------------------------------------------------------------------

    def transfer(self) -> dict[str, int]:
        kind = self.pick(
            [
                ("plain", 0.30),
                ("pending", 0.22),
                ("post", 0.16),
                ("void", 0.11),
                ("balancing", 0.10),
                ("closing", 0.03),
                ("nonsense", 0.06),
            ]
        )
        # A clean event has valid fields (it may still fail: limits, closed accounts, ids); a
        # noisy one gets one or two fields from the error-prone choices.
        noisy = {n: False for n in ("ledger", "code", "accounts", "timeout", "pending_id")}
        if self.chance(0.25):
            for name in self.rng.sample(sorted(noisy), self.rng.randint(1, 2)):
                noisy[name] = True
        ledger = self.pick([(1, 0.88), (2, 0.12)])
        if noisy["ledger"]:
            ledger = self.rng.choice([0, 1, 2])
        t = {
            "id": self.transfer_id(),
            "debit_account_id": 0,
            "credit_account_id": 0,
            "amount": self.small_amount(),
            "pending_id": 0,
            "ledger": ledger,
            "code": self.rng.choice([0, 1, 2]) if noisy["code"] else 1,
            "flags": 0,
            "timeout": 0,
            "user_data": self.user_data(),
        }
        if kind in ("post", "void"):
            self.post_or_void(t, T_POST if kind == "post" else T_VOID, noisy)
        else:
            accounts_ledger = ledger if ledger else 1
            if noisy["ledger"] and self.chance(0.5):
                accounts_ledger = self.rng.choice([1, 2])  # maybe not the transfer's ledger
            t["debit_account_id"], t["credit_account_id"] = self.account_pair(accounts_ledger, noisy["accounts"])
            if kind == "pending":
                t["flags"] = T_PENDING
                t["timeout"] = self.pick([(0, 0.7), (3600, 0.3)])
            elif kind == "balancing":
                t["flags"] = self.pick([(T_BDR, 0.45), (T_BCR, 0.45), (T_BDR | T_BCR, 0.1)])
                if self.chance(0.2):
                    t["flags"] |= T_PENDING
                    t["timeout"] = self.pick([(0, 0.7), (3600, 0.3)])
                if self.chance(0.4):
                    t["amount"] = AMOUNT_MAX
            elif kind == "closing":
                t["flags"] = self.pick([(T_CDR, 0.45), (T_CCR, 0.45), (T_CDR | T_CCR, 0.1)])
                if self.chance(0.9):
                    t["flags"] |= T_PENDING
                t["timeout"] = self.pick([(0, 0.6), (3600, 0.4)])
            elif kind == "nonsense":
                t["flags"] = self.rng.getrandbits(8) & ~T_LINKED
                if t["flags"] & (T_POST | T_VOID) and self.chance(0.7):
                    t["pending_id"] = self.pending_target(t["id"])
                if self.chance(0.3):
                    t["timeout"] = 3600
            if noisy["timeout"]:
                t["timeout"] = 0 if t["timeout"] else 3600  # 3600 on a non-pending one: an error
            if noisy["pending_id"]:
                t["pending_id"] = self.pick([(self.recent_id(), 0.8), (ID_MAX, 0.2)])
        if self.chance(0.2):
            t["flags"] |= T_LINKED
        self.sanitize(t)
        return t

    def pending_good(self, void: bool = True) -> int:
        """A pending_id that is mostly an outstanding pending transfer: for a void, closing ones
        first (to re-open their accounts); for a post, mostly others (a closing one cannot be
        posted: its account is closed)."""
        outstanding = sorted(self.pending_outstanding)
        closing = [i for i in outstanding if self.pending_outstanding[i]["flags"] & (T_CDR | T_CCR)]
        if closing and self.chance(0.7 if void else 0.05):
            return self.rng.choice(closing)
        if not void and self.chance(0.95):
            outstanding = [i for i in outstanding if i not in closing]
        if outstanding and self.chance(0.8):
            return self.rng.choice(outstanding)
        if self.pending_ever and self.chance(0.7):
            return self.rng.choice(sorted(self.pending_ever))  # already posted or voided
        return self.rng.choice(self.pending_sent) if self.pending_sent else self.recent_id()

    def pending_target(self, own: int) -> int:
        """A noisy pending_id for a post or void: often not an outstanding pending transfer."""
        return self.pick(
            [
                (self.pending_good(), 0.3),
                (self.rng.choice(self.pending_sent) if self.pending_sent else 1, 0.15),  # maybe failed
                (self.recent_id(), 0.15),  # maybe not pending, maybe failed, maybe missing
                (0, 0.1),
                (ID_MAX, 0.1),
                (own, 0.1),
                (self.next_id + self.rng.randint(1000, 2000), 0.1),  # not an id yet
            ]
        )

    def post_or_void(self, t: dict[str, int], flag: int, noisy: dict[str, bool]) -> None:
        t["flags"] = flag
        if noisy["pending_id"]:
            t["pending_id"] = self.pending_target(t["id"])
        else:
            t["pending_id"] = self.pending_good(void=flag == T_VOID)
        p = self.pending_ever.get(t["pending_id"])
        if flag == T_POST:
            t["amount"] = self.pick(
                [
                    (AMOUNT_MAX, 0.3),
                    (0, 0.1),
                    (p["amount"] if p else self.small_amount(), 0.25),
                    (self.rng.randint(0, p["amount"]) if p else self.small_amount(), 0.25),
                    (self.small_amount(), 0.1),
                ]
            )
        else:
            t["amount"] = self.pick(
                [
                    (0, 0.55),
                    (p["amount"] if p else self.small_amount(), 0.25),
                    (self.small_amount(), 0.12),
                    (AMOUNT_MAX, 0.08),
                ]
            )
        # debit/credit/ledger/code are optional (0 = the pending transfer's): given or left 0
        # when clean, maybe given wrong when noisy.
        for field, noise in (
            ("debit_account_id", "accounts"),
            ("credit_account_id", "accounts"),
            ("ledger", "ledger"),
            ("code", "code"),
        ):
            t[field] = self.pick([(0, 0.65), (p[field] if p else 0, 0.35)])
            if noisy[noise] and self.chance(0.5):
                t[field] = {"ledger": 2, "code": 2}.get(field, self.rng.randint(1, 8))
        if noisy["timeout"]:
            t["timeout"] = 3600  # not allowed on a post/void
        if self.chance(0.04):
            t["flags"] |= self.rng.choice([T_PENDING, T_BDR, T_BCR, T_CDR, T_CCR, T_POST | T_VOID])

    def sanitize(self, t: dict[str, int]) -> None:
        """AMOUNT_MAX only where it means something (post, void, balancing): a plain or pending
        transfer of 2^128-1 would be created and leave balances no other engine can hold."""
        if t["amount"] == AMOUNT_MAX and not t["flags"] & (T_POST | T_VOID | T_BDR | T_BCR):
            t["amount"] = self.rng.randint(1, 120)

    def mutate(self, t: dict[str, int]) -> dict[str, int]:
        """A copy of ``t`` with one field changed."""
        t = dict(t)
        field = self.pick(
            [
                ("linked", 0.25),
                ("amount", 0.2),
                ("user_data", 0.12),
                ("timeout", 0.1),
                ("flag", 0.08),
                ("pending_id", 0.06),
                ("debit_account_id", 0.06),
                ("credit_account_id", 0.05),
                ("ledger", 0.04),
                ("code", 0.04),
            ]
        )
        if field == "linked":
            t["flags"] ^= T_LINKED
        elif field == "amount":
            t["amount"] = self.pick(
                [(t["amount"] + 1 if t["amount"] < AMOUNT_MAX else 5, 0.4), (self.small_amount(), 0.4), (AMOUNT_MAX, 0.2)]
            )
        elif field == "user_data":
            t["user_data"] = t["user_data"] + 1 if self.chance(0.7) else 0
        elif field == "timeout":
            t["timeout"] = 0 if t["timeout"] else 3600
        elif field == "flag":
            t["flags"] ^= self.rng.choice([T_PENDING, T_POST, T_VOID, T_BDR, T_BCR, T_CDR, T_CCR])
        elif field == "pending_id":
            t["pending_id"] = self.pick([(0, 0.3), (self.recent_id(), 0.7)])
        elif field in ("debit_account_id", "credit_account_id"):
            t[field] = self.rng.randint(0, 8)
        elif field == "ledger":
            t["ledger"] = self.rng.choice([x for x in (0, 1, 2) if x != t["ledger"]])
        elif field == "code":
            t["code"] = self.rng.choice([x for x in (0, 1, 2) if x != t["code"]])
        self.sanitize(t)
        return t

    def transfer_batch(self) -> list[dict[str, int]]:
        if self.transfer_batches and self.chance(0.25):
            return self.retry_batch()
        events = [self.transfer() for _ in range(self.rng.randint(1, 12))]
        if self.chance(0.06):
            events[-1]["flags"] |= T_LINKED  # a chain left open at the end of the batch
        return events

    def retry_batch(self) -> list[dict[str, int]]:
        style = self.pick([("whole", 0.4), ("mixed", 0.4), ("duplicate", 0.2)])
        if style == "whole":
            recent = self.transfer_batches[-30:]
            events = [dict(t) for t in self.rng.choice(recent)]
            if self.chance(0.5):
                i = self.rng.randrange(len(events))
                events[i] = self.mutate(events[i])
            return events
        if style == "duplicate":
            # the same event twice (or more) in one batch, maybe one of them changed
            t = self.transfer()
            events = [t, dict(t)]
            if self.chance(0.4):
                events[1] = self.mutate(t)
            if self.chance(0.3):
                events.insert(0, self.transfer())
            return events
        events = []
        for _ in range(self.rng.randint(1, 12)):
            if self.chance(0.5):
                old = self.rng.choice(self.transfer_events[-200:])
                events.append(self.mutate(old) if self.chance(0.4) else dict(old))
            else:
                events.append(self.transfer())
        return events

    def saw_transfers(self, events: list[dict[str, int]], results: list[str]) -> None:
        self.transfer_batches.append(events)
        self.transfer_events.extend(events)
        for t, r in zip(events, results):
            if t["flags"] & T_PENDING and t["id"] not in self.pending_sent:
                self.pending_sent.append(t["id"])
            if r != "created":
                continue
            if t["flags"] & T_PENDING:
                self.pending_outstanding[t["id"]] = t
                self.pending_ever[t["id"]] = t
            if t["flags"] & (T_POST | T_VOID):
                self.pending_outstanding.pop(t["pending_id"], None)

    # -- accounts --------------------------------------------------------------------------

    def account(self) -> dict[str, int]:
        ident = self.pick([(self.rng.choice(ACCOUNT_BATCH_IDS), 0.96), (0, 0.02), (ID_MAX, 0.02)])
        old = self.account_sent.get(ident)
        if old is not None and self.chance(0.5):
            a = dict(old)  # a retry, verbatim or with one field changed
            if self.chance(0.6):
                field = self.pick([("linked", 0.35), ("flags", 0.2), ("ledger", 0.15), ("code", 0.15), ("user_data", 0.15)])
                if field == "linked":
                    a["flags"] ^= A_LINKED
                elif field == "flags":
                    a["flags"] ^= self.rng.choice([A_DMNEC, A_CMNED, A_CLOSED])
                elif field == "ledger":
                    a["ledger"] = 3 - a["ledger"]
                elif field == "code":
                    a["code"] = self.rng.choice([x for x in (0, 1, 2) if x != a["code"]])
                else:
                    a["user_data"] = a["user_data"] + 1
            return a
        flags = self.pick(
            [
                (0, 0.45),
                (A_DMNEC, 0.15),
                (A_CMNED, 0.15),
                (A_DMNEC | A_CMNED, 0.1),
                (A_CLOSED, 0.1),
                (A_CLOSED | self.rng.choice([A_DMNEC, A_CMNED]), 0.05),
            ]
        )
        if self.chance(0.3):
            flags |= A_LINKED
        return {
            "id": ident,
            "ledger": self.pick([(1, 0.6), (2, 0.4)]),
            "code": self.pick([(1, 0.85), (0, 0.08), (2, 0.07)]),
            "flags": flags,
            "user_data": self.user_data(),
        }

    def account_batch(self) -> list[dict[str, int]]:
        events = [self.account() for _ in range(self.rng.randint(1, 6))]
        if self.chance(0.1):
            events[-1]["flags"] |= A_LINKED
        return events

    def saw_accounts(self, events: list[dict[str, int]], results: list[str]) -> None:
        for a, r in zip(events, results):
            if a["id"] not in RESERVED_IDS:
                self.account_sent.setdefault(a["id"], a)
            if r == "created":
                self.ledger_of[a["id"]] = a["ledger"]
                self.account_sent[a["id"]] = a


class Runner:
    """Talks to TigerBeetle, translating ids by the run's offset."""

    def __init__(self, client: Any, offset: int) -> None:
        import tigerbeetle as tb  # imported here so that --help works without the client

        self.tb = tb
        self.client = client
        self.offset = offset

    def wire_id(self, ident: int) -> int:
        return ident if ident in RESERVED_IDS else ident + self.offset

    def create_accounts(self, events: list[dict[str, int]]) -> list[str]:
        tb = self.tb
        accounts = [
            tb.Account(
                id=self.wire_id(a["id"]),
                ledger=a["ledger"],
                code=a["code"],
                flags=a["flags"],
                user_data_128=a["user_data"],
            )
            for a in events
        ]
        results = self.client.create_accounts(accounts)
        assert len(results) == len(events), "one result per event"
        return [r.status.name.lower() for r in results]

    def create_transfers(self, events: list[dict[str, int]]) -> list[str]:
        tb = self.tb
        transfers = [
            tb.Transfer(
                id=self.wire_id(t["id"]),
                debit_account_id=self.wire_id(t["debit_account_id"]),
                credit_account_id=self.wire_id(t["credit_account_id"]),
                amount=t["amount"],
                pending_id=self.wire_id(t["pending_id"]),
                user_data_128=t["user_data"],
                timeout=t["timeout"],
                ledger=t["ledger"],
                code=t["code"],
                flags=t["flags"],
            )
            for t in events
        ]
        results = self.client.create_transfers(transfers)
        assert len(results) == len(events), "one result per event"
        return [r.status.name.lower() for r in results]

    def balances(self) -> dict[str, dict[str, Any]]:
        found = self.client.lookup_accounts([self.wire_id(i) for i in LOOKED_UP_ACCOUNTS])
        out = {}
        for a in sorted(found, key=lambda a: a.id):
            out[str(a.id - self.offset)] = {
                "debits_pending": str(a.debits_pending),
                "debits_posted": str(a.debits_posted),
                "credits_pending": str(a.credits_pending),
                "credits_posted": str(a.credits_posted),
                "flags": flag_names(int(a.flags), ACCOUNT_FLAG_NAMES),
            }
        return out


def account_json(a: dict[str, int]) -> dict[str, Any]:
    return {
        "id": str(a["id"]),
        "ledger": a["ledger"],
        "code": a["code"],
        "flags": flag_names(a["flags"], ACCOUNT_FLAG_NAMES),
        "user_data": str(a["user_data"]),
    }


def transfer_json(t: dict[str, int]) -> dict[str, Any]:
    return {
        "id": str(t["id"]),
        "debit_account_id": str(t["debit_account_id"]),
        "credit_account_id": str(t["credit_account_id"]),
        "amount": str(t["amount"]),
        "pending_id": str(t["pending_id"]),
        "ledger": t["ledger"],
        "code": t["code"],
        "flags": flag_names(t["flags"], TRANSFER_FLAG_NAMES),
        "timeout": t["timeout"],
        "user_data": str(t["user_data"]),
    }


def run(client: Any, seed: int, batches: int, offset: int) -> dict[str, Any]:
    gen = Generator(seed)
    runner = Runner(client, offset)
    fixed = [gen.account_sent[a[0]] for a in FIXED_ACCOUNTS]
    answers = runner.create_accounts(fixed)
    if answers != ["created"] * len(fixed):
        raise SystemExit(f"creating the fixed accounts answered {answers}: are the ids fresh?")
    corpus: dict[str, Any] = {
        "tigerbeetle": TIGERBEETLE_COMMIT,
        "client": CLIENT_VERSION,
        "seed": seed,
        "accounts": [account_json(a) for a in fixed],
        "batches": [],
    }
    for _ in range(batches):
        if gen.chance(0.1):
            events = gen.account_batch()
            results = runner.create_accounts(events)
            gen.saw_accounts(events, results)
            batch = {"kind": "accounts", "events": [account_json(a) for a in events]}
        else:
            events = gen.transfer_batch()
            results = runner.create_transfers(events)
            gen.saw_transfers(events, results)
            batch = {"kind": "transfers", "events": [transfer_json(t) for t in events]}
        batch["results"] = results
        batch["balances"] = runner.balances()
        corpus["batches"].append(batch)
    return corpus


def dump(corpus: dict[str, Any]) -> str:
    """JSON with one event, one result list and one account's balances per line: diffable, and
    small enough to keep in the repository."""
    line = lambda v: json.dumps(v, separators=(",", ":"))  # noqa: E731
    out = ["{"]
    for key in ("tigerbeetle", "client", "seed"):
        out.append(f"  {json.dumps(key)}: {line(corpus[key])},")
    out.append('  "accounts": [')
    out.append(",\n".join(f"    {line(a)}" for a in corpus["accounts"]))
    out.append("  ],")
    out.append('  "batches": [')
    batches = []
    for b in corpus["batches"]:
        parts = [f'    {{"kind": {line(b["kind"])}, "events": [']
        parts.append(",\n".join(f"      {line(e)}" for e in b["events"]))
        parts.append(f'    ], "results": {line(b["results"])}, "balances": {{')
        parts.append(",\n".join(f"      {line(k)}: {line(v)}" for k, v in b["balances"].items()))
        parts.append("    }}")  # closes the balances and the batch
        batches.append("\n".join(parts))
    out.append(",\n".join(batches))
    out.append("  ]")
    out.append("}")
    text = "\n".join(out) + "\n"
    assert json.loads(text) == corpus
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Send seeded random batches to a TigerBeetle server and record its answers "
        "and balances as a corpus for crates/ledger/tests/tigerbeetle_corpus.rs.",
    )
    parser.add_argument("--seed", type=int, required=True, help="random seed of the generator")
    parser.add_argument("--batches", type=int, default=150, help="number of batches (default 150, about 350 KB)")
    parser.add_argument("--out", required=True, help="corpus file to write (JSON)")
    parser.add_argument(
        "--address", default="127.0.0.1:3001", help="TigerBeetle replica address (default 127.0.0.1:3001)"
    )
    parser.add_argument("--cluster", type=int, default=0, help="TigerBeetle cluster id (default 0)")
    parser.add_argument(
        "--id-offset",
        type=lambda s: int(s, 0),
        default=None,
        help="offset added to every id on the wire (default: random 64-bit value << 32)",
    )
    args = parser.parse_args(argv)

    import tigerbeetle as tb

    offset = args.id_offset
    if offset is None:
        offset = (int.from_bytes(os.urandom(8), "little") | 1) << 32
    with tb.ClientSync(cluster_id=args.cluster, replica_addresses=args.address) as client:
        corpus = run(client, args.seed, args.batches, offset)
    text = dump(corpus)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    counts: dict[str, int] = {}
    for b in corpus["batches"]:
        for r in b["results"]:
            counts[r] = counts.get(r, 0) + 1
    print(f"{args.out}: {len(corpus['batches'])} batches, {len(text)} bytes", file=sys.stderr)
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {n:5d} {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
