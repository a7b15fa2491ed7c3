-- Distance order takes the window of nearest matches (ids and distances) from the earth index alone
-- and fetches only the page's sites whole (docs/performance.md, "Radius"). Without the id in the
-- index, at 100,000 sites the planner preferred a bitmap heap scan of the whole radius plus a sort
-- (1,131 table pages, 13 ms) to the nearest-first scan.
drop index site_earth_idx;
create index site_earth_idx on site using gist (ll_to_earth(latitude, longitude))
    include (site_id, latitude, longitude, status, modality_mask, payment, liability_insurance)
    where latitude is not null and status <> 'archived';
