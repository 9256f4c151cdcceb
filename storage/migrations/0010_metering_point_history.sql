-- Metering points as DataHub keeps them (issue 9): every applied RSM-022 record is an immutable
-- event; the master data is a projection of the events with validity intervals; the class
-- diagram's metering_point stays the current view. Records that contradict the state wait in
-- metering_point_pending (with a dead_letter_message row for operators) until an earlier
-- document makes them valid. Domain events leave through an outbox in the same transaction.

CREATE TABLE metering_point_event (
    -- uuid5 of (document mRID, record mRID): the same record always gets the same event id.
    id                  uuid PRIMARY KEY,
    gsrn                text NOT NULL CHECK (gsrn ~ '^[0-9]{18}$'),
    message_id          text NOT NULL,
    transaction_id      text NOT NULL,
    process_type        text NOT NULL CHECK (process_type IN ('E02', 'E32', 'D15', 'E79', 'D14', 'D17', 'D39')),
    effective_at        timestamptz NOT NULL,
    document_created_at timestamptz NOT NULL,
    -- The document and record as parsed (schemas.rsm022.MasterDataChange), so the projection
    -- can be rebuilt from this table alone.
    change              jsonb NOT NULL,
    applied_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, transaction_id)
);
CREATE INDEX metering_point_event_gsrn_idx ON metering_point_event (gsrn, effective_at);

CREATE FUNCTION metering_point_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'metering_point_event is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER metering_point_event_append_only BEFORE UPDATE OR DELETE ON metering_point_event
    FOR EACH ROW EXECUTE FUNCTION metering_point_event_append_only();

-- The master data valid in [valid_from, valid_to) (valid_to NULL = until further notice),
-- recomputed per metering point from its events whenever one is applied.
CREATE TABLE metering_point_version (
    gsrn                  text NOT NULL CHECK (gsrn ~ '^[0-9]{18}$'),
    valid_from            timestamptz NOT NULL,
    valid_to              timestamptz,
    -- DataHub's code: E17 consumption, E18 production, E20 exchange, D01..D99 child types.
    type                  text NOT NULL CHECK (type ~ '^(E17|E18|E20|D[0-9]{2})$'),
    parent_gsrn           text CHECK (parent_gsrn ~ '^[0-9]{18}$'),
    grid_area_code        text CHECK (grid_area_code ~ '^[0-9]{3}$'),
    -- From grid_area when the grid area is known there; DataHub's document does not carry it.
    price_area            text CHECK (price_area IN ('DK1', 'DK2')),
    grid_operator_gln     text,
    resolution            text,
    settlement_method     text CHECK (settlement_method IN ('Flex', 'NonProfiled')),
    metering_method       text,
    connection_status     text NOT NULL CHECK (connection_status IN ('New', 'Connected', 'Disconnected', 'ClosedDown')),
    production_obligation boolean,
    supplier_gln          text,
    supply_start          timestamptz,
    net_settlement_group  text,
    meter_id              text,
    event_id              uuid NOT NULL REFERENCES metering_point_event (id),
    PRIMARY KEY (gsrn, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE INDEX metering_point_version_area_idx ON metering_point_version (grid_area_code, valid_from);

-- Records not (yet) applicable: the reason is DataHub's code; retried whenever another record of
-- the same metering point is applied, and by `replay`.
CREATE TABLE metering_point_pending (
    message_id          text NOT NULL,
    transaction_id      text NOT NULL,
    gsrn                text NOT NULL,
    effective_at        timestamptz NOT NULL,
    change              jsonb NOT NULL,
    reason_code         text NOT NULL,
    detail              text NOT NULL,
    dead_letter_id      uuid REFERENCES dead_letter_message (id),
    parked_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, transaction_id)
);
CREATE INDEX metering_point_pending_gsrn_idx ON metering_point_pending (gsrn);

-- Domain events to publish (MeteringPointCreated …), written with the event they describe.
CREATE TABLE metering_point_outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE REFERENCES metering_point_event (id),
    gsrn         text NOT NULL,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX metering_point_outbox_unpublished_idx ON metering_point_outbox (seq) WHERE published_at IS NULL;

-- The current view also holds points that are created but not yet connected (DataHub's D03
-- New) and production points, which have no settlement method.
ALTER TABLE metering_point DROP CONSTRAINT metering_point_connection_status_check;
ALTER TABLE metering_point ADD CONSTRAINT metering_point_connection_status_check
    CHECK (connection_status IN ('New', 'Connected', 'Disconnected', 'ClosedDown'));
ALTER TABLE metering_point ALTER COLUMN settlement_method DROP NOT NULL;
ALTER TABLE metering_point ADD CONSTRAINT metering_point_consumption_settlement_check
    CHECK (type <> 'E17_Consumption' OR settlement_method IS NOT NULL);

-- Least privilege, when 0008's roles exist: the master-data flow runs as elflow_ingest.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_ingest') THEN
        GRANT SELECT, INSERT ON metering_point_event TO elflow_ingest;
        GRANT SELECT, INSERT, UPDATE, DELETE ON metering_point_version, metering_point_pending TO elflow_ingest;
        GRANT SELECT, INSERT, UPDATE ON metering_point_outbox, metering_point TO elflow_ingest;
        GRANT USAGE ON SEQUENCE metering_point_outbox_seq_seq TO elflow_ingest;
        GRANT SELECT ON grid_area TO elflow_ingest;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_finance') THEN
        GRANT SELECT ON metering_point_event, metering_point_version TO elflow_finance;
    END IF;
END
$$;
