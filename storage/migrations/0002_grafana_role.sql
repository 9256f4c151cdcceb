-- Read-only access for Grafana (deploy/grafana): the role `elflow_grafana`.
--
-- Roles are cluster-wide while migrations run once per database, so the role is created only
-- when it is missing; the grants below are per database and run every time.
--
-- LOGIN without a password: the local stack authenticates loopback connections with `trust`.
-- Production sets a password out of band, never in a migration:
--     ALTER ROLE elflow_grafana PASSWORD '...';
-- and gives it to Grafana as secureJsonData.password (see deploy/grafana/README.md).
--
-- Grafana runs whatever SQL a dashboard editor types, so the role must not be able to change
-- anything: it gets SELECT only, its sessions default to read-only transactions, and a
-- statement timeout keeps a careless panel from holding locks or hogging the ingest database.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_grafana') THEN
        BEGIN
            CREATE ROLE elflow_grafana LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
                NOINHERIT;
            ALTER ROLE elflow_grafana SET default_transaction_read_only = on;
            ALTER ROLE elflow_grafana SET statement_timeout = '30s';
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            -- Another database's migration created it at the same moment.
            NULL;
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO elflow_grafana', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO elflow_grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO elflow_grafana;
-- Tables that later migrations create (as the elflow role) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO elflow_grafana;

-- Personal data stays out of dashboards: a customer's name, CPR/CVR number, e-mail and phone
-- are not readable by Grafana (every dashboard viewer could otherwise list them).
REVOKE SELECT ON customer FROM elflow_grafana;
GRANT SELECT (id, contact_type, created_at, status) ON customer TO elflow_grafana;

-- No new indexes: the panels use metering_data (metering_point_id, "timestamp", created_at DESC)
-- and daily_summary's (metering_point_id, date) / (date) indexes; an index on
-- metering_data (received_at) would slow every ingest batch.
