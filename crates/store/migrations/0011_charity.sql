-- Charities and their giving: a charity is a merchant (its money is held in the merchant's receivable
-- and settled to its bank like a merchant's) with its registration; campaigns with their running
-- totals (updated in the commit of each donation, so a total is always the sum of the donations that
-- committed); donations with their receipts and the match each drew; a sponsor's 1:1 match of a
-- campaign, funded up front into an escrow account of its own (the ledger refuses to overdraw it), its
-- `matched` raised in each donation's commit only while it stays within the cap.
CREATE TABLE charities (
    merchant_id INT64 PRIMARY KEY,
    charity_number TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    state TEXT NOT NULL,
    fee_bps INT64 NOT NULL,
    created_at INT64 NOT NULL
);
CREATE UNIQUE INDEX charities_registration ON charities (jurisdiction, charity_number);

CREATE TABLE campaigns (
    id INT64 PRIMARY KEY,
    charity_id INT64 NOT NULL,
    out_campaign_no TEXT NOT NULL,
    title TEXT NOT NULL,
    story TEXT NOT NULL,
    currency INT64 NOT NULL,
    goal INT64 NOT NULL,
    min_amount INT64 NOT NULL,
    starts_at INT64 NOT NULL,
    ends_at INT64 NOT NULL,
    raised INT64 NOT NULL,
    donations INT64 NOT NULL,
    donors INT64 NOT NULL,
    refunded INT64 NOT NULL,
    created_at INT64 NOT NULL
);
-- The charity's own number for a campaign: a retried creation finds the campaign it made.
CREATE UNIQUE INDEX campaigns_out_no ON campaigns (charity_id, out_campaign_no);

CREATE TABLE donations (
    id INT64 PRIMARY KEY,
    campaign_id INT64 NOT NULL,
    charity_id INT64 NOT NULL,
    person_id INT64 NOT NULL,
    currency INT64 NOT NULL,
    amount INT64 NOT NULL,
    fee INT64 NOT NULL,
    matched INT64 NOT NULL,
    anonymous INT64 NOT NULL,
    message TEXT,
    donor_name TEXT NOT NULL,
    donor_verified INT64 NOT NULL,
    state TEXT NOT NULL,
    created_at INT64 NOT NULL,
    refunded_at INT64
);
CREATE INDEX donations_campaign ON donations (campaign_id, created_at);
CREATE INDEX donations_person ON donations (person_id, created_at);
CREATE INDEX donations_charity_day ON donations (charity_id, created_at);

-- Who gave to a campaign (its donor count counts each once).
CREATE TABLE campaign_donors (
    campaign_id INT64 NOT NULL,
    person_id INT64 NOT NULL,
    PRIMARY KEY (campaign_id, person_id)
) /*sqlite: WITHOUT ROWID*/;

CREATE TABLE match_pledges (
    id INT64 PRIMARY KEY,
    campaign_id INT64 NOT NULL,
    sponsor_id INT64 NOT NULL,
    currency INT64 NOT NULL,
    cap INT64 NOT NULL,
    per_donor_max INT64 NOT NULL,
    matched INT64 NOT NULL,
    created_at INT64 NOT NULL,
    -- When what it did not match went back to the sponsor (its campaign ended).
    returned_at INT64
);
-- One match per campaign.
CREATE UNIQUE INDEX match_pledges_campaign ON match_pledges (campaign_id);
CREATE INDEX match_pledges_open ON match_pledges (campaign_id) WHERE returned_at IS NULL;

-- How much match each donor has asked of a pledge (bounded by its per-donor limit).
CREATE TABLE match_donors (
    pledge_id INT64 NOT NULL,
    person_id INT64 NOT NULL,
    asked INT64 NOT NULL,
    PRIMARY KEY (pledge_id, person_id)
) /*sqlite: WITHOUT ROWID*/;
