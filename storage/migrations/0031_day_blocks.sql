-- Readings stored as day blocks (issue 12, goal 3: bytes per reading).
--
-- One row of metering_block per (metering point, DataHub transaction, local day): the day's
-- slots as an int8[] of Wh (quantities are numeric(18,3) kWh, so Wh integers are exact) and one
-- quality character per slot, with the document and transaction ids, created_at and
-- received_at once per row. Slot i (1-based) starts at day_start + (i - 1) × the resolution's
-- step, counted in UTC, so DST days simply have 92/100 quarter-hours or 23/25 hours. A
-- transaction that spans days is several rows; one that covers part of a day leaves the other
-- slots absent ('-').
--
-- metering_data stays readable as a VIEW with its former columns and meaning (one row per
-- reading version, append-only), so existing readers, the roles' grants and the tests keep
-- working; inserting into the view (COPY included) goes through an INSTEAD OF trigger that puts
-- each row into its block. The ingest writer writes blocks directly.
--
-- The local day a block is cut in needs the time zone: `elflow db migrate` sets
-- elflow.timezone from ELFLOW_TIMEZONE before running this, and it is kept in
-- metering_block_zone for the trigger (the writer uses the settings).

CREATE TABLE metering_block_zone (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    zone text NOT NULL
);
DO $$
DECLARE
    z text := nullif(current_setting('elflow.timezone', true), '');
BEGIN
    IF z IS NULL THEN
        RAISE EXCEPTION 'elflow.timezone is not set (run this through elflow db migrate)';
    END IF;
    PERFORM now() AT TIME ZONE z;  -- an unknown zone name fails here, naming it
    INSERT INTO metering_block_zone (zone) VALUES (z);
END
$$;

ALTER TABLE metering_data RENAME TO metering_data_rows;

CREATE TABLE metering_block (
    metering_point_id text NOT NULL CHECK (metering_point_id ~ '^[0-9]{18}$'),
    -- local midnight of the block's day, as a UTC instant
    day_start         timestamptz NOT NULL,
    resolution        text NOT NULL CHECK (resolution IN ('PT15M', 'PT1H')),
    -- Wh per slot; NULL = missing (quality 2 = A02) or absent from this transaction ('-')
    wh                int8[] NOT NULL CHECK (0 <= ALL (wh)),
    -- one character per slot: '2'..'6' = CIM quality A02..A06, '-' = no reading here
    quality           text NOT NULL CHECK (quality ~ '^[-2-6]{1,100}$'),
    source_message_id text NOT NULL,
    transaction_id    text NOT NULL,
    created_at        timestamptz NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(wh) = length(quality))
);
SELECT create_hypertable('metering_block', by_range('day_start', INTERVAL '1 month'),
                         create_default_indexes => false);
CREATE INDEX metering_block_point_day_idx ON metering_block (metering_point_id, day_start);

-- A block's reading versions: slot (0-based), start, quantity (kWh), CIM quality. Inlined by the
-- planner where it is used (plain SQL, one SELECT).
CREATE FUNCTION block_readings(start_ts timestamptz, res text, slot_wh int8[], slot_quality text)
RETURNS TABLE (slot integer, "timestamp" timestamptz, quantity_kwh numeric(18, 3), quality text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT s.i::int - 1,
           start_ts + (s.i - 1) * CASE res WHEN 'PT1H' THEN interval '1 hour'
                                           ELSE interval '15 minutes' END,
           (s.w::numeric / 1000)::numeric(18, 3),
           'A0' || s.q
    FROM unnest(slot_wh, string_to_array(slot_quality, NULL)) WITH ORDINALITY AS s(w, q, i)
    WHERE s.q <> '-'
$$;

CREATE VIEW metering_data AS
SELECT b.metering_point_id, r."timestamp", b.resolution, r.quantity_kwh::numeric(18, 3) AS quantity_kwh,
       r.quality,
       b.source_message_id, b.transaction_id, b.created_at, b.received_at
FROM metering_block b
CROSS JOIN LATERAL block_readings(b.day_start, b.resolution, b.wh, b.quality) r;

-- The existing readings, one block per (point, local day, transaction version).
INSERT INTO metering_block (metering_point_id, day_start, resolution, wh, quality,
                            source_message_id, transaction_id, created_at, received_at)
WITH z AS (SELECT zone FROM metering_block_zone),
r AS (
    SELECT m.*, d.day_start,
           (extract(epoch FROM m."timestamp" - d.day_start)::bigint
               / CASE m.resolution WHEN 'PT1H' THEN 3600 ELSE 900 END)::int AS slot
    FROM metering_data_rows m, z
    CROSS JOIN LATERAL (
        SELECT ((m."timestamp" AT TIME ZONE z.zone)::date)::timestamp AT TIME ZONE z.zone
            AS day_start) d
),
k AS (
    SELECT metering_point_id, day_start, resolution, source_message_id, transaction_id,
           created_at, received_at, max(slot) AS last
    FROM r GROUP BY 1, 2, 3, 4, 5, 6, 7
)
SELECT k.metering_point_id, k.day_start, k.resolution,
       array_agg((r.quantity_kwh * 1000)::int8 ORDER BY s.slot),
       string_agg(coalesce(right(r.quality, 1), '-'), '' ORDER BY s.slot),
       k.source_message_id, k.transaction_id, k.created_at, k.received_at
FROM k
CROSS JOIN LATERAL generate_series(0, k.last) AS s(slot)
LEFT JOIN r ON r.metering_point_id = k.metering_point_id AND r.day_start = k.day_start
           AND r.resolution = k.resolution AND r.source_message_id = k.source_message_id
           AND r.transaction_id = k.transaction_id AND r.created_at = k.created_at
           AND r.received_at = k.received_at AND r.slot = s.slot
GROUP BY k.metering_point_id, k.day_start, k.resolution, k.source_message_id, k.transaction_id,
         k.created_at, k.received_at;

DO $$
BEGIN
    IF (SELECT count(*) FROM metering_data_rows) <> (SELECT count(*) FROM metering_data) THEN
        RAISE EXCEPTION 'day blocks: the migrated readings do not number the old rows';
    END IF;
END
$$;
DROP TABLE metering_data_rows;

-- INSERT/COPY into the view: each row into its block (the block of the same transaction,
-- day and times whose slot is still free, or a new one). Runs as the owner, so a role that
-- may insert into the view needs no UPDATE on metering_block.
CREATE FUNCTION metering_data_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    z text := (SELECT zone FROM metering_block_zone);
    step_s int := CASE NEW.resolution WHEN 'PT1H' THEN 3600 WHEN 'PT15M' THEN 900 END;
    day_ts timestamptz;
    offset_s bigint;
    pos int;
    q text;
    w int8;
BEGIN
    IF step_s IS NULL THEN
        RAISE check_violation USING MESSAGE = format('resolution %L is not PT15M or PT1H', NEW.resolution);
    END IF;
    IF NEW.quality IS NULL OR NEW.quality NOT IN ('A02', 'A03', 'A04', 'A05', 'A06')
       OR (NEW.quality = 'A02' AND NEW.quantity_kwh IS NOT NULL) THEN
        RAISE check_violation USING MESSAGE = format('quality %L with quantity %s', NEW.quality, NEW.quantity_kwh);
    END IF;
    IF NEW.quantity_kwh IS NOT NULL AND (NEW.quantity_kwh < 0 OR NEW.quantity_kwh * 1000 <> trunc(NEW.quantity_kwh * 1000)) THEN
        RAISE check_violation USING MESSAGE = format('quantity %s is not a whole Wh ≥ 0', NEW.quantity_kwh);
    END IF;
    day_ts := ((NEW."timestamp" AT TIME ZONE z)::date)::timestamp AT TIME ZONE z;
    offset_s := extract(epoch FROM NEW."timestamp" - day_ts)::bigint;
    IF offset_s % step_s <> 0 THEN
        RAISE check_violation USING MESSAGE = format('%s is not a %s slot start', NEW."timestamp", NEW.resolution);
    END IF;
    pos := offset_s / step_s + 1;
    q := right(NEW.quality, 1);
    w := (NEW.quantity_kwh * 1000)::int8;
    NEW.received_at := coalesce(NEW.received_at, now());
    UPDATE metering_block b
       SET wh = CASE WHEN cardinality(b.wh) >= pos THEN b.wh[:pos - 1] || w || b.wh[pos + 1:]
                     ELSE b.wh || array_fill(NULL::int8, ARRAY[pos - 1 - cardinality(b.wh)]) || w END,
           quality = overlay(rpad(b.quality, greatest(length(b.quality), pos), '-') PLACING q FROM pos)
     WHERE b.metering_point_id = NEW.metering_point_id AND b.day_start = day_ts
       AND b.resolution = NEW.resolution AND b.source_message_id = NEW.source_message_id
       AND b.transaction_id = NEW.transaction_id AND b.created_at = NEW.created_at
       AND b.received_at = NEW.received_at
       AND (length(b.quality) < pos OR substr(b.quality, pos, 1) = '-');
    IF NOT FOUND THEN
        INSERT INTO metering_block (metering_point_id, day_start, resolution, wh, quality,
                                    source_message_id, transaction_id, created_at, received_at)
        VALUES (NEW.metering_point_id, day_ts, NEW.resolution,
                array_fill(NULL::int8, ARRAY[pos - 1]) || w, repeat('-', pos - 1) || q,
                NEW.source_message_id, NEW.transaction_id, NEW.created_at, NEW.received_at);
    END IF;
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION metering_data_insert() FROM PUBLIC;
CREATE TRIGGER metering_data_insert INSTEAD OF INSERT ON metering_data
    FOR EACH ROW EXECUTE FUNCTION metering_data_insert();

-- The roles keep what they had on metering_data: ingest appends (blocks, or rows through the
-- view) and reads, finance reads; neither changes or deletes a version.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_ingest') THEN
        GRANT SELECT, INSERT ON metering_data, metering_block TO elflow_ingest;
        GRANT SELECT ON metering_block_zone TO elflow_ingest;
        GRANT EXECUTE ON FUNCTION block_readings(timestamptz, text, int8[], text) TO elflow_ingest;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_finance') THEN
        GRANT SELECT ON metering_data, metering_block TO elflow_finance;
        GRANT EXECUTE ON FUNCTION block_readings(timestamptz, text, int8[], text) TO elflow_finance;
    END IF;
END
$$;
