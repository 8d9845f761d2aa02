-- People, sessions, friends, groups, cards, social payments. Money itself lives in the ledger: these
-- tables hold who, why and when; every amount here is integer minor units; times are ms since the epoch.
CREATE TABLE people (
    id BIGINT PRIMARY KEY,
    phone TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    region TEXT NOT NULL,
    display_name TEXT NOT NULL,
    kyc_tier BIGINT NOT NULL DEFAULT 0,
    legal_name TEXT,
    id_document TEXT,
    pin_hmac BYTEA,
    pin_failures BIGINT NOT NULL DEFAULT 0,
    pin_locked_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Bearer sessions: only the SHA-256 of the token is stored.
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES people (id),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Both directions of every friendship; state 'requested' (by requested_by) or 'accepted'.
CREATE TABLE friendships (
    person_id BIGINT NOT NULL REFERENCES people (id),
    friend_id BIGINT NOT NULL REFERENCES people (id),
    state TEXT NOT NULL,
    requested_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, friend_id)
);

CREATE TABLE chat_groups (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES people (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES chat_groups (id),
    person_id BIGINT NOT NULL REFERENCES people (id),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, person_id)
);

-- A POST with an Idempotency-Key is answered once; a replay gets the stored answer.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    status BIGINT NOT NULL,
    response TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);

-- Linked cards: a token from the rail's vault, never the number.
CREATE TABLE cards (
    id BIGINT PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES people (id),
    token TEXT NOT NULL,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month BIGINT NOT NULL,
    exp_year BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Linked bank accounts: a token from the rail's vault and the last four digits, never the number.
CREATE TABLE bank_accounts (
    id BIGINT PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES people (id),
    token TEXT NOT NULL,
    bank TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    last4 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Money in from, or out to, a rail (top-up, withdrawal); state pending, succeeded, failed.
CREATE TABLE rail_operations (
    id BIGINT PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES people (id),
    kind TEXT NOT NULL,
    card_id BIGINT,
    bank_account_id BIGINT,
    currency BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    state TEXT NOT NULL,
    rail_reference TEXT,
    failure TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Transfers between friends; their state is the ledger's pending state (pending/posted/voided/expired).
CREATE TABLE p2p_transfers (
    id BIGINT PRIMARY KEY,
    sender_id BIGINT NOT NULL REFERENCES people (id),
    receiver_id BIGINT NOT NULL REFERENCES people (id),
    currency BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX p2p_transfers_sender ON p2p_transfers (sender_id, created_at);
CREATE INDEX p2p_transfers_receiver ON p2p_transfers (receiver_id, created_at);

CREATE TABLE red_packets (
    id BIGINT PRIMARY KEY,
    sender_id BIGINT NOT NULL REFERENCES people (id),
    split TEXT NOT NULL,
    receiver_id BIGINT,
    group_id BIGINT,
    currency BIGINT NOT NULL,
    total BIGINT NOT NULL,
    shares BIGINT NOT NULL,
    title TEXT NOT NULL,
    cover TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- funding (escrow not yet funded), open, expired (the rest returned), failed (never funded)
    state TEXT NOT NULL
);
CREATE INDEX red_packets_due ON red_packets (expires_at) WHERE state IN ('open', 'failed');
CREATE INDEX red_packets_sender ON red_packets (sender_id, created_at);

-- Shares are drawn when the packet is made; a claim takes the lowest unclaimed one.
CREATE TABLE red_packet_shares (
    packet_id BIGINT NOT NULL REFERENCES red_packets (id),
    idx BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    claimed_by BIGINT,
    claimed_at BIGINT,
    paid BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (packet_id, idx)
);
CREATE UNIQUE INDEX red_packet_shares_one_per_person ON red_packet_shares (packet_id, claimed_by);
CREATE INDEX red_packet_shares_claimer ON red_packet_shares (claimed_by, claimed_at);

-- Every operator action, append-only: who, what, on what, and the details (never secrets).
CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
