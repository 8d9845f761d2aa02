-- Giving beyond the balance: a removed card (kept for the records that name it, never charged again);
-- how each donation was paid (the balance or a linked card, and what the donor paid in their own
-- currency when the campaign's is another); monthly donations; a charity's Inspired Gifts and the gift
-- cards sent with them in a friend's name.
ALTER TABLE cards ADD COLUMN removed_at INT64;

ALTER TABLE donations ADD COLUMN funding TEXT NOT NULL DEFAULT 'balance';
ALTER TABLE donations ADD COLUMN card_id INT64;
-- The card rail's reference of the charge (a refund goes back to it).
ALTER TABLE donations ADD COLUMN card_reference TEXT;
-- What the donor paid, in their currency (the campaign's currency and amount when they are the same).
ALTER TABLE donations ADD COLUMN paid_currency INT64;
ALTER TABLE donations ADD COLUMN paid_amount INT64;
ALTER TABLE donations ADD COLUMN recurring_id INT64;
ALTER TABLE donations ADD COLUMN gift_item_id INT64;
-- Where a refund went: 'balance', or 'card' once the issuer took it ('card_pending' until then).
ALTER TABLE donations ADD COLUMN refund_channel TEXT;
CREATE INDEX donations_card_refunds ON donations (refunded_at) WHERE refund_channel = 'card_pending';

-- A monthly donation: charged on its day each month from a card or the balance, `charges` so far; a
-- charge that fails is tried again on the next days, and after `failures` reach the limit the donation
-- lapses (the donor is told by its state). The donor may stop it at any time.
CREATE TABLE recurring_donations (
    id INT64 PRIMARY KEY,
    person_id INT64 NOT NULL,
    campaign_id INT64 NOT NULL,
    currency INT64 NOT NULL,
    amount INT64 NOT NULL,
    card_id INT64,
    anonymous INT64 NOT NULL,
    state TEXT NOT NULL,
    next_at INT64 NOT NULL,
    charges INT64 NOT NULL,
    failures INT64 NOT NULL,
    last_failure TEXT,
    created_at INT64 NOT NULL,
    stopped_at INT64
);
CREATE INDEX recurring_donations_due ON recurring_donations (next_at) WHERE state = 'active';
CREATE INDEX recurring_donations_person ON recurring_donations (person_id, created_at);

-- A charity's catalogue: priced items given through one of its campaigns; `sold` counted in the
-- commit of each gift.
CREATE TABLE gift_items (
    id INT64 PRIMARY KEY,
    charity_id INT64 NOT NULL,
    campaign_id INT64 NOT NULL,
    out_item_no TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    currency INT64 NOT NULL,
    price INT64 NOT NULL,
    sold INT64 NOT NULL,
    state TEXT NOT NULL,
    created_at INT64 NOT NULL
);
CREATE UNIQUE INDEX gift_items_out_no ON gift_items (charity_id, out_item_no);
CREATE INDEX gift_items_campaign ON gift_items (campaign_id);

-- A gift bought in a friend's name (its id is the donation's): the friend's card, and their thanks.
CREATE TABLE gift_cards (
    id INT64 PRIMARY KEY,
    item_id INT64 NOT NULL,
    giver_id INT64 NOT NULL,
    recipient_id INT64 NOT NULL,
    note TEXT,
    thanks TEXT,
    thanked_at INT64,
    created_at INT64 NOT NULL
);
CREATE INDEX gift_cards_recipient ON gift_cards (recipient_id, created_at);
CREATE INDEX gift_cards_giver ON gift_cards (giver_id, created_at);
