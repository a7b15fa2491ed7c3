-- The duplicate guard (src/sites/duplicates, docs/duplicates.md): a site with the NPI of a listed
-- site is that facility in any ZIP code, so the guard looks sites up by NPI as well as by ZIP code
-- (`site_zip5_name_idx`). Only sites with an NPI are indexed.
create index site_npi_idx on site (npi) where npi is not null;
