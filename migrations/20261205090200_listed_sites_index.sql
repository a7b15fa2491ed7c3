-- The statistics' listing counts (src/reports/stats.rs, `listings`) read the listed real sites:
-- with a million demo sites beside them, a scan would read every one.
create index site_listed_real_idx on site (state, site_type) where source <> 'demo' and status <> 'archived';
