-- Movements the risk engine held for review: the money waits as a ledger pending transfer (a transfer
-- to a friend, a withdrawal) until a reviewer releases it or returns it to its owner, or the deadline
-- passes (returned). `id` is the held movement's own id; `evidence` is what the engine saw (JSON).
CREATE TABLE risk_reviews (
    id INT64 PRIMARY KEY,
    kind TEXT NOT NULL,
    person_id INT64 NOT NULL,
    currency INT64 NOT NULL,
    amount INT64 NOT NULL,
    rule_id TEXT NOT NULL,
    evidence TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INT64 NOT NULL,
    deadline_at INT64 NOT NULL,
    decided_by TEXT,
    decided_at INT64,
    reason TEXT
);
CREATE INDEX risk_reviews_state ON risk_reviews (state, deadline_at);

-- A transfer to a friend under review cannot be accepted or declined until it is released.
ALTER TABLE p2p_transfers ADD COLUMN held INT64 NOT NULL DEFAULT 0;

-- The red packets a person may open (the web wallet lists them): by receiver, and by group through the
-- person's memberships.
CREATE INDEX red_packets_receiver ON red_packets (receiver_id, created_at) WHERE receiver_id IS NOT NULL;
CREATE INDEX red_packets_group ON red_packets (group_id, created_at) WHERE group_id IS NOT NULL;
CREATE INDEX group_members_person ON group_members (person_id);

-- A merchant's static codes (its console lists them).
CREATE INDEX static_codes_merchant ON static_codes (merchant_id, created_at);
