-- The search index (src/sites/search/index) answers every search from memory, kept in step with
-- this change feed: every write to a site records the writing transaction's id, and deletions are
-- recorded with theirs. An instance reads the rows of every transaction that had not finished the
-- last time it looked (`index_xid >= ` that time's snapshot xmin), so no commit is missed whatever
-- order transactions commit in.
alter table site add column index_xid bigint not null default 0;

create function site_index_xid() returns trigger
language plpgsql as $$
begin
    new.index_xid := pg_current_xact_id()::text::bigint;
    return new;
end
$$;

create trigger site_index_xid before insert or update on site
    for each row execute function site_index_xid();

create index site_index_xid_idx on site (index_xid);

create table site_removal (
    site_id uuid not null,
    index_xid bigint not null default pg_current_xact_id()::text::bigint,
    removed_at timestamptz not null default now()
);

create index site_removal_index_xid_idx on site_removal (index_xid);

create function site_removal_record() returns trigger
language plpgsql as $$
begin
    insert into site_removal (site_id) select site_id from removed_rows;
    return null;
end
$$;

create trigger site_removal_record after delete on site
    referencing old table as removed_rows for each statement execute function site_removal_record();

-- What the index makes unnecessary: the running counts and the indexes only the search
-- statements used (the index orders, filters and measures distances itself).
drop trigger site_tally_insert on site;
drop trigger site_tally_update on site;
drop trigger site_tally_delete on site;
drop function site_tally_compact();
drop function site_tally_add();
drop function site_tally_change();
drop function site_tally_remove();

-- Derived from `site` now: its words only (the index counts the rest). Rows written with
-- triggers off carry no transaction id, so the rebuild tells running indexes to reload: a removal
-- of the nil id stands for every site.
create or replace function site_derived_rebuild() returns void
language plpgsql as $$
begin
    insert into site_removal (site_id) values ('00000000-0000-0000-0000-000000000000');
    -- No write may slip between the rebuild and its use.
    lock table site in share mode;
    truncate site_word;
    insert into site_word (word, site_id, listed)
        select w, s.site_id, s.status <> 'archived' from site s, search_words(s.search_text) w;
    -- In word order, as the triggers add words (concurrent writers lock them in one order).
    insert into search_word (word)
        select distinct word from site_word where word !~ '^[0-9]+$'
         order by word
        on conflict do nothing;
end
$$;

-- `truncate site` (tests, a reset) empties what is derived from it, and tells running indexes to
-- reload.
create or replace function site_derived_truncate() returns trigger
language plpgsql as $$
begin
    truncate site_word;
    insert into site_removal (site_id) values ('00000000-0000-0000-0000-000000000000');
    return null;
end
$$;

drop function site_tally_keys(text, text, text);
drop table site_tally_delta;
drop table site_tally;
drop index site_state_updated_at_idx;
drop index site_state_name_idx;
drop index site_updated_at_idx;
drop index site_name_idx;
drop index site_earth_idx;
drop index site_archived_idx;
drop index if exists site_search_text_trgm_idx;
