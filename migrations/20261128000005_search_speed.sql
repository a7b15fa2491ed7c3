-- Search at a million sites (docs/performance.md): typo-tolerant text by words, and radius
-- searches counted from the index alone.

-- Every word of a site's `search_text` (name, city, aliases), one row per site and word, so the
-- sites with a given word come from the primary key in id order (two words: a merge join).
create table site_word (
    word text not null,
    site_id uuid not null,
    -- The site is listed (not archived): default searches need not visit the site to know.
    listed boolean not null,
    constraint site_word_pkey primary key (word, site_id) include (listed)
);
create index site_word_site_id_idx on site_word (site_id);

-- The distinct words (numbers excluded: they are matched exactly), with a trigram index to find
-- the words a possibly misspelt query word is close to.
create table search_word (
    word text not null,
    constraint search_word_pkey primary key (word)
);
create index search_word_trgm_idx on search_word using gist (word gist_trgm_ops);

-- The words of a search text.
create function search_words(search_text text) returns setof text
language sql immutable parallel safe as $$
    select distinct w from unnest(string_to_array(search_text, ' ')) w where w <> ''
$$;

-- Kept current by statement-level triggers (one statement per `COPY` or multi-row write, not one
-- per row). Words are never removed from the dictionary: a word no site has any more only costs a
-- row, and a query word close to it finds no sites.
create function site_word_add() returns trigger
language plpgsql as $$
begin
    insert into site_word (word, site_id, listed)
        select w, n.site_id, n.status <> 'archived' from changed_rows n, search_words(n.search_text) w
        on conflict do nothing;
    -- In word order, so concurrent writers adding the same words take their locks in one order.
    insert into search_word (word)
        select distinct w from changed_rows n, search_words(n.search_text) w where w !~ '^[0-9]+$'
        order by w
        on conflict do nothing;
    return null;
end
$$;

create function site_word_change() returns trigger
language plpgsql as $$
begin
    delete from site_word sw
        using old_rows o join new_rows n on n.site_id = o.site_id
        where sw.site_id = o.site_id
          and (o.search_text, o.status <> 'archived') is distinct from (n.search_text, n.status <> 'archived');
    insert into site_word (word, site_id, listed)
        select w, n.site_id, n.status <> 'archived'
          from new_rows n join old_rows o on o.site_id = n.site_id, search_words(n.search_text) w
         where (o.search_text, o.status <> 'archived') is distinct from (n.search_text, n.status <> 'archived')
        on conflict do nothing;
    insert into search_word (word)
        select distinct w from new_rows n join old_rows o on o.site_id = n.site_id, search_words(n.search_text) w
        where o.search_text is distinct from n.search_text and w !~ '^[0-9]+$'
        order by w
        on conflict do nothing;
    return null;
end
$$;

create function site_word_remove() returns trigger
language plpgsql as $$
begin
    delete from site_word sw using old_rows o where sw.site_id = o.site_id;
    return null;
end
$$;

create trigger site_word_insert after insert on site
    referencing new table as changed_rows for each statement execute function site_word_add();
create trigger site_word_update after update on site
    referencing old table as old_rows new table as new_rows for each statement execute function site_word_change();
create trigger site_word_delete after delete on site
    referencing old table as old_rows for each statement execute function site_word_remove();

insert into site_word (word, site_id, listed)
    select w, s.site_id, s.status <> 'archived' from site s, search_words(s.search_text) w;
insert into search_word (word) select distinct word from site_word where word !~ '^[0-9]+$';

-- The trigram index over whole search texts is replaced by the word tables.
drop index site_search_text_trgm_idx;

-- The modalities as bits (the order of `GET /v1/vocabulary`, `Modality::bit` in the service), so
-- covering indexes carry them in four bytes and test them with one `&`.
create function modality_bits(modalities text[]) returns integer
language sql immutable parallel safe as $$
    select coalesce(sum(1 << (array_position(array['ct', 'mri', 'mammography', 'bone_densitometry',
        'cardiac_interventional', 'vascular_interventional', 'breast_sonography', 'vascular_sonography',
        'radiologist_assistant', 'radiography', 'nuclear_medicine', 'radiation_therapy', 'sonography'], m) - 1)), 0)::integer
      from unnest(modalities) m
$$;
alter table site add column modality_mask integer generated always as (modality_bits(modalities)) stored;

-- Searches see listed sites (`status <> 'archived'`) unless they ask for archived ones, so the
-- search indexes are partial: archived sites cost them nothing and the status test is implied by
-- the index instead of evaluated per entry. Each carries what the common filters test, so counting
-- the matches is an index-only scan.
drop index site_modalities_idx;
drop index site_state_name_idx;
drop index site_state_updated_at_idx;
drop index site_updated_at_idx;
drop index site_earth_idx;
create index site_state_updated_at_idx on site (state, updated_at desc, site_id desc)
    include (modality_mask, status) where status <> 'archived';
create index site_state_name_idx on site (state, name, site_id)
    include (modality_mask, status) where status <> 'archived';
create index site_updated_at_idx on site (updated_at desc, site_id desc)
    include (modality_mask, status) where status <> 'archived';
create index site_name_idx on site (name, site_id)
    include (modality_mask, status) where status <> 'archived';
create index site_earth_idx on site using gist (ll_to_earth(latitude, longitude))
    include (latitude, longitude, status, modality_mask, payment, liability_insurance)
    where latitude is not null and status <> 'archived';
-- Archived sites, for the searches that ask for them.
create index site_archived_idx on site (updated_at desc, site_id desc) where status = 'archived';
-- City (any case), alone or with a state: a rare city is found without reading every site. Not
-- partial: the planner takes the expression's statistics only from indexes over the whole table.
create index site_city_idx on site (lower(city), state);
