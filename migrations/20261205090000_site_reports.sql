-- Members' experience reports: what one rotation at a site really asked of a member (the ASRT
-- survey's questions), and the running counts the statistics are read from (src/reports).

-- A member as a survey respondent. Reports point here rather than at the account, so that a
-- member who deletes their account but keeps their reports (anonymised) still counts as one
-- respondent: `account_id` becomes null and nothing links the respondent to anyone.
create table respondent (
    respondent_id uuid not null,
    account_id uuid,
    constraint respondent_pkey primary key (respondent_id),
    constraint respondent_account_id_key unique (account_id),
    constraint respondent_account_id_fkey foreign key (account_id) references account (account_id) on delete set null
);

create table site_report (
    site_report_id uuid not null,
    site_id uuid not null,
    respondent_id uuid not null,
    modality text not null,
    year smallint not null,
    month smallint,
    route text[] not null,
    paid boolean not null,
    paid_usd integer,
    hipaa_source text not null,
    insurance_needed boolean not null,
    insurance_provider text,
    accepted_independent boolean,
    verifier_on_site boolean,
    travel_miles integer,
    housing_provided boolean,
    hours integer,
    weeks integer,
    would_recommend boolean,
    comment text,
    -- The author chose not to be shown by name.
    anonymous boolean not null default false,
    -- An administrator hid it (e.g. for patient data in the comment): shown to nobody but its
    -- author and administrators, counted nowhere.
    hidden_at timestamptz,
    hidden_by uuid,
    hidden_reason text,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint site_report_pkey primary key (site_report_id),
    constraint site_report_site_id_fkey foreign key (site_id) references site (site_id) on delete cascade,
    constraint site_report_respondent_id_fkey foreign key (respondent_id) references respondent (respondent_id) on delete cascade,
    constraint site_report_hidden_by_fkey foreign key (hidden_by) references account (account_id) on delete set null,
    -- One report per member, site, modality and year.
    constraint site_report_one_per_rotation_key unique (respondent_id, site_id, modality, year),
    constraint site_report_modality_check check (modality in
        ('ct', 'mri', 'mammography', 'bone_densitometry', 'cardiac_interventional', 'vascular_interventional',
         'breast_sonography', 'vascular_sonography', 'radiologist_assistant', 'radiography', 'nuclear_medicine',
         'radiation_therapy', 'sonography')),
    constraint site_report_year_check check (year between 1970 and 2100),
    constraint site_report_month_check check (month between 1 and 12),
    constraint site_report_route_check check (
        cardinality(route) between 1 and 4
        and route <@ array['employer', 'educational_program', 'non_employer_provider', 'other']),
    constraint site_report_paid_usd_check check (paid_usd is null or (paid_usd between 0 and 100000 and paid)),
    constraint site_report_hipaa_source_check check (hipaa_source in
        ('employer', 'clinical_facility', 'educational_program', 'online', 'unspecified')),
    constraint site_report_insurance_provider_check check (insurance_provider is null or (
        insurance_provider in ('own_policy', 'program_policy', 'employer_policy') and insurance_needed)),
    constraint site_report_travel_miles_check check (travel_miles between 0 and 5000),
    constraint site_report_hours_check check (hours between 1 and 5000),
    constraint site_report_weeks_check check (weeks between 1 and 104),
    constraint site_report_comment_check check (length(comment) between 1 and 2000),
    constraint site_report_hidden_check check ((hidden_at is null) = (hidden_reason is null))
);

-- A site's reports, newest first (the public list and the site's summary).
create index site_report_site_id_idx on site_report (site_id, site_report_id);
-- A member's reports (their contribution to the statistics is recomputed from these).
create index site_report_respondent_id_idx on site_report (respondent_id);

-- The statistics' running counts: how many respondents fall in `category` among those with a
-- report matching `filter`, within the group `group_by` = `group_value`. Each write recomputes its
-- respondents' contributions in the same transaction and applies the difference (src/reports/
-- tally.rs), so the counts are always what counting the reports would give (tests compare them
-- after random writes).
--   filter:      '' | 'modality:<code>' | 'state:<code>' | 'site_type:<code>' | 'since' | 'until'
--   group_by:    '' | 'state' | 'modality' | 'year' (group_value '' when '')
--   category:    'respondents' | 'site_type:<survey category>' | 'paid' | 'hipaa_source:<code>' | ...
--   bound:       for 'since' the respondent's latest matching year, for 'until' their earliest (so
--                `since = Y` sums the rows with bound >= Y); 0 otherwise.
create table report_tally (
    filter text not null,
    group_by text not null,
    group_value text not null,
    category text not null,
    bound smallint not null,
    respondents integer not null,
    -- No check that `respondents >= 0`: PostgreSQL checks an upsert's proposed row before it
    -- finds the conflict, and a recount proposes negative differences.
    constraint report_tally_pkey primary key (filter, group_by, group_value, category, bound)
);

alter table site_change
    drop constraint site_change_kind_check,
    add constraint site_change_kind_check check (kind in
        ('create', 'update', 'archive', 'restore', 'verify', 'claim_approved', 'claim_rejected',
         'report_create', 'report_update', 'report_delete', 'report_hide', 'report_unhide'));
