-- A merchant's bill is read a page at a time in time order (keyset pagination on (time, id)), so a day of
-- a million orders is written in bounded memory; these indexes make each page a range read.
CREATE INDEX orders_merchant_success ON orders (merchant_id, success_at, id) WHERE success_at IS NOT NULL;
CREATE INDEX refunds_merchant_created ON refunds (merchant_id, created_at, id);
