-- ZIPs that are not Census ZCTAs (PO boxes, single organisations such as many hospitals) are placed
-- from GeoNames (reference/README.md): a site's coordinates derived that way say so.
alter table site
    drop constraint site_coordinates_source_check,
    add constraint site_coordinates_source_check
        check (coordinates_source in ('request', 'zip_centroid', 'zip_geonames'));
