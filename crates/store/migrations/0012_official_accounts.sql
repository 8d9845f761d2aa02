-- Official accounts: a merchant's (or charity's) app of kind official_account that people follow.
-- Messages are stored once per account and read through each follower's follow (fan-out on read): an
-- appeal to a million followers is one row, every follower's inbox is in the account's order, and a
-- follower's unread count is the messages after their read mark. A message to one follower (a
-- receipt) names them.
CREATE TABLE official_followers (
    appid TEXT NOT NULL,
    person_id INT64 NOT NULL,
    -- The person's openid at this account (as its owner knows them).
    openid TEXT NOT NULL,
    following INT64 NOT NULL,
    muted INT64 NOT NULL,
    followed_at INT64 NOT NULL,
    -- The newest message id the follower has read.
    read_id INT64 NOT NULL,
    PRIMARY KEY (appid, person_id)
);
CREATE INDEX official_followers_person ON official_followers (person_id, appid);
CREATE UNIQUE INDEX official_followers_openid ON official_followers (appid, openid);

CREATE TABLE official_messages (
    id INT64 PRIMARY KEY,
    appid TEXT NOT NULL,
    out_message_no TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    to_person INT64,
    created_at INT64 NOT NULL
);
CREATE UNIQUE INDEX official_messages_out_no ON official_messages (appid, out_message_no);
CREATE INDEX official_messages_account ON official_messages (appid, id);
