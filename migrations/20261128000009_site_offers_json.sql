-- Every read of a site (one, a page of a search) returns its offers as one JSON object keyed by
-- modality. Built per row from `site_offer`, that object cost a search page more than anything but
-- its index scan: at a million sites, 0.35 ms of a 1.0 ms page of 21 sites, 0.2 ms of it in
-- `json_build_object` (docs/performance.md, "Offers"). The object is now kept on the site row,
-- written with the offers (`sync_offers`, the only writer of `site_offer`), in the API's shape.

-- The offers of one site as the API shows them. The single definition of that shape in SQL: the
-- backfill below and every write of offers use it.
create function site_offers_json(site uuid) returns json
    language sql stable
    return (select coalesce(json_object_agg(o.modality, json_build_object(
                'accepting', o.accepting, 'capacity', o.capacity, 'verifier_on_site', o.verifier_on_site,
                'accepts', o.accepts, 'procedure_categories', o.procedure_categories,
                'volume_band', o.volume_band, 'notes', o.notes) order by o.modality), '{}')
              from site_offer o where o.site_id = site);

-- `json`, not `jsonb`: it is only ever returned whole, and `json` is sent as it is stored.
alter table site add column offers json not null default '{}';

-- Filling it is not a change of the listing: `updated_at` stays as it was.
alter table site disable trigger site_set_updated_at;
update site s set offers = site_offers_json(s.site_id)
 where exists (select 1 from site_offer o where o.site_id = s.site_id);
alter table site enable trigger site_set_updated_at;
