-- The customer lifecycle (issue 10): process_request / process_event of 0001 event-sourced.
-- process_event is append-only; process_request.status is the fold of its events
-- (settlement.lifecycle.fold), written only together with the event that changes it.
-- Outbound request documents leave through outbound_request, written in the same transaction
-- as the request and its first event, and published once by flows.process_relay.

ALTER TABLE process_request
    ADD COLUMN customer_id       uuid REFERENCES customer (id),
    ADD COLUMN product_id        uuid REFERENCES product (id),
    ADD COLUMN billing_frequency text CHECK (billing_frequency IN ('Monthly', 'Quarterly')),
    ADD COLUMN payment_model     text CHECK (payment_model IN ('Aconto', 'PostPayment')),
    ADD COLUMN payment_term_days integer CHECK (payment_term_days BETWEEN 0 AND 365),
    -- The request a CancelSwitch / CancelEndOfSupply / IncorrectSwitch / IncorrectMove acts on.
    ADD COLUMN target_request_id uuid REFERENCES process_request (id),
    -- 'Elflow' (customer service asked) or 'DataHub' (a notification started it).
    ADD COLUMN initiator         text NOT NULL DEFAULT 'Elflow' CHECK (initiator IN ('Elflow', 'DataHub'));
CREATE INDEX process_request_gsrn_idx ON process_request (gsrn, effective_date);
CREATE INDEX process_request_open_idx ON process_request (status)
    WHERE status NOT IN ('Rejected', 'Completed', 'Cancelled');

-- Events in the order they happened to their request (occurred_at can tie).
ALTER TABLE process_event ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE process_event ADD CONSTRAINT process_event_event_type_check CHECK (event_type IN
    ('Requested', 'Notified', 'SentToDataHub', 'Confirmed', 'Rejected', 'AnswerOverdue',
     'EffectuationScheduled', 'Cancelled', 'Completed'));
CREATE UNIQUE INDEX process_event_seq_idx ON process_event (process_request_id, seq);

CREATE FUNCTION process_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'process_event is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER process_event_append_only BEFORE UPDATE OR DELETE ON process_event
    FOR EACH ROW EXECUTE FUNCTION process_event_append_only();
REVOKE EXECUTE ON FUNCTION process_event_append_only() FROM PUBLIC;

-- The outbox: Queued until the broker acknowledged the document (then Sent), Withdrawn when the
-- request was cancelled before it left.
ALTER TABLE outbound_request ALTER COLUMN sent_at DROP NOT NULL;
ALTER TABLE outbound_request DROP CONSTRAINT outbound_request_status_check;
ALTER TABLE outbound_request ADD CONSTRAINT outbound_request_status_check CHECK (status IN
    ('Queued', 'Sent', 'AcknowledgedOk', 'AcknowledgedError', 'TimedOut', 'Withdrawn'));
ALTER TABLE outbound_request
    ADD COLUMN seq                bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN process_request_id uuid UNIQUE REFERENCES process_request (id),
    ADD COLUMN document_mrid      text UNIQUE,
    ADD COLUMN document           jsonb,
    ADD COLUMN created_at         timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN answered_at        timestamptz,
    ADD CONSTRAINT outbound_request_sent_check CHECK (status IN ('Queued', 'Withdrawn') OR sent_at IS NOT NULL);
CREATE INDEX outbound_request_queued_idx ON outbound_request (seq) WHERE status = 'Queued';

-- A reversed supply (IncorrectSwitch / IncorrectMove) keeps its rows, which settlement lines may
-- reference, as an empty interval: end_date = start_date supplies no day.
ALTER TABLE supply_period DROP CONSTRAINT supply_period_check;
ALTER TABLE supply_period ADD CONSTRAINT supply_period_check CHECK (end_date IS NULL OR end_date >= start_date);
ALTER TABLE contract DROP CONSTRAINT contract_check;
ALTER TABLE contract ADD CONSTRAINT contract_check CHECK (end_date IS NULL OR end_date >= start_date);
-- Which request created a supply period or contract (NULL: loaded from a file).
ALTER TABLE supply_period ADD COLUMN process_request_id uuid REFERENCES process_request (id);
ALTER TABLE contract ADD COLUMN process_request_id uuid REFERENCES process_request (id);

-- Whether a reading of a metering point in [t_from, t_to) has arrived: the completion trigger
-- of a switch or move-in, for customer service's role, which reads no readings itself.
CREATE FUNCTION lifecycle_reading_seen(gsrn text, t_from timestamptz, t_to timestamptz)
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT EXISTS (SELECT 1 FROM metering_data m WHERE m.metering_point_id = gsrn
                   AND m."timestamp" >= t_from AND m."timestamp" < t_to)
$$;
REVOKE EXECUTE ON FUNCTION lifecycle_reading_seen(text, timestamptz, timestamptz) FROM PUBLIC;

-- Least privilege: the answers flow and the relay run as elflow_ingest; customer service
-- (`elflow process start|cancel|advance`) as elflow_loader, which writes supply and contracts.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_ingest') THEN
        GRANT SELECT, INSERT, UPDATE ON process_request, outbound_request TO elflow_ingest;
        GRANT SELECT, INSERT ON process_event TO elflow_ingest;
        GRANT SELECT ON supply_period, contract TO elflow_ingest;
        -- An answer that ends or reverses supply (cancellations, corrections) ends rows only.
        GRANT UPDATE (end_date, end_reason) ON supply_period TO elflow_ingest;
        GRANT UPDATE (end_date) ON contract TO elflow_ingest;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_loader') THEN
        GRANT SELECT, INSERT, UPDATE ON process_request, outbound_request TO elflow_loader;
        GRANT SELECT, INSERT ON process_event TO elflow_loader;
        GRANT SELECT ON metering_point_version TO elflow_loader;
        GRANT EXECUTE ON FUNCTION lifecycle_reading_seen(text, timestamptz, timestamptz) TO elflow_loader;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_finance') THEN
        GRANT SELECT ON process_request, process_event TO elflow_finance;
    END IF;
END
$$;
