-- The period close reads a day's facts without its slots (issue 12, goal 1).
--
-- The close checks every settled (metering point, day) for gaps (missing_count, resolution),
-- matches day_charge_sum rows against (versions, updated_at) and sums the aconto history
-- (total_kwh). Those few columns sit in rows of about 1 KB because of slot_kwh, so each check
-- read the whole table (2.4 GB for 80 000 metering points × one month). The primary key now
-- carries them (INCLUDE), so the planner answers those reads with an index-only scan.
--
-- "Readings that do not fill the day" was the one check that opened slot_kwh: it becomes a
-- constraint, which every writer already satisfies (storage.summaries builds slot_kwh with
-- points_expected entries), so such a row cannot exist and the close need not look.

ALTER TABLE daily_summary
    ADD CONSTRAINT daily_summary_slots_fill_the_day
        CHECK (cardinality(slot_kwh) = points_expected);

ALTER TABLE daily_summary
    DROP CONSTRAINT daily_summary_pkey,
    ADD CONSTRAINT daily_summary_pkey PRIMARY KEY (metering_point_id, date)
        INCLUDE (resolution, missing_count, versions, updated_at, total_kwh);
