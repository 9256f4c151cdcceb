-- Grafana's grid-area panels read the 15-minute totals ingest keeps (0035) instead of every
-- current reading of every metering point of the area (issue 12, goal 4). Same signatures as
-- in 0008, so grants and panel queries stay; what the columns mean:
-- consumption_by_area: per quarter start in [t_from, t_to] and grid area, kWh (an hourly
--   reading as a quarter of its kWh in each of its quarters), readings = metering points with a
--   quantity in the quarter, missing = slots without a quantity that start in the quarter;
-- consumption_totals: per grid area over the quarters in [t_from, t_to]: the most metering
--   points with a quantity in one quarter, kWh, slots without a quantity.

CREATE OR REPLACE FUNCTION grafana.consumption_by_area(t_from timestamptz, t_to timestamptz,
                                                       areas text[])
RETURNS TABLE ("timestamp" timestamptz, grid_area text, kwh numeric, readings bigint,
               missing bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT q.quarter_start, q.grid_area_code, sum(q.kwh), sum(q.points)::bigint,
           sum(q.missing)::bigint
    FROM grid_area_quarter q
    WHERE q.grid_area_code = ANY (areas) AND q.quarter_start BETWEEN t_from AND t_to
    GROUP BY 1, 2
    HAVING sum(q.points) <> 0 OR sum(q.missing) <> 0;
END $$;

CREATE OR REPLACE FUNCTION grafana.consumption_totals(t_from timestamptz, t_to timestamptz,
                                                      areas text[])
RETURNS TABLE (grid_area text, grid_operator text, metering_points bigint, kwh numeric,
               missing bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT a.grid_area_code, g.grid_operator_name, max(a.points), sum(a.kwh), sum(a.missing)::bigint
    FROM (SELECT q.grid_area_code, q.quarter_start, sum(q.kwh) AS kwh,
                 sum(q.points)::bigint AS points, sum(q.missing)::bigint AS missing
          FROM grid_area_quarter q
          WHERE q.grid_area_code = ANY (areas) AND q.quarter_start BETWEEN t_from AND t_to
          GROUP BY 1, 2
          HAVING sum(q.points) <> 0 OR sum(q.missing) <> 0) a
    JOIN grid_area g ON g.code = a.grid_area_code
    GROUP BY 1, 2;
END $$;
