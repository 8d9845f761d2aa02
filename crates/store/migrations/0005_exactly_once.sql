-- Exactly once, and the defects found when the platform was attacked.

-- An idempotency record is written only with its final answer now: rows left "in progress" by older
-- versions are dropped (a request that moved money is found again by the id its key derives).
DELETE FROM idempotency_keys WHERE status = 0;

-- KYC: the identity document sealed under the server secret, a MAC of it so that one document verifies
-- one wallet, and the tier's version, which keys the limit periods (a downgrade takes effect at once).
ALTER TABLE people ADD COLUMN kyc_version INT64 NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN id_document_sealed BYTES;
ALTER TABLE people ADD COLUMN id_document_mac BYTES;
CREATE UNIQUE INDEX people_id_document ON people (id_document_mac);

-- Merchant API nonces, remembered durably and by every instance for the signature window.
CREATE TABLE merchant_nonces (
    mchid TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at INT64 NOT NULL,
    PRIMARY KEY (mchid, nonce)
) /*sqlite: WITHOUT ROWID*/;
CREATE INDEX merchant_nonces_seen ON merchant_nonces (seen_at);

-- Instances alive (heartbeats), so per-merchant rate limits hold across them.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    seen_at INT64 NOT NULL
);

-- The sandbox rail's memory: what each idempotency key was asked and answered (an acquirer remembers
-- what it did when we crash).
CREATE TABLE sandbox_rail (
    idempotency_key TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    operation TEXT NOT NULL,            -- charge, payout, refund
    behaviour TEXT NOT NULL,            -- the test card's or bank account's behaviour
    amount INT64 NOT NULL,
    refunded INT64 NOT NULL DEFAULT 0,  -- charges: refunded so far
    outcome TEXT NOT NULL,              -- approved, declined, pending
    reason TEXT,
    parent TEXT,                        -- refunds: the charge's reference
    created_at INT64 NOT NULL
);

-- History reads each domain's rows per person and kind, newest first.
CREATE INDEX rail_operations_person ON rail_operations (person_id, kind, created_at);
CREATE INDEX orders_payer ON orders (payer_id, success_at);
CREATE INDEX refunds_order ON refunds (order_id);

-- When a merchant's credentials last changed: every instance forgets its cached copy within a second.
ALTER TABLE merchants ADD COLUMN updated_at INT64 NOT NULL DEFAULT 0;
CREATE INDEX merchants_updated ON merchants (updated_at);
