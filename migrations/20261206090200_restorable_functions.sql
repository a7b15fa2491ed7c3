-- `site_search_text` calls `normalize_site_name` by its bare name. `pg_restore` loads rows with an
-- empty `search_path`, and computing the generated `site.search_text` then found no such function:
-- a backup could not be restored (`clinical-sites restore`, tests/api/backup.rs). The function now
-- keeps the schema it was created in as its search path.
alter function site_search_text(text, text, text[]) set search_path from current;
