-- One QR code for every wallet: what a merchant's EMV code says about it, the national schemes it is
-- registered on, and the payments that crossed to or from a partner network.

-- The merchant's EMV identity (ids 59, 60, 61 and the 64 language template): Latin name and city as
-- the specification's printable-ASCII fields need them, and optionally the local-language ones.
CREATE TABLE merchant_qr_profiles (
    merchant_id INT64 PRIMARY KEY REFERENCES merchants (id),
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    postal_code TEXT,
    language TEXT,
    local_name TEXT,
    local_city TEXT,
    updated_at INT64 NOT NULL
);

-- A merchant registered on a national scheme: that scheme's merchant account template (its value, as
-- it goes into ids 27-51 of the merchant's codes).
CREATE TABLE merchant_schemes (
    merchant_id INT64 NOT NULL REFERENCES merchants (id),
    scheme TEXT NOT NULL,               -- fps, paynow, promptpay, pix, qris
    template TEXT NOT NULL,
    created_at INT64 NOT NULL,
    PRIMARY KEY (merchant_id, scheme)
);

-- A payment with a partner network: out (a Qianbao wallet pays the network's merchant; the money is
-- held until the network answers) or in (the network's wallet pays a Qianbao merchant's order).
-- Idempotent on (network, direction, request_id): the id the paying side gave the payment.
CREATE TABLE network_payments (
    id INT64 PRIMARY KEY,
    network TEXT NOT NULL,
    direction TEXT NOT NULL,            -- out, in
    request_id TEXT NOT NULL,
    code_digest TEXT NOT NULL,          -- SHA-256 of the code scanned (hex)
    state TEXT NOT NULL,                -- pending, succeeded, declined
    person_id INT64,                    -- out: the payer
    order_id INT64,                     -- in: the order paid
    merchant_name TEXT NOT NULL,
    currency INT64 NOT NULL,            -- what the network's merchant (out) or the order (in) is paid
    amount INT64 NOT NULL,
    payer_currency INT64 NOT NULL,      -- out: what the payer's balance paid
    payer_amount INT64 NOT NULL,
    cross_border INT64 NOT NULL,        -- out: the payer's region is not the merchant's country
    network_reference TEXT,
    failure TEXT,
    created_at INT64 NOT NULL,
    expires_at INT64 NOT NULL,          -- out: by the wall clock, when the network must refuse the pay call
    finished_at INT64,
    UNIQUE (network, direction, request_id)
);
CREATE INDEX network_payments_pending ON network_payments (state, created_at);
CREATE INDEX network_payments_day ON network_payments (network, finished_at);
