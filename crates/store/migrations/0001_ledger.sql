-- The ledger. Ids and user_data are 16-byte big-endian u128 (byte order = numeric order); amounts and
-- balances are minor units in signed 64-bit columns (the engine caps them at 2^63-1); timestamps are
-- nanoseconds since the Unix epoch.
CREATE TABLE accounts (
    id BYTES PRIMARY KEY,
    currency INT64 NOT NULL,
    code INT64 NOT NULL,
    flags INT64 NOT NULL,
    user_data BYTES NOT NULL,
    debits_pending INT64 NOT NULL,
    debits_posted INT64 NOT NULL,
    credits_pending INT64 NOT NULL,
    credits_posted INT64 NOT NULL,
    timestamp INT64 NOT NULL,
    -- Timestamp of the last batch that changed the account: a later batch touching it gets a later one.
    last_ts INT64 NOT NULL
-- PostgreSQL: room on each page so balance updates are HOT (no index write per update).
) /*sqlite: WITHOUT ROWID*/ /*postgres: WITH (fillfactor = 50)*/;

-- The journal: committed transfers, never updated.
CREATE TABLE transfers (
    id BYTES PRIMARY KEY,
    debit_account_id BYTES NOT NULL,
    credit_account_id BYTES NOT NULL,
    amount INT64 NOT NULL,
    pending_id BYTES,
    currency INT64 NOT NULL,
    code INT64 NOT NULL,
    flags INT64 NOT NULL,
    timeout_s INT64 NOT NULL,
    user_data BYTES NOT NULL,
    timestamp INT64 NOT NULL
) /*sqlite: WITHOUT ROWID*/;

-- Where each pending transfer stands (0 pending, 1 posted, 2 voided, 3 expired) and since when.
CREATE TABLE pending_transfers (
    id BYTES PRIMARY KEY,
    state INT64 NOT NULL,
    expires_at INT64,
    timestamp INT64 NOT NULL
) /*sqlite: WITHOUT ROWID*/;
CREATE INDEX pending_transfers_due ON pending_transfers (expires_at) WHERE state = 0 AND expires_at IS NOT NULL;

-- Transfers that failed: the id keeps its first result.
CREATE TABLE failed_transfers (
    id BYTES PRIMARY KEY,
    error TEXT NOT NULL,
    debit_account_id BYTES NOT NULL,
    credit_account_id BYTES NOT NULL,
    amount INT64 NOT NULL,
    pending_id BYTES NOT NULL,
    currency INT64,
    code INT64 NOT NULL,
    flags INT64 NOT NULL,
    timeout_s INT64 NOT NULL,
    user_data BYTES NOT NULL,
    timestamp INT64 NOT NULL
) /*sqlite: WITHOUT ROWID*/;
