-- People, sessions, friends, groups, cards, social payments. Money itself lives in the ledger: these
-- tables hold who, why and when; every amount here is integer minor units; times are ms since the epoch.
CREATE TABLE people (
    id INT64 PRIMARY KEY,
    phone TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    region TEXT NOT NULL,
    display_name TEXT NOT NULL,
    kyc_tier INT64 NOT NULL DEFAULT 0,
    legal_name TEXT,
    id_document TEXT,
    pin_hmac BYTES,
    pin_failures INT64 NOT NULL DEFAULT 0,
    pin_locked_until INT64 NOT NULL DEFAULT 0,
    created_at INT64 NOT NULL
);

-- Bearer sessions: only the SHA-256 of the token is stored.
CREATE TABLE sessions (
    token_hash BYTES PRIMARY KEY,
    person_id INT64 NOT NULL REFERENCES people (id),
    expires_at INT64 NOT NULL,
    created_at INT64 NOT NULL
);

-- Both directions of every friendship; state 'requested' (by requested_by) or 'accepted'.
CREATE TABLE friendships (
    person_id INT64 NOT NULL REFERENCES people (id),
    friend_id INT64 NOT NULL REFERENCES people (id),
    state TEXT NOT NULL,
    requested_by INT64 NOT NULL,
    created_at INT64 NOT NULL,
    PRIMARY KEY (person_id, friend_id)
);

CREATE TABLE chat_groups (
    id INT64 PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id INT64 NOT NULL REFERENCES people (id),
    created_at INT64 NOT NULL
);

CREATE TABLE group_members (
    group_id INT64 NOT NULL REFERENCES chat_groups (id),
    person_id INT64 NOT NULL REFERENCES people (id),
    joined_at INT64 NOT NULL,
    PRIMARY KEY (group_id, person_id)
);

-- A POST with an Idempotency-Key is answered once; a replay gets the stored answer.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash BYTES NOT NULL,
    status INT64 NOT NULL,
    response TEXT,
    created_at INT64 NOT NULL,
    PRIMARY KEY (scope, idem_key)
);

-- Linked cards: a token from the rail's vault, never the number.
CREATE TABLE cards (
    id INT64 PRIMARY KEY,
    person_id INT64 NOT NULL REFERENCES people (id),
    token TEXT NOT NULL,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month INT64 NOT NULL,
    exp_year INT64 NOT NULL,
    created_at INT64 NOT NULL
);

-- Linked bank accounts: a token from the rail's vault and the last four digits, never the number.
CREATE TABLE bank_accounts (
    id INT64 PRIMARY KEY,
    person_id INT64 NOT NULL REFERENCES people (id),
    token TEXT NOT NULL,
    bank TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    last4 TEXT NOT NULL,
    created_at INT64 NOT NULL
);

-- Money in from, or out to, a rail (top-up, withdrawal); state pending, succeeded, failed.
CREATE TABLE rail_operations (
    id INT64 PRIMARY KEY,
    person_id INT64 NOT NULL REFERENCES people (id),
    kind TEXT NOT NULL,
    card_id INT64,
    bank_account_id INT64,
    currency INT64 NOT NULL,
    amount INT64 NOT NULL,
    state TEXT NOT NULL,
    rail_reference TEXT,
    failure TEXT,
    created_at INT64 NOT NULL,
    updated_at INT64 NOT NULL
);

-- Transfers between friends; their state is the ledger's pending state (pending/posted/voided/expired).
CREATE TABLE p2p_transfers (
    id INT64 PRIMARY KEY,
    sender_id INT64 NOT NULL REFERENCES people (id),
    receiver_id INT64 NOT NULL REFERENCES people (id),
    currency INT64 NOT NULL,
    amount INT64 NOT NULL,
    note TEXT NOT NULL,
    created_at INT64 NOT NULL,
    expires_at INT64 NOT NULL
);
CREATE INDEX p2p_transfers_sender ON p2p_transfers (sender_id, created_at);
CREATE INDEX p2p_transfers_receiver ON p2p_transfers (receiver_id, created_at);

CREATE TABLE red_packets (
    id INT64 PRIMARY KEY,
    sender_id INT64 NOT NULL REFERENCES people (id),
    split TEXT NOT NULL,
    receiver_id INT64,
    group_id INT64,
    currency INT64 NOT NULL,
    total INT64 NOT NULL,
    shares INT64 NOT NULL,
    title TEXT NOT NULL,
    cover TEXT,
    created_at INT64 NOT NULL,
    expires_at INT64 NOT NULL,
    -- funding (escrow not yet funded), open, expired (the rest returned), failed (never funded)
    state TEXT NOT NULL
);
CREATE INDEX red_packets_due ON red_packets (expires_at) WHERE state IN ('open', 'failed');
CREATE INDEX red_packets_sender ON red_packets (sender_id, created_at);

-- Shares are drawn when the packet is made; a claim takes the lowest unclaimed one.
CREATE TABLE red_packet_shares (
    packet_id INT64 NOT NULL REFERENCES red_packets (id),
    idx INT64 NOT NULL,
    amount INT64 NOT NULL,
    claimed_by INT64,
    claimed_at INT64,
    paid INT64 NOT NULL DEFAULT 0,
    PRIMARY KEY (packet_id, idx)
);
CREATE UNIQUE INDEX red_packet_shares_one_per_person ON red_packet_shares (packet_id, claimed_by);
CREATE INDEX red_packet_shares_claimer ON red_packet_shares (claimed_by, claimed_at);

-- Every operator action, append-only: who, what, on what, and the details (never secrets).
CREATE TABLE audit_log (
    id INT64 PRIMARY KEY,
    at INT64 NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
