-- Only transient failures keep an id (as TigerBeetle since 0.16.4): a failure of the request's own fields
-- is answered the same way by any identical retry, and a corrected retry may succeed.
DELETE FROM failed_transfers WHERE error NOT IN (
    'debit_account_not_found', 'credit_account_not_found', 'pending_transfer_not_found',
    'exceeds_credits', 'exceeds_debits', 'debit_account_already_closed', 'credit_account_already_closed'
);
