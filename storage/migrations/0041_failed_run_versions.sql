-- Run versions (issue 13): a Failed run keeps its record and the version it tried, but that
-- number is not used up: the next run tries it again, so Completed runs are numbered 1, 2, 3 …
-- without gaps. Versions are unique among the runs that are not Failed (one Running or Completed
-- run per version); several Failed attempts may share a version with each other and with the
-- Completed run that followed them.
ALTER TABLE settlement_run
    DROP CONSTRAINT settlement_run_billing_period_id_grid_area_code_version_key;
CREATE UNIQUE INDEX settlement_run_version_idx
    ON settlement_run (billing_period_id, grid_area_code, version) WHERE status <> 'Failed';
CREATE INDEX settlement_run_area_version_idx
    ON settlement_run (billing_period_id, grid_area_code, version);
