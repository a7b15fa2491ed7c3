-- Rebuilds what is derived from `site` (its words and the tally) from the rows as they are. For a
-- bulk load that writes sites with triggers off (`session_replication_role = replica`, as a
-- data-only restore does and the benchmark's generator does): the statement triggers keep both
-- current row by row, but for a `COPY` of a million sites their transition table cost 21 s, where
-- this takes 8 (docs/performance.md, "Loading"). The statements are those that filled the tables
-- when they were created (migrations `…05` and `…07`).
create function site_derived_rebuild() returns void
language plpgsql as $$
begin
    -- No write may slip between the recount and its use.
    lock table site in share mode;
    truncate site_word, site_tally, site_tally_delta;
    insert into site_word (word, site_id, listed)
        select w, s.site_id, s.status <> 'archived' from site s, search_words(s.search_text) w;
    -- In word order, as the triggers add words (concurrent writers lock them in one order).
    insert into search_word (word)
        select distinct word from site_word where word !~ '^[0-9]+$'
         order by word
        on conflict do nothing;
    insert into site_tally (state, status, site_type, payment, modality, sites)
    select k.state, g.status, k.site_type, k.payment, g.modality, sum(g.sites)
      from (select s.state, s.status, s.site_type, s.payment, m as modality, count(*) as sites
              from site s, unnest(array[''] || s.modalities) m
             group by 1, 2, 3, 4, 5) g,
           site_tally_keys(g.state, g.site_type, g.payment) k
     group by 1, 2, 3, 4, 5;
end
$$;
