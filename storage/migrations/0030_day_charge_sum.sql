-- Per-day charge sums of a metering point, so a period close reads one small row per point and
-- day instead of multiplying every slot of daily_summary.slot_kwh again (issue 12, goal 1).
--
-- A row holds, for one (metering point, local day), the exact sums Σ kWh, Σ kWh × spot and
-- Σ kWh × each per-kWh charge, together with what they were computed from:
-- * summary_versions / summary_updated_at: the daily_summary row's versions and updated_at
--   (every write of a summary sets updated_at = now(), so another slot_kwh means another pair);
-- * rates_md5: md5 of the day's rate arrays (spot, grid, system, transmission, tax per slot).
-- The settlement uses a row only when all three still match; otherwise it recomputes the day
-- from slot_kwh and replaces the row. Derived data: deleting rows only costs time.
CREATE TABLE day_charge_sum (
    metering_point_id  text NOT NULL,
    date               date NOT NULL,
    summary_versions   integer NOT NULL,
    summary_updated_at timestamptz NOT NULL,
    rates_md5          uuid NOT NULL,
    kwh                numeric NOT NULL,
    spot_kwh           numeric NOT NULL,
    grid               numeric NOT NULL,
    system             numeric NOT NULL,
    transmission       numeric NOT NULL,
    tax                numeric NOT NULL,
    PRIMARY KEY (metering_point_id, date)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'elflow_finance') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON day_charge_sum TO elflow_finance;
    END IF;
END
$$;
