-- 15-minute consumption totals per grid area, kept current by every write of daily_summary
-- (issue 12, goal 4): Grafana's grid-area curves read a few rows per quarter instead of every
-- reading of every metering point of the area.
--
-- * A daily_summary row carries its day's current quantities (slot_kwh). Statement triggers on
--   daily_summary fold (new slots − old slots) of the rows a statement wrote into
--   grid_area_quarter, in the same transaction: a correction moves the total by exactly the
--   change, a redelivery by nothing. Whatever writes summaries (the sink's fresh days, the
--   recompute, refresh_period, a benchmark) keeps the totals current without knowing of them.
-- * An hourly slot counts as a quarter of its kWh in each of its four quarters (× 0.25, exact in
--   NUMERIC), so hourly meters do not make the curve jump. A 'mixed' day (the resolution changed
--   within the day) holds quarter slots and is taken as such.
-- * The grid area is the metering point's current one, as in the panels before: triggers on
--   metering_point move a point's days when its grid area changes, add them when its master
--   data arrives after its readings, and take them out when it is deleted.
-- * writer: the sink writes with four connections at once. Each transaction takes the lowest
--   free writer number (a transaction-level advisory lock), so two concurrent transactions never
--   update the same row and never wait for each other here; readers sum over writers.
-- * Local days come from the zone recorded in metering_block_zone (migration 0031, from
--   ELFLOW_TIMEZONE at `elflow db migrate`).
-- Columns: kwh = Σ current kWh in the quarter; points = metering points with a quantity in it;
-- missing = slots of received days without a quantity that start in it (an hourly slot counts
-- once, in its first quarter).

CREATE TABLE grid_area_quarter (
    grid_area_code text NOT NULL,
    quarter_start  timestamptz NOT NULL,
    writer         smallint NOT NULL,
    kwh            numeric NOT NULL,
    points         integer NOT NULL,
    missing        integer NOT NULL,
    PRIMARY KEY (grid_area_code, quarter_start, writer)
);

-- The lowest writer number no other open transaction holds (held until this one ends).
CREATE FUNCTION grid_area_quarter_writer() RETURNS smallint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
BEGIN
    FOR w IN 0..63 LOOP
        IF pg_try_advisory_xact_lock(7231035, w) THEN
            RETURN w;
        END IF;
    END LOOP;
    RETURN 0;  -- 64 writers at once: share row 0 (row locks keep it correct, only slower)
END $$;

-- The statement that folds day rows into grid_area_quarter. `source` is a query returning
-- (grid_area_code, date, resolution, slot_kwh, sign); run with $1 = zone name, $2 = writer.
CREATE FUNCTION grid_area_quarter_sql(source text) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
SELECT format($q$
INSERT INTO grid_area_quarter AS g (grid_area_code, quarter_start, writer, kwh, points, missing)
SELECT x.grid_area_code, x.day_start + x.offset_s * interval '1 second', $2, x.kwh, x.points,
       x.missing
FROM (
    SELECT d.grid_area_code, st.day_start, (s.i - 1) * st.step + k.part * 900 AS offset_s,
           coalesce(sum(d.sign * s.kwh * st.share), 0) AS kwh,
           sum(d.sign * (s.kwh IS NOT NULL)::int) AS points,
           sum(d.sign * (s.kwh IS NULL AND k.part = 0)::int) AS missing
    FROM (%s) AS d (grid_area_code, date, resolution, slot_kwh, sign)
    CROSS JOIN LATERAL (
        SELECT d.date::timestamp AT TIME ZONE $1 AS day_start,
               CASE WHEN d.resolution = 'PT1H' THEN 3600 ELSE 900 END AS step,
               CASE WHEN d.resolution = 'PT1H' THEN 0.25 ELSE 1 END AS share) st
    CROSS JOIN LATERAL unnest(d.slot_kwh) WITH ORDINALITY AS s (kwh, i)
    JOIN (VALUES (0), (1), (2), (3)) AS k (part) ON k.part * 900 < st.step
    GROUP BY 1, 2, 3
) x
WHERE x.kwh <> 0 OR x.points <> 0 OR x.missing <> 0
ORDER BY 1, 2
ON CONFLICT (grid_area_code, quarter_start, writer) DO UPDATE
SET kwh = g.kwh + EXCLUDED.kwh, points = g.points + EXCLUDED.points,
    missing = g.missing + EXCLUDED.missing
$q$, source)
$f$;

CREATE FUNCTION daily_summary_to_grid_area() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    rows_of CONSTANT text := 'SELECT p.grid_area_code, r.date, r.resolution, r.slot_kwh, %s '
                             'FROM %I r JOIN metering_point p ON p.gsrn = r.metering_point_id';
    source text;
BEGIN
    source := CASE TG_OP
        WHEN 'INSERT' THEN format(rows_of, 1, 'new_rows')
        WHEN 'DELETE' THEN format(rows_of, -1, 'old_rows')
        ELSE format(rows_of, -1, 'old_rows') || ' UNION ALL ' || format(rows_of, 1, 'new_rows')
    END;
    EXECUTE grid_area_quarter_sql(source)
        USING (SELECT zone FROM metering_block_zone), grid_area_quarter_writer();
    RETURN NULL;
END $$;

CREATE TRIGGER daily_summary_grid_area_insert AFTER INSERT ON daily_summary
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION daily_summary_to_grid_area();
CREATE TRIGGER daily_summary_grid_area_update AFTER UPDATE ON daily_summary
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION daily_summary_to_grid_area();
CREATE TRIGGER daily_summary_grid_area_delete AFTER DELETE ON daily_summary
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION daily_summary_to_grid_area();

CREATE FUNCTION grid_area_quarter_clear() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    DELETE FROM grid_area_quarter;
    RETURN NULL;
END $$;
CREATE TRIGGER daily_summary_grid_area_truncate AFTER TRUNCATE ON daily_summary
    FOR EACH STATEMENT EXECUTE FUNCTION grid_area_quarter_clear();

-- A metering point's days under the grid area it had (-1) and has (+1); rows whose
-- (gsrn, grid area) did not change cancel out and are not read at all.
CREATE FUNCTION metering_point_to_grid_area() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    days_of CONSTANT text :=
        'SELECT r.grid_area_code, s.date, s.resolution, s.slot_kwh, %s '
        'FROM %I r JOIN daily_summary s ON s.metering_point_id = r.gsrn '
        'WHERE NOT EXISTS (SELECT 1 FROM %I x '
        '                  WHERE x.gsrn = r.gsrn AND x.grid_area_code = r.grid_area_code)';
    source text;
BEGIN
    source := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT r.grid_area_code, s.date, s.resolution, s.slot_kwh, 1 '
                           'FROM new_rows r JOIN daily_summary s ON s.metering_point_id = r.gsrn'
        WHEN 'DELETE' THEN 'SELECT r.grid_area_code, s.date, s.resolution, s.slot_kwh, -1 '
                           'FROM old_rows r JOIN daily_summary s ON s.metering_point_id = r.gsrn'
        ELSE format(days_of, -1, 'old_rows', 'new_rows') || ' UNION ALL '
             || format(days_of, 1, 'new_rows', 'old_rows')
    END;
    EXECUTE grid_area_quarter_sql(source)
        USING (SELECT zone FROM metering_block_zone), grid_area_quarter_writer();
    RETURN NULL;
END $$;

CREATE TRIGGER metering_point_grid_area_insert AFTER INSERT ON metering_point
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metering_point_to_grid_area();
CREATE TRIGGER metering_point_grid_area_update AFTER UPDATE ON metering_point
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metering_point_to_grid_area();
CREATE TRIGGER metering_point_grid_area_delete AFTER DELETE ON metering_point
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metering_point_to_grid_area();

REVOKE EXECUTE ON FUNCTION grid_area_quarter_writer(), grid_area_quarter_sql(text),
    daily_summary_to_grid_area(), grid_area_quarter_clear(), metering_point_to_grid_area()
    FROM PUBLIC;

-- Backfill from the summaries already there.
DO $$
BEGIN
    EXECUTE grid_area_quarter_sql(
        'SELECT p.grid_area_code, s.date, s.resolution, s.slot_kwh, 1 '
        'FROM daily_summary s JOIN metering_point p ON p.gsrn = s.metering_point_id')
        USING (SELECT zone FROM metering_block_zone), grid_area_quarter_writer();
END $$;
