-- Operators by name, with roles (admin, operator, risk, finance, support), a password (argon2id) and,
-- once enrolled, a TOTP second factor (the secret sealed under the server secret). The bootstrap token
-- creates the first admin only: `operator_bootstrap` holds one row once it has.
CREATE TABLE operator_users (
    id INT64 PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    totp_secret BYTES,
    totp_pending BYTES,
    totp_last_step INT64 NOT NULL DEFAULT 0,
    disabled INT64 NOT NULL DEFAULT 0,
    created_at INT64 NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE operator_bootstrap (
    id INT64 PRIMARY KEY,
    at INT64 NOT NULL
);

-- Operator sessions, stored hashed (SHA-256 of the token).
CREATE TABLE operator_sessions (
    token_hash BYTES PRIMARY KEY,
    user_id INT64 NOT NULL REFERENCES operator_users (id),
    expires_at INT64 NOT NULL,
    created_at INT64 NOT NULL
);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);

-- Four eyes: a dangerous action waits here for a second operator holding `role`.
-- state: pending, approved, rejected (expired is pending past expires_at).
CREATE TABLE approvals (
    id INT64 PRIMARY KEY,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    summary TEXT NOT NULL,
    role TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decision_reason TEXT,
    result TEXT,
    created_at INT64 NOT NULL,
    expires_at INT64 NOT NULL,
    decided_at INT64
);
CREATE INDEX approvals_state ON approvals (state, expires_at);

-- Why: every operator change carries the reason its operator gave.
ALTER TABLE audit_log ADD COLUMN reason TEXT NOT NULL DEFAULT '';

-- The operator's dashboard sums the day's payments across merchants.
CREATE INDEX orders_success ON orders (success_at) WHERE success_at IS NOT NULL;

-- Freezes: a person, card or merchant stopped from moving money; lifted (by a second operator) sets
-- lifted_at. At most one active freeze per subject.
CREATE TABLE freezes (
    id INT64 PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    inbound_allowed INT64 NOT NULL,
    reason TEXT NOT NULL,
    frozen_by TEXT NOT NULL,
    frozen_at INT64 NOT NULL,
    lifted_by TEXT,
    lifted_at INT64
);
CREATE UNIQUE INDEX freezes_active ON freezes (kind, subject) WHERE lifted_at IS NULL;

-- A person's data export lists what operators did about them.
CREATE INDEX audit_log_target ON audit_log (target, id);

-- Sanctions lists (each name normalised for screening), their versions, and the hits to review.
CREATE TABLE sanctions_entries (
    list TEXT NOT NULL,
    reference TEXT NOT NULL,
    name TEXT NOT NULL,
    normalized TEXT NOT NULL
);
CREATE INDEX sanctions_entries_list ON sanctions_entries (list);
CREATE TABLE sanctions_lists (
    list TEXT PRIMARY KEY,
    version INT64 NOT NULL,
    names INT64 NOT NULL,
    imported_at INT64 NOT NULL
);
CREATE TABLE screening_hits (
    id INT64 PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    name TEXT NOT NULL,
    list TEXT NOT NULL,
    reference TEXT NOT NULL,
    listed_name TEXT NOT NULL,
    score_permille INT64 NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at INT64,
    created_at INT64 NOT NULL,
    UNIQUE (kind, subject, list, reference)
);
CREATE INDEX screening_hits_state ON screening_hits (state, id);

-- The risk engine's rule set (one row; every instance reloads it when its version moves).
CREATE TABLE risk_rules (
    id INT64 PRIMARY KEY,
    version INT64 NOT NULL,
    body TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at INT64 NOT NULL
);

-- Per-merchant daily caps on takings (UTC days), and each day's takings so far: a payment's guard adds
-- to the day's row only while it stays within the cap.
CREATE TABLE merchant_caps (
    merchant_id INT64 PRIMARY KEY REFERENCES merchants (id),
    currency INT64 NOT NULL,
    cap_minor INT64 NOT NULL,
    set_by TEXT NOT NULL,
    set_at INT64 NOT NULL
);
CREATE TABLE merchant_cap_usage (
    merchant_id INT64 NOT NULL,
    day INT64 NOT NULL,
    used_minor INT64 NOT NULL,
    PRIMARY KEY (merchant_id, day)
);

-- Closing a wallet: when it was closed, when its personal data is erased, and when it was.
ALTER TABLE people ADD COLUMN closed_at INT64;
ALTER TABLE people ADD COLUMN erase_after INT64;
ALTER TABLE people ADD COLUMN erased_at INT64;
CREATE INDEX people_erase_after ON people (erase_after) WHERE erase_after IS NOT NULL AND erased_at IS NULL;
