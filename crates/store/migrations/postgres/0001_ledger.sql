-- The ledger. Ids and user_data are 16-byte big-endian u128 (byte order = numeric order); amounts and
-- balances are minor units in signed 64-bit columns (the engine caps them at 2^63-1); timestamps are
-- nanoseconds since the Unix epoch.
CREATE TABLE accounts (
    id BYTEA PRIMARY KEY,
    currency BIGINT NOT NULL,
    code BIGINT NOT NULL,
    flags BIGINT NOT NULL,
    user_data BYTEA NOT NULL,
    debits_pending BIGINT NOT NULL,
    debits_posted BIGINT NOT NULL,
    credits_pending BIGINT NOT NULL,
    credits_posted BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    -- Timestamp of the last batch that changed the account: a later batch touching it gets a later one.
    last_ts BIGINT NOT NULL
) WITH (fillfactor = 50); -- room on each page so balance updates are HOT (no index write per update)

-- The journal: committed transfers, never updated.
CREATE TABLE transfers (
    id BYTEA PRIMARY KEY,
    debit_account_id BYTEA NOT NULL,
    credit_account_id BYTEA NOT NULL,
    amount BIGINT NOT NULL,
    pending_id BYTEA,
    currency BIGINT NOT NULL,
    code BIGINT NOT NULL,
    flags BIGINT NOT NULL,
    timeout_s BIGINT NOT NULL,
    user_data BYTEA NOT NULL,
    timestamp BIGINT NOT NULL
);

-- Where each pending transfer stands (0 pending, 1 posted, 2 voided, 3 expired) and since when.
CREATE TABLE pending_transfers (
    id BYTEA PRIMARY KEY,
    state BIGINT NOT NULL,
    expires_at BIGINT,
    timestamp BIGINT NOT NULL
);
CREATE INDEX pending_transfers_due ON pending_transfers (expires_at) WHERE state = 0 AND expires_at IS NOT NULL;

-- Transfers that failed: the id keeps its first result.
CREATE TABLE failed_transfers (
    id BYTEA PRIMARY KEY,
    error TEXT NOT NULL,
    debit_account_id BYTEA NOT NULL,
    credit_account_id BYTEA NOT NULL,
    amount BIGINT NOT NULL,
    pending_id BYTEA NOT NULL,
    currency BIGINT,
    code BIGINT NOT NULL,
    flags BIGINT NOT NULL,
    timeout_s BIGINT NOT NULL,
    user_data BYTEA NOT NULL,
    timestamp BIGINT NOT NULL
);
