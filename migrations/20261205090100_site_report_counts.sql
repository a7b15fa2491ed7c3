-- A site's report summary (src/reports/summary.rs): its reports counted again by each report
-- write, in that write's transaction, and read with the site (its page, search hits).
alter table site
    add column report_counts jsonb not null default '{}',
    -- Moved on by each report write: part of the site's `ETag` (its representation carries the
    -- summary), not of the listing's `version`, so a report never makes a coordinator's edit stale.
    add column reports_revision integer not null default 0;

-- A report write is not a change of the listing: its `updated_at` stays.
drop trigger site_set_updated_at on site;
create trigger site_set_updated_at before update on site
    for each row when (old.reports_revision = new.reports_revision) execute function set_updated_at();
