-- Merchants and the WeChat Pay v3-compatible merchant API: merchants (direct, service providers and their
-- sub-merchants), their API keys and app ids, Qianbao's own signing keys, orders, refunds and the
-- notification outbox. Amounts are integer minor units; times are ms since the epoch.
CREATE TABLE merchants (
    id INT64 PRIMARY KEY,
    mchid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,                 -- direct, service_provider, sub_merchant
    parent_id INT64 REFERENCES merchants (id),
    name TEXT NOT NULL,
    mcc TEXT NOT NULL,
    country TEXT NOT NULL,
    settlement_currency INT64 NOT NULL,
    fee_bps INT64 NOT NULL,
    settlement_account TEXT NOT NULL,
    apiv3_key BYTES NOT NULL,           -- sealed under the server secret
    public_key_mode INT64 NOT NULL DEFAULT 0, -- 1: responses and notifications are signed with the platform public key
    created_at INT64 NOT NULL
);

-- A merchant's API certificates or public keys, by serial number (upper-case hex).
CREATE TABLE merchant_keys (
    merchant_id INT64 NOT NULL REFERENCES merchants (id),
    serial_no TEXT NOT NULL,
    public_key BYTES NOT NULL,          -- SubjectPublicKeyInfo DER
    created_at INT64 NOT NULL,
    revoked_at INT64,
    PRIMARY KEY (merchant_id, serial_no)
);

-- App ids (mini-programs, official accounts, mobile apps, web sites) bound to a merchant.
CREATE TABLE merchant_apps (
    appid TEXT PRIMARY KEY,
    merchant_id INT64 NOT NULL REFERENCES merchants (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INT64 NOT NULL
);

-- Qianbao's own response and notification signing keys: a platform certificate (serial = the
-- certificate's) or a public key (serial PUB_KEY_ID_...). Two may be valid at once during a rotation.
CREATE TABLE platform_keys (
    serial_no TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                 -- certificate, public_key
    private_key BYTES NOT NULL,         -- PKCS#8, sealed under the server secret
    certificate BYTES,                  -- DER, for kind certificate
    effective_at INT64 NOT NULL,
    expires_at INT64 NOT NULL,
    created_at INT64 NOT NULL
);

CREATE TABLE orders (
    id INT64 PRIMARY KEY,
    transaction_id TEXT NOT NULL UNIQUE,
    merchant_id INT64 NOT NULL REFERENCES merchants (id),   -- the merchant paid (a sub-merchant in partner mode)
    sp_merchant_id INT64 REFERENCES merchants (id),         -- the service provider that placed it
    appid TEXT NOT NULL,
    sub_appid TEXT,
    out_trade_no TEXT NOT NULL,
    trade_type TEXT NOT NULL,
    description TEXT NOT NULL,
    attach TEXT,
    notify_url TEXT NOT NULL,
    goods_tag TEXT,
    currency INT64 NOT NULL,
    total INT64 NOT NULL,
    payer_openid TEXT,                  -- JSAPI: who must pay
    scene_info TEXT,                    -- JSON as given
    request_hash BYTES NOT NULL,        -- a repeat of out_trade_no must carry the same order
    trade_state TEXT NOT NULL,          -- NOTPAY, USERPAYING, SUCCESS, REFUND, CLOSED, REVOKED
    payer_id INT64,
    payer_openid_paid TEXT,
    payer_sub_openid TEXT,               -- partner orders: the payer at the sub-merchant's app
    funding TEXT,                       -- balance, card
    card_reference TEXT,                -- the card charge, for refunds back to the card
    card_operation INT64,
    bank_type TEXT,
    fee INT64 NOT NULL DEFAULT 0,
    refunded INT64 NOT NULL DEFAULT 0,
    created_at INT64 NOT NULL,
    expires_at INT64 NOT NULL,
    success_at INT64,
    closed_at INT64,
    UNIQUE (merchant_id, out_trade_no)
);
CREATE INDEX orders_due ON orders (expires_at) WHERE trade_state = 'NOTPAY';

CREATE TABLE refunds (
    id INT64 PRIMARY KEY,
    refund_id TEXT NOT NULL UNIQUE,
    merchant_id INT64 NOT NULL REFERENCES merchants (id),
    order_id INT64 NOT NULL REFERENCES orders (id),
    out_refund_no TEXT NOT NULL,
    reason TEXT,
    notify_url TEXT,
    amount INT64 NOT NULL,
    currency INT64 NOT NULL,
    status TEXT NOT NULL,               -- PROCESSING, SUCCESS, ABNORMAL, CLOSED
    channel TEXT NOT NULL,              -- ORIGINAL (back to the card), BALANCE (the payer's wallet)
    card_state TEXT,                    -- card refunds: pending (the issuer not yet told), refunded, to_balance (the issuer refused)
    request_hash BYTES NOT NULL,
    created_at INT64 NOT NULL,
    success_at INT64,
    UNIQUE (merchant_id, out_refund_no)
);
CREATE INDEX refunds_processing ON refunds (created_at) WHERE status = 'PROCESSING';

-- The outbox: one row per event, written in the same transaction as the ledger transfer behind it.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,                -- the event id the merchant de-duplicates on
    merchant_id INT64 NOT NULL REFERENCES merchants (id),
    notify_url TEXT NOT NULL,
    event_type TEXT NOT NULL,
    summary TEXT NOT NULL,
    original_type TEXT NOT NULL,
    resource TEXT NOT NULL,             -- the plaintext JSON, encrypted at each delivery
    state TEXT NOT NULL,                -- pending, delivered, abandoned
    attempts INT64 NOT NULL DEFAULT 0,
    next_attempt_at INT64 NOT NULL,
    lease_until INT64 NOT NULL DEFAULT 0,
    last_status INT64,
    last_error TEXT,
    created_at INT64 NOT NULL,
    delivered_at INT64
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notifications_by_merchant ON notifications (merchant_id, created_at);

CREATE TABLE notification_attempts (
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    attempt INT64 NOT NULL,
    at INT64 NOT NULL,
    status INT64,                      -- HTTP status, absent when no answer came
    error TEXT,
    latency_ms INT64 NOT NULL,
    PRIMARY KEY (notification_id, attempt)
);

-- One-time payment codes a wallet shows (18 digits, 10-15 prefix) for a merchant to scan; each lives a
-- minute and pays at most one order.
CREATE TABLE payment_codes (
    code TEXT PRIMARY KEY,
    person_id INT64 NOT NULL REFERENCES people (id),
    created_at INT64 NOT NULL,
    expires_at INT64 NOT NULL,
    order_id INT64
);
CREATE INDEX payment_codes_expiry ON payment_codes (expires_at);

-- Daily settlement per merchant and currency: what was paid, refunded and charged that day (China
-- Standard Time), what is paid out to the settlement account, and any shortfall carried to the next day
-- (refunds may exceed a day's takings).
CREATE TABLE settlements (
    id INT64 PRIMARY KEY,
    merchant_id INT64 NOT NULL REFERENCES merchants (id),
    day TEXT NOT NULL,                  -- YYYY-MM-DD
    currency INT64 NOT NULL,
    payments INT64 NOT NULL,
    gross INT64 NOT NULL,
    refunds INT64 NOT NULL,
    fees INT64 NOT NULL,
    carry_in INT64 NOT NULL,
    payout INT64 NOT NULL,
    carry_out INT64 NOT NULL,
    created_at INT64 NOT NULL,
    UNIQUE (merchant_id, day, currency)
);

-- A merchant's printed (static) QR codes: the person scans one and enters the amount; each payment is
-- an order of its own.
CREATE TABLE static_codes (
    id INT64 PRIMARY KEY,
    merchant_id INT64 NOT NULL REFERENCES merchants (id),
    appid TEXT NOT NULL,
    description TEXT NOT NULL,
    notify_url TEXT NOT NULL,
    created_at INT64 NOT NULL
);

-- Red-packet covers merchants publish (an image and a title) for people to choose when they send one.
CREATE TABLE red_packet_covers (
    id INT64 PRIMARY KEY,
    merchant_id INT64 NOT NULL REFERENCES merchants (id),
    title TEXT NOT NULL,
    image_url TEXT NOT NULL,
    created_at INT64 NOT NULL
);
