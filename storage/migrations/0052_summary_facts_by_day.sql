-- The period close joins a period's days with their facts (issue 12, goal 1).
--
-- 0051 made the primary key (metering_point_id, date) carry the facts the close reads, which
-- serves lookups per metering point (aconto history). The close's left-out check and day sums
-- join every settled (metering point, day) of a period instead: PostgreSQL looked each one up
-- in the primary key (2.4 M lookups for 80 000 metering points). Keyed by date first, the same
-- facts are one range scan of the period's index entries, which a hash join uses; the plain
-- date index it replaces answered only the date. The band sums ride along for Grafana's daily
-- bands panel (grafana.daily_bands), which otherwise read the whole rows of its days (1.9 s
-- for two days at 80 000 metering points).

CREATE INDEX daily_summary_day_facts_idx ON daily_summary (date, metering_point_id)
    INCLUDE (resolution, missing_count, versions, updated_at, off_peak_kwh, peak_kwh,
             super_peak_kwh);
DROP INDEX daily_summary_date_idx;
