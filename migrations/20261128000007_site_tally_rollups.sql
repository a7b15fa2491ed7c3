-- Roll-up rows in the site tally (docs/performance.md, "Facets"): besides its own state, site type
-- and payment, each site is also counted under '*' for any of them, so a count or facet that does
-- not filter on a dimension reads one row for it instead of summing every value. A modality facet
-- of one state reads some 30 rows instead of some 800.
--
-- A site adds 8 key rows (every choice of own value or '*' for the three dimensions), each for
-- modality '' and each of its modalities. '*' is no state, site type or payment code (checked by
-- `site`), so the rows cannot be confused with a real value. The triggers count a statement's rows
-- per key first and only then add the roll-ups, so a `COPY` of a million sites expands some
-- thousands of groups, not millions of rows.

create function site_tally_keys(state text, site_type text, payment text)
returns table (state text, site_type text, payment text)
language sql immutable parallel safe as $$
    select s, t, p
      from unnest(array[state, '*']) s, unnest(array[site_type, '*']) t, unnest(array[payment, '*']) p
$$;

create or replace function site_tally_add() returns trigger
language plpgsql as $$
begin
    insert into site_tally_delta (state, status, site_type, payment, modality, sites)
    select k.state, g.status, k.site_type, k.payment, g.modality, sum(g.sites)
      from (select n.state, n.status, n.site_type, n.payment, m as modality, count(*) as sites
              from changed_rows n, unnest(array[''] || n.modalities) m
             group by 1, 2, 3, 4, 5) g,
           site_tally_keys(g.state, g.site_type, g.payment) k
     group by 1, 2, 3, 4, 5;
    return null;
end
$$;

create or replace function site_tally_change() returns trigger
language plpgsql as $$
begin
    insert into site_tally_delta (state, status, site_type, payment, modality, sites)
    select k.state, g.status, k.site_type, k.payment, g.modality, sum(g.sites)
      from (select changed.state, changed.status, changed.site_type, changed.payment, m as modality,
                   sum(sign) as sites
      from (select o.state, o.status, o.site_type, o.payment, o.modalities, -1 as sign
              from old_rows o join new_rows n on n.site_id = o.site_id
             where (o.state, o.status, o.site_type, o.payment, o.modalities)
                   is distinct from (n.state, n.status, n.site_type, n.payment, n.modalities)
            union all
            select n.state, n.status, n.site_type, n.payment, n.modalities, 1
              from new_rows n join old_rows o on o.site_id = n.site_id
             where (o.state, o.status, o.site_type, o.payment, o.modalities)
                   is distinct from (n.state, n.status, n.site_type, n.payment, n.modalities)) changed,
           unnest(array[''] || changed.modalities) m
     group by 1, 2, 3, 4, 5) g,
           site_tally_keys(g.state, g.site_type, g.payment) k
     group by 1, 2, 3, 4, 5
    having sum(g.sites) <> 0;
    return null;
end
$$;

create or replace function site_tally_remove() returns trigger
language plpgsql as $$
begin
    insert into site_tally_delta (state, status, site_type, payment, modality, sites)
    select k.state, g.status, k.site_type, k.payment, g.modality, -sum(g.sites)
      from (select o.state, o.status, o.site_type, o.payment, m as modality, count(*) as sites
              from changed_rows o, unnest(array[''] || o.modalities) m
             group by 1, 2, 3, 4, 5) g,
           site_tally_keys(g.state, g.site_type, g.payment) k
     group by 1, 2, 3, 4, 5;
    return null;
end
$$;

-- Recounted with the roll-ups, under a lock so no write slips between the recount and the swap.
lock table site in share mode;
truncate site_tally, site_tally_delta;
insert into site_tally (state, status, site_type, payment, modality, sites)
select k.state, g.status, k.site_type, k.payment, g.modality, sum(g.sites)
  from (select s.state, s.status, s.site_type, s.payment, m as modality, count(*) as sites
          from site s, unnest(array[''] || s.modalities) m
         group by 1, 2, 3, 4, 5) g,
       site_tally_keys(g.state, g.site_type, g.payment) k
 group by 1, 2, 3, 4, 5;

-- The state facet counts over every state (`state <> '*'`), which the primary key (state first)
-- cannot narrow: at a million sites it read the whole tally (17 ms). This index leads with what
-- that facet filters on. Partial, with that facet's own condition, so no other count (whose state
-- condition a generic plan cannot weigh) is drawn to it.
create index site_tally_state_facet_idx on site_tally (modality, site_type, payment, status)
    where state <> '*';
