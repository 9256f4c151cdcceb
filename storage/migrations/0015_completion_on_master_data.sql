-- The completion trigger of the BRS-001 diagram (issue 10): a switch or move-in completes when
-- the master data for its effective date AND the first reading from that date have arrived.
-- The master data is DataHub's RSM-022 sent with the supply process (E03 switch, D30 short
-- notice, E65 move-in, D31 forced transfer), which elflow now applies as metering-point events.

ALTER TABLE metering_point_event DROP CONSTRAINT metering_point_event_process_type_check;
ALTER TABLE metering_point_event ADD CONSTRAINT metering_point_event_process_type_check
    CHECK (process_type IN ('E02', 'E32', 'D15', 'E79', 'D14', 'D17', 'D39',
                            'E03', 'D30', 'E65', 'D31'));

-- Whether master data of the point effective at `at` naming `supplier` as its energy supplier
-- has arrived: for customer service's role (`process advance`), which reads no events itself.
CREATE FUNCTION lifecycle_master_data_seen(gsrn text, at timestamptz, supplier text)
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT EXISTS (SELECT 1 FROM metering_point_event e
                   WHERE e.gsrn = lifecycle_master_data_seen.gsrn AND e.effective_at = at
                     AND e.change -> 'record' ->> 'supplier_gln' = supplier)
$$;
REVOKE EXECUTE ON FUNCTION lifecycle_master_data_seen(text, timestamptz, text) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_loader') THEN
        GRANT EXECUTE ON FUNCTION lifecycle_master_data_seen(text, timestamptz, text) TO elflow_loader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_ingest') THEN
        GRANT EXECUTE ON FUNCTION lifecycle_master_data_seen(text, timestamptz, text) TO elflow_ingest;
        GRANT EXECUTE ON FUNCTION lifecycle_reading_seen(text, timestamptz, timestamptz) TO elflow_ingest;
    END IF;
END
$$;
