-- The ledger. Ids and user_data are 16-byte big-endian u128 (byte order = numeric order); amounts and
-- balances are minor units in signed 64-bit columns (the engine caps them at 2^63-1); timestamps are
-- nanoseconds since the Unix epoch.
CREATE TABLE accounts (
    id BLOB PRIMARY KEY,
    currency INTEGER NOT NULL,
    code INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    user_data BLOB NOT NULL,
    debits_pending INTEGER NOT NULL,
    debits_posted INTEGER NOT NULL,
    credits_pending INTEGER NOT NULL,
    credits_posted INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    -- Timestamp of the last batch that changed the account: a later batch touching it gets a later one.
    last_ts INTEGER NOT NULL
) WITHOUT ROWID;

-- The journal: committed transfers, never updated.
CREATE TABLE transfers (
    id BLOB PRIMARY KEY,
    debit_account_id BLOB NOT NULL,
    credit_account_id BLOB NOT NULL,
    amount INTEGER NOT NULL,
    pending_id BLOB,
    currency INTEGER NOT NULL,
    code INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    timeout_s INTEGER NOT NULL,
    user_data BLOB NOT NULL,
    timestamp INTEGER NOT NULL
) WITHOUT ROWID;

-- Where each pending transfer stands (0 pending, 1 posted, 2 voided, 3 expired) and since when.
CREATE TABLE pending_transfers (
    id BLOB PRIMARY KEY,
    state INTEGER NOT NULL,
    expires_at INTEGER,
    timestamp INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX pending_transfers_due ON pending_transfers (expires_at) WHERE state = 0 AND expires_at IS NOT NULL;

-- Transfers that failed: the id keeps its first result.
CREATE TABLE failed_transfers (
    id BLOB PRIMARY KEY,
    error TEXT NOT NULL,
    debit_account_id BLOB NOT NULL,
    credit_account_id BLOB NOT NULL,
    amount INTEGER NOT NULL,
    pending_id BLOB NOT NULL,
    currency INTEGER,
    code INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    timeout_s INTEGER NOT NULL,
    user_data BLOB NOT NULL,
    timestamp INTEGER NOT NULL
) WITHOUT ROWID;
