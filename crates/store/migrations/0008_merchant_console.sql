-- The merchant console: people who work for a merchant sign in with their own name and password.
-- role: owner (everything, refunds included) or cashier (sees orders and payments; no refunds).
CREATE TABLE merchant_users (
    id INT64 PRIMARY KEY,
    merchant_id INT64 NOT NULL REFERENCES merchants (id),
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INT64 NOT NULL,
    UNIQUE (merchant_id, username)
);

-- Console sessions, stored hashed (SHA-256 of the token).
CREATE TABLE merchant_sessions (
    token_hash BYTES PRIMARY KEY,
    user_id INT64 NOT NULL REFERENCES merchant_users (id),
    expires_at INT64 NOT NULL,
    created_at INT64 NOT NULL
);

-- The console lists a merchant's orders newest first.
CREATE INDEX orders_merchant_created ON orders (merchant_id, created_at);
