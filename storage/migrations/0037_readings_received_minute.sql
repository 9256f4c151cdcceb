-- Reading versions received per minute and quality code, counted by the ingest writer in the
-- batch's transaction (storage.received), so Grafana's "Readings received" panel reads a row per
-- minute instead of scanning every reading of the last 35 days by received_at (no index there:
-- one would slow every batch). Issue 12, goal 4. `writer` as in grid_area_quarter (0035): each
-- open transaction counts in its own row, so the sink's parallel writers never wait here.
-- Readings written behind the writer's back (benchmark generators) are not counted.

CREATE TABLE readings_received_minute (
    received_minute timestamptz NOT NULL,
    quality         text NOT NULL,
    writer          smallint NOT NULL,
    readings        bigint NOT NULL,
    PRIMARY KEY (received_minute, quality, writer)
);
GRANT SELECT, INSERT, UPDATE ON readings_received_minute TO elflow_ingest;
GRANT EXECUTE ON FUNCTION grid_area_quarter_writer() TO elflow_ingest;

-- Backfill: every version stored so far, in the minute it was received.
INSERT INTO readings_received_minute (received_minute, quality, writer, readings)
SELECT date_bin('1 minute', m.received_at, timestamptz '2000-01-01 00:00:00+00'), m.quality, 0,
       count(*)
FROM metering_data m
GROUP BY 1, 2;

-- Same signature as in 0008. Now every version counts, late corrections of old readings too.
CREATE OR REPLACE FUNCTION grafana.readings_received(t_from timestamptz, t_to timestamptz)
RETURNS TABLE (received_minute timestamptz, quality text, readings bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT r.received_minute, r.quality, sum(r.readings)::bigint
    FROM readings_received_minute r
    WHERE r.received_minute BETWEEN date_bin('1 minute', t_from, timestamptz '2000-01-01 00:00:00+00')
                                AND t_to
    GROUP BY 1, 2;
END $$;
