-- Whether a settlement run failed, for Prometheus (`elflow exporter`, deploy/exporter.py) and
-- for dashboards: the latest run of each billing period and grid area started in the last
-- 400 days, with its status and times. No error text, lines, amounts or personal data.
--
-- It is a function of schema `grafana` (like those of 0008): it runs as the owner, refuses a
-- session without a statement timeout, and elflow_grafana (read-only sessions, 30 s timeout,
-- at most 10 connections) may call it, so the exporter needs no role of its own.
CREATE FUNCTION grafana.settlement_run_status()
RETURNS TABLE (period_start date, period_end date, frequency text, grid_area text,
               version integer, status text, executed_at timestamptz, finished_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
    PERFORM grafana.require_statement_timeout();
    RETURN QUERY
    SELECT DISTINCT ON (r.billing_period_id, r.grid_area_code)
           p.period_start, p.period_end, p.frequency, r.grid_area_code, r.version, r.status,
           r.executed_at, r.finished_at
    FROM settlement_run r
    JOIN billing_period p ON p.id = r.billing_period_id
    WHERE r.executed_at > now() - interval '400 days'
    ORDER BY r.billing_period_id, r.grid_area_code, r.executed_at DESC, r.version DESC;
END $$;

REVOKE EXECUTE ON FUNCTION grafana.settlement_run_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION grafana.settlement_run_status() TO elflow_grafana;
