-- PostgreSQL's ledger batches, counted: every batch's transaction first adds one here, so batches from
-- several instances commit one at a time (the row's lock), and a committer that finds the count moved by
-- more than its own batch knows another instance wrote and drops its cached accounts. (SQLite has one
-- writer by construction and learns the same from PRAGMA data_version; it never touches this row.)
CREATE TABLE ledger_writes (
    id INT64 PRIMARY KEY,
    batches INT64 NOT NULL
);
INSERT INTO ledger_writes (id, batches) VALUES (1, 0);
