-- Which completed process request ended a supply period or contract (NULL: its end, if any,
-- came from a file). A portfolio file loaded again keeps a process's end (storage.importers).
ALTER TABLE supply_period ADD COLUMN ended_by_request uuid REFERENCES process_request (id);
ALTER TABLE contract ADD COLUMN ended_by_request uuid REFERENCES process_request (id);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_ingest') THEN
        GRANT UPDATE (ended_by_request) ON supply_period, contract TO elflow_ingest;
    END IF;
END
$$;
