-- Facet counts without counting: how many sites there are per state, status, site type, payment
-- and modality, kept exact by the writes themselves (docs/performance.md, "Facets").
--
-- A write appends +1/-1 rows to `site_tally_delta` in its own transaction (no shared counter row,
-- so concurrent writes never wait for each other); `site_tally_compact()` folds the deltas into
-- `site_tally` from time to time. A count is the sum over both tables, so it is exact at every
-- moment, compacted or not.

create table site_tally (
    state text not null,
    status text not null,
    site_type text not null,
    payment text not null,
    -- A modality code (one row per site and modality), or '' (one row per site).
    modality text not null,
    sites bigint not null,
    constraint site_tally_pkey primary key (state, status, site_type, payment, modality)
);

create table site_tally_delta (
    state text not null,
    status text not null,
    site_type text not null,
    payment text not null,
    modality text not null,
    sites integer not null
);

-- The deltas of one statement's rows, summed: +1 (or -1) per site with modality '' and per
-- modality it has.
create function site_tally_add() returns trigger
language plpgsql as $$
begin
    insert into site_tally_delta (state, status, site_type, payment, modality, sites)
    select n.state, n.status, n.site_type, n.payment, m, count(*)
      from changed_rows n, unnest(array[''] || n.modalities) m
     group by 1, 2, 3, 4, 5;
    return null;
end
$$;

create function site_tally_change() returns trigger
language plpgsql as $$
begin
    insert into site_tally_delta (state, status, site_type, payment, modality, sites)
    select state, status, site_type, payment, m, sum(sign)
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
     group by 1, 2, 3, 4, 5
    having sum(sign) <> 0;
    return null;
end
$$;

create function site_tally_remove() returns trigger
language plpgsql as $$
begin
    insert into site_tally_delta (state, status, site_type, payment, modality, sites)
    select o.state, o.status, o.site_type, o.payment, m, -count(*)
      from changed_rows o, unnest(array[''] || o.modalities) m
     group by 1, 2, 3, 4, 5;
    return null;
end
$$;

create trigger site_tally_insert after insert on site
    referencing new table as changed_rows for each statement execute function site_tally_add();
create trigger site_tally_update after update on site
    referencing old table as old_rows new table as new_rows for each statement execute function site_tally_change();
create trigger site_tally_delete after delete on site
    referencing old table as changed_rows for each statement execute function site_tally_remove();

-- `truncate site` (tests, a reset) empties what is derived from it.
create function site_derived_truncate() returns trigger
language plpgsql as $$
begin
    truncate site_word, site_tally, site_tally_delta;
    return null;
end
$$;
create trigger site_derived_truncate after truncate on site
    for each statement execute function site_derived_truncate();

-- Folds the deltas into the tally; one compaction at a time (others return at once). Returns how
-- many delta rows it folded.
create function site_tally_compact() returns bigint
language plpgsql as $$
declare
    folded bigint;
begin
    if not pg_try_advisory_xact_lock(hashtextextended('site_tally_compact', 0)) then
        return 0;
    end if;
    with moved as (
        delete from site_tally_delta returning *
    ), summed as (
        select state, status, site_type, payment, modality, sum(sites) as sites, count(*) as n
          from moved group by 1, 2, 3, 4, 5
    ), folded_rows as (
        insert into site_tally as t (state, status, site_type, payment, modality, sites)
        select state, status, site_type, payment, modality, sites from summed
         order by 1, 2, 3, 4, 5
        on conflict (state, status, site_type, payment, modality)
        do update set sites = t.sites + excluded.sites
    )
    select coalesce(sum(n), 0) into folded from summed;
    delete from site_tally where sites = 0;
    return folded;
end
$$;

insert into site_tally (state, status, site_type, payment, modality, sites)
select s.state, s.status, s.site_type, s.payment, m, count(*)
  from site s, unnest(array[''] || s.modalities) m
 group by 1, 2, 3, 4, 5;
