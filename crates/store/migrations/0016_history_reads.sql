-- A person's history is read a page at a time, newest first, by keyset on (time, id): the row
-- comparison `(created_at, id) < ($t, $id)`. With the id in each index the comparison is the range's
-- bound and the index gives the page's order, so a page reads its 50 rows and no more, however deep in
-- the history it is (without it, a page 10,000 items deep scanned and sorted those 10,000).
DROP INDEX p2p_transfers_sender;
DROP INDEX p2p_transfers_receiver;
CREATE INDEX p2p_transfers_sender ON p2p_transfers (sender_id, created_at, id);
CREATE INDEX p2p_transfers_receiver ON p2p_transfers (receiver_id, created_at, id);
DROP INDEX red_packets_sender;
CREATE INDEX red_packets_sender ON red_packets (sender_id, created_at, id);
DROP INDEX red_packet_shares_claimer;
CREATE INDEX red_packet_shares_claimer ON red_packet_shares (claimed_by, claimed_at, packet_id);
DROP INDEX rail_operations_person;
CREATE INDEX rail_operations_person ON rail_operations (person_id, kind, created_at, id);
DROP INDEX orders_payer;
CREATE INDEX orders_payer ON orders (payer_id, success_at, id);
CREATE INDEX network_payments_person ON network_payments (person_id, direction, created_at, id);
