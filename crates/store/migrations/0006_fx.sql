-- Payment beyond borders: reference rates with their history and source, markups, quotes, every
-- currency exchange the platform made (with what a regulator's report needs), and what a payment in
-- another currency than the order's records on the order and its refunds.

-- Reference (mid) rates: `mantissa / 10^scale` units of `quote_currency` per unit of `base_currency`,
-- exactly as published, from `source` (ecb, operator:<name>, sandbox), in force from `effective_at`.
CREATE TABLE fx_rates (
    id INT64 PRIMARY KEY,
    base_currency INT64 NOT NULL,
    quote_currency INT64 NOT NULL,
    mantissa INT64 NOT NULL,
    scale INT64 NOT NULL,
    source TEXT NOT NULL,
    effective_at INT64 NOT NULL,
    created_at INT64 NOT NULL,
    UNIQUE (base_currency, quote_currency, source, effective_at)
);
CREATE INDEX fx_rates_latest ON fx_rates (base_currency, quote_currency, effective_at);

-- How old a pair's rate may be before payments needing it are refused (seconds); absent: the default.
CREATE TABLE fx_pairs (
    base_currency INT64 NOT NULL,
    quote_currency INT64 NOT NULL,
    max_age_s INT64 NOT NULL,
    updated_at INT64 NOT NULL,
    PRIMARY KEY (base_currency, quote_currency)
);

-- The spread the platform adds, per pair (0 = any currency) and channel; the most specific rule wins.
CREATE TABLE fx_markups (
    base_currency INT64 NOT NULL,
    quote_currency INT64 NOT NULL,
    channel TEXT NOT NULL,              -- payment, conversion, card_payment
    markup_bps INT64 NOT NULL,
    updated_at INT64 NOT NULL,
    PRIMARY KEY (base_currency, quote_currency, channel)
);

-- A quote: a person may sell `sell_amount` of one currency for `buy_amount` of another until
-- `expires_at`, once. The customer rate (`rate_*`, and the reference `mid_*`) is written with the bought
-- currency as its base: one unit of what is bought costs `rate` units of what is sold.
CREATE TABLE fx_quotes (
    id INT64 PRIMARY KEY,
    person_id INT64 NOT NULL,
    channel TEXT NOT NULL,
    sell_currency INT64 NOT NULL,
    sell_amount INT64 NOT NULL,
    buy_currency INT64 NOT NULL,
    buy_amount INT64 NOT NULL,
    rate_mantissa INT64 NOT NULL,
    rate_scale INT64 NOT NULL,
    mid_mantissa INT64 NOT NULL,
    mid_scale INT64 NOT NULL,
    mid_source TEXT NOT NULL,
    markup_bps INT64 NOT NULL,
    rounding TEXT NOT NULL,
    created_at INT64 NOT NULL,
    expires_at INT64 NOT NULL,
    used_at INT64,
    used_by INT64                       -- the order or conversion that executed it
);
CREATE INDEX fx_quotes_person ON fx_quotes (person_id, created_at);

-- Every exchange made: a cross-currency payment or refund, a conversion between a person's balances.
-- Cross-border payments in one currency are recorded too (rate 1): the regulator's report needs them.
CREATE TABLE fx_executions (
    id INT64 PRIMARY KEY,
    kind TEXT NOT NULL,                 -- payment, refund, conversion
    person_id INT64 NOT NULL,
    order_id INT64,
    quote_id INT64 UNIQUE,
    sell_currency INT64 NOT NULL,
    sell_amount INT64 NOT NULL,
    buy_currency INT64 NOT NULL,
    buy_amount INT64 NOT NULL,
    rate_mantissa INT64 NOT NULL,
    rate_scale INT64 NOT NULL,
    mid_mantissa INT64 NOT NULL,
    mid_scale INT64 NOT NULL,
    mid_source TEXT NOT NULL,
    markup_bps INT64 NOT NULL,
    rounding TEXT NOT NULL,
    spread_minor INT64 NOT NULL,        -- in the sell currency: what the markup earned
    cross_border INT64 NOT NULL,
    payer_region TEXT NOT NULL,
    merchant_country TEXT,
    mcc TEXT,
    purpose_code TEXT,
    created_at INT64 NOT NULL
);
CREATE INDEX fx_executions_day ON fx_executions (created_at);

-- An order paid in another currency than its own: what the payer paid, at which rate, and how much of
-- that has been refunded (refunds are computed cumulatively at the original rate).
ALTER TABLE orders ADD COLUMN payer_currency INT64;
ALTER TABLE orders ADD COLUMN payer_total INT64;
ALTER TABLE orders ADD COLUMN payer_refunded INT64 NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN rate_mantissa INT64;
ALTER TABLE orders ADD COLUMN rate_scale INT64;
ALTER TABLE refunds ADD COLUMN payer_currency INT64;
ALTER TABLE refunds ADD COLUMN payer_amount INT64;

-- A merchant's licence data (recorded at onboarding, for compliance).
ALTER TABLE merchants ADD COLUMN licence TEXT;

-- The time zone a merchant's business day is counted in (its country's), for settlement in its own day.
ALTER TABLE merchants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Asia/Shanghai';
