-- daily_summary.versions: how many reading versions of that (metering point, local day) the
-- row was computed from. metering_data is append-only, so a summary whose count still matches
-- the hypertable's is current; refresh_period recomputes only the rows where it does not.
-- Existing rows start at 0 and are therefore recomputed by the next refresh.
ALTER TABLE daily_summary ADD COLUMN versions integer NOT NULL DEFAULT 0 CHECK (versions >= 0);
