-- The search index keeps its own dictionary of words and resolves `q` against it by trigrams
-- (src/sites/search/index/words.rs): the words table and the dictionary the triggers kept for
-- every write to a site are no longer read.
drop trigger site_word_insert on site;
drop trigger site_word_update on site;
drop trigger site_word_delete on site;
drop function site_word_add();
drop function site_word_change();
drop function site_word_remove();
drop table site_word;
drop table search_word;
drop function search_words(text);

-- For bulk loads that write sites with triggers off (no transaction id on their rows): tells
-- running indexes to reload, by a removal of the nil id, which stands for every site.
create or replace function site_derived_rebuild() returns void
language plpgsql as $$
begin
    insert into site_removal (site_id) values ('00000000-0000-0000-0000-000000000000');
end
$$;

-- `truncate site` (tests, a reset) tells running indexes to reload.
create or replace function site_derived_truncate() returns trigger
language plpgsql as $$
begin
    insert into site_removal (site_id) values ('00000000-0000-0000-0000-000000000000');
    return null;
end
$$;
