-- Search: typo-tolerant text over name, city and aliases, and the key that signs search cursors.

-- The text `q` searches: name, city and aliases, normalized like names. Declared immutable: for
-- text[] array_to_string is (it is only stable in general because of other element types).
create function site_search_text(name text, city text, aliases text[]) returns text
language sql immutable parallel safe as $$
    select normalize_site_name(name || ' ' || city || ' ' || array_to_string(aliases, ' '))
$$;

alter table site add column search_text text generated always as (site_search_text(name, city, aliases)) stored;

-- GiST, not GIN: it also serves the ranked order (`search_text <->> q`, nearest first), so the
-- best matches come straight from the index instead of sorting every match.
create index site_search_text_trgm_idx on site using gist (search_text gist_trgm_ops);

-- Signs cursors so they survive restarts and work across instances; set by the service.
alter table installation add column cursor_key bytea;
alter table installation add constraint installation_cursor_key_check check (length(cursor_key) = 32);
