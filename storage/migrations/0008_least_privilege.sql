-- Least privilege (README "Security"): each job's role gets the table privileges of its job and
-- nothing else; Grafana reads only through the functions of schema `grafana`.
--
-- Runs as the owner role `elflow`, which owns every table. The roles are created beforehand,
-- once per cluster, by an administrator: `elflow db roles` (storage/roles.py). Every statement
-- here is a GRANT/REVOKE, so the same privileges result on a fresh database and on one that ran
-- 0002's broad Grafana grants. A later migration that adds a table grants it here-style.
DO $$
DECLARE
    missing text := (
        SELECT string_agg(r, ', ')
        FROM unnest(ARRAY['elflow_ingest', 'elflow_finance', 'elflow_loader', 'elflow_grafana']) r
        WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r));
BEGIN
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'roles % do not exist: run `elflow db roles` with ELFLOW_ADMIN_DATABASE_URL first', missing;
    END IF;
    -- Only elflow's roles connect; no role but the owner may create schemas; TEMP only for the
    -- jobs that stage batches in temporary tables (never Grafana).
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM elflow_ingest, elflow_finance, elflow_loader, elflow_grafana',
                   current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO elflow_ingest, elflow_finance, elflow_loader',
                   current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO elflow_grafana', current_database());
END
$$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO elflow_ingest, elflow_finance, elflow_loader, elflow_grafana;

-- Start from nothing (0002 gave Grafana SELECT on every table, now and in the future).
REVOKE ALL ON ALL TABLES IN SCHEMA public
    FROM PUBLIC, elflow_ingest, elflow_finance, elflow_loader, elflow_grafana;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM elflow_grafana;
-- Functions the owner creates are not callable by everyone.
REVOKE EXECUTE ON FUNCTION invoice_keep_issued(), invoice_line_keep_issued() FROM PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- ---------------------------------------------------------------- elflow_ingest
-- Appends reading versions (never changes or deletes one), claims each transaction once,
-- records inbound documents and dead letters (replay marks them resolved), keeps the daily
-- summaries of the days it touched.
GRANT SELECT, INSERT ON metering_data, processed_message_id TO elflow_ingest;
GRANT SELECT, INSERT, UPDATE ON daily_summary, inbound_message, dead_letter_message TO elflow_ingest;

-- ---------------------------------------------------------------- elflow_loader
-- Reference and master data: prices, tariffs, taxes, subscriptions, grid areas, customers,
-- metering points, supply periods, products, contracts, aconto payments (and their periods).
GRANT SELECT, INSERT, UPDATE ON
    grid_area, customer, metering_point, supply_period, product, contract, grid_tariff,
    tariff_rate, subscription, electricity_tax, spot_price, aconto_payment, billing_period
    TO elflow_loader;

-- ---------------------------------------------------------------- elflow_finance
-- Reads readings and reference data; brings daily summaries up to date before a run (they are
-- derived from the readings, which it cannot change); writes settlement runs and lines, aconto
-- settlements and invoices (a Draft may be rebuilt; issued ones are guarded by triggers it
-- cannot disable, since it owns no table).
GRANT SELECT ON
    metering_data, grid_area, customer, metering_point, supply_period, product, contract,
    grid_tariff, tariff_rate, subscription, electricity_tax, spot_price, aconto_payment
    TO elflow_finance;
GRANT SELECT, INSERT, UPDATE ON daily_summary, settlement_run TO elflow_finance;
GRANT SELECT, INSERT ON billing_period, settlement_line TO elflow_finance;
GRANT SELECT, INSERT, UPDATE, DELETE ON aconto_settlement, invoice, invoice_line TO elflow_finance;

-- ---------------------------------------------------------------- elflow_grafana
-- No table at all: the dashboards call these functions, which run as the owner and return
-- only what the panels show (no invoices, contracts, settlement lines, personal data or
-- dead-letter payloads). Each refuses to run unless the session's statement_timeout is on
-- and at most 30 s (the role's default, set by `elflow db roles`): `SET statement_timeout = 0`
-- turns the dashboards off instead of letting a query run unbounded. Changing the timeout in
-- the middle of a statement (set_config, DO) is revoked from Grafana by `elflow db roles`.
CREATE SCHEMA grafana;
REVOKE ALL ON SCHEMA grafana FROM PUBLIC;
GRANT USAGE ON SCHEMA grafana TO elflow_grafana;

CREATE FUNCTION grafana.require_statement_timeout() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    ms bigint := (SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout');
BEGIN
    IF ms = 0 OR ms > 30000 THEN
        RAISE EXCEPTION 'dashboard queries need statement_timeout between 1 ms and 30 s, not %',
            current_setting('statement_timeout')
            USING ERRCODE = 'insufficient_privilege', HINT = 'RESET statement_timeout';
    END IF;
END $$;

CREATE FUNCTION grafana.grid_areas()
RETURNS TABLE (code text, grid_operator_name text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY SELECT g.code, g.grid_operator_name FROM grid_area g;
END $$;

CREATE FUNCTION grafana.metering_points(areas text[])
RETURNS TABLE (gsrn text, grid_area_code text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY SELECT p.gsrn, p.grid_area_code FROM metering_point p
                 WHERE p.grid_area_code = ANY (areas);
END $$;

-- The current version of each reading (latest created_at, ties by document and transaction
-- id, as the daily summaries) of the given metering points in [t_from, t_to].
CREATE FUNCTION grafana.current_readings(t_from timestamptz, t_to timestamptz, gsrns text[])
RETURNS TABLE (metering_point_id text, "timestamp" timestamptz, quantity_kwh numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT c.metering_point_id, c."timestamp", c.quantity_kwh
    FROM (
        SELECT DISTINCT ON (m.metering_point_id, m."timestamp")
               m.metering_point_id, m."timestamp", m.resolution, m.quantity_kwh
        FROM metering_data m
        WHERE m."timestamp" BETWEEN t_from AND t_to
          AND m.metering_point_id = ANY (gsrns)
        ORDER BY m.metering_point_id, m."timestamp",
                 m.created_at DESC, m.source_message_id DESC, m.transaction_id DESC
    ) c
    WHERE c.resolution IN ('PT15M', 'PT1H');
END $$;

-- Per reading timestamp and grid area: kWh, current readings, missing ones, metering points.
CREATE FUNCTION grafana.consumption_by_area(t_from timestamptz, t_to timestamptz, areas text[])
RETURNS TABLE ("timestamp" timestamptz, grid_area text, kwh numeric, readings bigint,
               missing bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT c."timestamp", p.grid_area_code, sum(c.quantity_kwh), count(*),
           count(*) FILTER (WHERE c.quantity_kwh IS NULL)
    FROM grafana.current_readings(
             t_from, t_to,
             ARRAY(SELECT q.gsrn FROM metering_point q WHERE q.grid_area_code = ANY (areas))) c
    JOIN metering_point p ON p.gsrn = c.metering_point_id
    GROUP BY 1, 2;
END $$;

CREATE FUNCTION grafana.consumption_totals(t_from timestamptz, t_to timestamptz, areas text[])
RETURNS TABLE (grid_area text, grid_operator text, metering_points bigint, kwh numeric,
               missing bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT p.grid_area_code, g.grid_operator_name, count(DISTINCT c.metering_point_id),
           sum(c.quantity_kwh), count(*) FILTER (WHERE c.quantity_kwh IS NULL)
    FROM grafana.current_readings(
             t_from, t_to,
             ARRAY(SELECT q.gsrn FROM metering_point q WHERE q.grid_area_code = ANY (areas))) c
    JOIN metering_point p ON p.gsrn = c.metering_point_id
    JOIN grid_area g ON g.code = p.grid_area_code
    GROUP BY 1, 2;
END $$;

CREATE FUNCTION grafana.consumption_by_point(t_from timestamptz, t_to timestamptz, gsrns text[])
RETURNS TABLE ("timestamp" timestamptz, gsrn text, kwh numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY SELECT c."timestamp", c.metering_point_id, c.quantity_kwh
                 FROM grafana.current_readings(t_from, t_to, gsrns) c;
END $$;

-- Daily summaries per local date, summed over the metering points of the grid areas.
CREATE FUNCTION grafana.daily_bands(d_from date, d_to date, areas text[])
RETURNS TABLE (date date, off_peak numeric, peak numeric, super_peak numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT s.date, sum(s.off_peak_kwh), sum(s.peak_kwh), sum(coalesce(s.super_peak_kwh, 0))
    FROM daily_summary s
    JOIN metering_point p ON p.gsrn = s.metering_point_id
    WHERE s.date BETWEEN d_from AND d_to AND p.grid_area_code = ANY (areas)
    GROUP BY s.date;
END $$;

-- Days with missing quantities of the grid areas' metering points and of metering points
-- without master data (grid_area NULL); at most 1000, newest first.
CREATE FUNCTION grafana.incomplete_days(d_from date, d_to date, areas text[])
RETURNS TABLE (date date, gsrn text, grid_area text, received integer, expected integer,
               missing integer, estimated integer, total_kwh numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT s.date, s.metering_point_id, p.grid_area_code, s.points_received, s.points_expected,
           s.missing_count, s.estimated_count, s.total_kwh
    FROM daily_summary s
    LEFT JOIN metering_point p ON p.gsrn = s.metering_point_id
    WHERE s.missing_count > 0
      AND s.date BETWEEN d_from AND d_to
      AND (p.grid_area_code = ANY (areas) OR p.gsrn IS NULL)
    ORDER BY s.date DESC, s.metering_point_id
    LIMIT 1000;
END $$;

CREATE FUNCTION grafana.points_without_master_data(d_from date, d_to date)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN (SELECT count(DISTINCT s.metering_point_id)
            FROM daily_summary s
            WHERE s.date BETWEEN d_from AND d_to
              AND NOT EXISTS (SELECT 1 FROM metering_point p WHERE p.gsrn = s.metering_point_id));
END $$;

-- Reading versions stored per minute and quality code. No index on received_at (it would slow
-- ingest): the "timestamp" bound lets TimescaleDB skip chunks more than 35 days older than the
-- range, so late corrections of older readings are not counted.
CREATE FUNCTION grafana.readings_received(t_from timestamptz, t_to timestamptz)
RETURNS TABLE (received_minute timestamptz, quality text, readings bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT date_bin('1 minute', m.received_at, timestamptz '2000-01-01 00:00:00+00'), m.quality,
           count(*)
    FROM metering_data m
    WHERE m.received_at BETWEEN t_from AND t_to
      AND m."timestamp" > t_from - interval '35 days'
    GROUP BY 1, 2;
END $$;

-- Dead letters per minute and reason code (no payload, no detail text).
CREATE FUNCTION grafana.dead_letters(t_from timestamptz, t_to timestamptz)
RETURNS TABLE (failed_minute timestamptz, reason_code text, dead_letters bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT date_bin('1 minute', d.failed_at, timestamptz '2000-01-01 00:00:00+00'), d.reason_code,
           count(*)
    FROM dead_letter_message d
    WHERE d.failed_at BETWEEN t_from AND t_to
    GROUP BY 1, 2;
END $$;

CREATE FUNCTION grafana.open_dead_letters()
RETURNS TABLE (reason_code text, open bigint, oldest timestamptz, newest timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT d.reason_code, count(*), min(d.failed_at), max(d.failed_at)
    FROM dead_letter_message d
    WHERE NOT d.resolved
    GROUP BY d.reason_code;
END $$;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA grafana FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA grafana TO elflow_grafana;
