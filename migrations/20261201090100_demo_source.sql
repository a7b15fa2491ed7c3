-- `clinical-sites demo-data` fills a directory with clearly synthetic sites (src/demo_data.rs);
-- `source = demo` tells them apart, so they can be removed exactly and left out of statistics and
-- exports.
alter table site
    drop constraint site_source_check,
    add constraint site_source_check check (source in ('member', 'coordinator', 'import', 'demo'));
