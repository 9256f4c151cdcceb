-- Service requests to the grid access provider (issue 9, BRS-039): a process_request of type
-- 'RequestService' with its events and its outbound_request, exactly like the lifecycle's
-- requests (0011). Only the type list grows; the roles' grants of 0008/0011 are table-wide and
-- already cover the rows (elflow_loader starts requests, elflow_ingest applies the answers).

ALTER TABLE process_request DROP CONSTRAINT process_request_type_check;
ALTER TABLE process_request ADD CONSTRAINT process_request_type_check CHECK (type IN
    ('SupplierSwitch', 'ShortNoticeSwitch', 'MoveIn', 'EndOfSupply', 'ForcedEndOfSupply',
     'MoveOut', 'CancelSwitch', 'CancelEndOfSupply', 'IncorrectSwitch', 'IncorrectMove',
     'RequestService'));
