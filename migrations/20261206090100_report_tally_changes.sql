-- A report write's changes to the running counts are appended, one row of arrays per write (the
-- respondents to add per key), instead of being applied to `report_tally`'s rows: every member's
-- first report adds to the same rows (all respondents, per state, per modality, ...), so applying
-- them held row locks that made concurrent writers wait for each other, and a first report updated
-- about 170 rows. The service folds the changes into `report_tally` several times a second
-- (src/reports/tally.rs, `fold`: the delete and the upsert in one transaction).
create table report_tally_change (
    report_tally_change_id bigint generated always as identity primary key,
    filter text[] not null,
    group_by text[] not null,
    group_value text[] not null,
    category text[] not null,
    bound smallint[] not null,
    respondents integer[] not null
);

-- The running counts as every committed write leaves them: the folded rows plus the changes not
-- folded yet. Each committed change is in exactly one of the two, whenever it is read.
create view report_tally_now as
select filter, group_by, group_value, category, bound, sum(respondents)::bigint as respondents
  from (select filter, group_by, group_value, category, bound, respondents from report_tally
        union all
        select d.filter, d.group_by, d.group_value, d.category, d.bound, d.respondents
          from report_tally_change c,
               unnest(c.filter, c.group_by, c.group_value, c.category, c.bound, c.respondents)
                 as d (filter, group_by, group_value, category, bound, respondents)) counted
 group by filter, group_by, group_value, category, bound;
