-- Sites: the listing. One row per facility, one offer per site and modality, the accounts that
-- manage a site, claims to manage one, and the history of every change.
-- Closed sets are checked text; their codes are the ones of `GET /v1/vocabulary` (src/vocabulary).

create extension if not exists pg_trgm;
create extension if not exists cube;
create extension if not exists earthdistance;

-- Lower-cased, accents and punctuation folded, words single-spaced: "St. Mary's  Hospital" and
-- "st marys hospital" are the same name to the duplicate guard.
create function normalize_site_name(name text) returns text
language sql immutable parallel safe as $$
    select trim(regexp_replace(regexp_replace(lower(name), '[''’`.]', '', 'g'), '[^[:alnum:]]+', ' ', 'g'))
$$;

create table site (
    site_id uuid not null,
    name text not null,
    name_normalized text generated always as (normalize_site_name(name)) stored,
    aliases text[] not null default '{}',
    site_type text not null,
    street text,
    city text not null,
    state text not null,
    postal_code text not null,
    -- The 5-digit ZIP, for the duplicate guard and ZIP searches.
    zip5 text generated always as (left(postal_code, 5)) stored,
    latitude double precision,
    longitude double precision,
    -- Where the coordinates came from: `request` or `zip_centroid`; null without coordinates.
    coordinates_source text,
    phone text,
    website text,
    email text,
    npi text,
    -- Requirements
    payment text not null default 'unknown',
    fee_usd integer,
    fee_covers text,
    compensation text not null default 'unknown',
    hipaa_training text,
    liability_insurance text,
    insurance_accepted text[] not null default '{}',
    min_per_occurrence_usd integer,
    min_aggregate_usd integer,
    background_check boolean,
    drug_screen boolean,
    immunizations text[] not null default '{}',
    bls_required boolean,
    orientation_required boolean,
    affiliation_agreement_required boolean,
    lead_time_days integer,
    -- Logistics
    housing text,
    schedule text[] not null default '{}',
    rotation_weeks_min integer,
    rotation_weeks_max integer,
    min_hours_per_week integer,
    -- Offers, denormalized for search: the modalities of this site's offers, sorted.
    modalities text[] not null default '{}',
    -- Provenance
    status text not null default 'unverified',
    source text not null,
    created_by uuid,
    verified_by uuid,
    verified_at timestamptz,
    -- Bumped by every change to the site or its offers: the strong ETag.
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint site_pkey primary key (site_id),
    constraint site_name_check check (length(name) between 2 and 200 and name = trim(name)),
    constraint site_aliases_check check (cardinality(aliases) <= 10),
    constraint site_site_type_check check (site_type in
        ('hospital', 'critical_access_hospital', 'imaging_center', 'breast_center', 'clinic', 'mobile_imaging', 'other')),
    constraint site_state_check check (state ~ '^[A-Z]{2}$'),
    constraint site_postal_code_check check (postal_code ~ '^[0-9]{5}(-[0-9]{4})?$'),
    constraint site_coordinates_check check (
        (latitude is null) = (longitude is null)
        and (latitude is null) = (coordinates_source is null)
        and (latitude is null or (latitude between -90 and 90 and longitude between -180 and 180))),
    constraint site_coordinates_source_check check (coordinates_source in ('request', 'zip_centroid')),
    constraint site_npi_check check (npi ~ '^[0-9]{10}$'),
    constraint site_payment_check check (payment in ('free', 'fee', 'program_tuition', 'unknown')),
    constraint site_fee_usd_check check (fee_usd between 0 and 100000),
    constraint site_compensation_check check (compensation in ('unpaid', 'stipend', 'paid_employee', 'unknown')),
    constraint site_hipaa_training_check check (hipaa_training in ('provided_by_site', 'bring_own_certificate', 'either')),
    constraint site_liability_insurance_check check (liability_insurance in ('not_required', 'required')),
    constraint site_insurance_accepted_check check (insurance_accepted <@ array['own_policy', 'program_policy', 'employer_policy']),
    constraint site_min_per_occurrence_usd_check check (min_per_occurrence_usd between 0 and 100000000),
    constraint site_min_aggregate_usd_check check (min_aggregate_usd between 0 and 100000000),
    constraint site_immunizations_check check (immunizations <@ array['tb', 'mmr', 'tdap', 'varicella', 'hep_b', 'influenza', 'covid19']),
    constraint site_lead_time_days_check check (lead_time_days between 0 and 730),
    constraint site_housing_check check (housing in ('none', 'free', 'paid', 'help_finding')),
    constraint site_schedule_check check (schedule <@ array['weekday', 'evening', 'night', 'weekend']),
    constraint site_rotation_weeks_check check (
        rotation_weeks_min between 1 and 104 and rotation_weeks_max between 1 and 104
        and (rotation_weeks_min is null or rotation_weeks_max is null or rotation_weeks_min <= rotation_weeks_max)),
    constraint site_min_hours_per_week_check check (min_hours_per_week between 1 and 80),
    constraint site_status_check check (status in ('unverified', 'verified', 'archived')),
    constraint site_source_check check (source in ('member', 'coordinator', 'import')),
    constraint site_created_by_fkey foreign key (created_by) references account (account_id) on delete set null,
    constraint site_verified_by_fkey foreign key (verified_by) references account (account_id) on delete set null
);

create trigger site_set_updated_at before update on site
    for each row execute function set_updated_at();

-- The duplicate guard compares names within a ZIP (a handful of rows, so no trigram index is
-- needed); ZIP searches use the same index.
create index site_zip5_name_idx on site (zip5, name_normalized);
-- Search by modality (array containment), by state in name or recency order, by recency, and by
-- distance. The state indexes carry modalities and status so the common "modality in a state"
-- search filters and counts from the index alone (see docs/performance.md).
create index site_modalities_idx on site using gin (modalities);
create index site_state_name_idx on site (state, name, site_id) include (modalities, status);
create index site_state_updated_at_idx on site (state, updated_at desc, site_id desc) include (modalities, status);
create index site_updated_at_idx on site (updated_at desc, site_id desc);
create index site_earth_idx on site using gist (ll_to_earth(latitude, longitude)) where latitude is not null;

create table site_offer (
    site_id uuid not null,
    modality text not null,
    accepting boolean not null default true,
    capacity integer,
    verifier_on_site boolean,
    accepts text[] not null default '{}',
    procedure_categories text[] not null default '{}',
    volume_band text,
    notes text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint site_offer_pkey primary key (site_id, modality),
    constraint site_offer_site_id_fkey foreign key (site_id) references site (site_id) on delete cascade,
    constraint site_offer_modality_check check (modality in
        ('ct', 'mri', 'mammography', 'bone_densitometry', 'cardiac_interventional', 'vascular_interventional',
         'breast_sonography', 'vascular_sonography', 'radiologist_assistant', 'radiography', 'nuclear_medicine',
         'radiation_therapy', 'sonography')),
    constraint site_offer_capacity_check check (capacity between 0 and 1000),
    constraint site_offer_accepts_check check (accepts <@ array['employees', 'program_students', 'independent']),
    constraint site_offer_procedure_categories_check check (cardinality(procedure_categories) <= 50),
    constraint site_offer_volume_band_check check (volume_band in ('low', 'medium', 'high')),
    constraint site_offer_notes_check check (length(notes) <= 2000)
);

create trigger site_offer_set_updated_at before update on site_offer
    for each row execute function set_updated_at();

create table site_manager (
    site_id uuid not null,
    account_id uuid not null,
    created_at timestamptz not null default now(),
    constraint site_manager_pkey primary key (site_id, account_id),
    constraint site_manager_site_id_fkey foreign key (site_id) references site (site_id) on delete cascade,
    constraint site_manager_account_id_fkey foreign key (account_id) references account (account_id) on delete cascade
);

create index site_manager_account_id_idx on site_manager (account_id);

create table site_claim (
    site_claim_id uuid not null,
    site_id uuid not null,
    account_id uuid not null,
    justification text not null,
    status text not null default 'pending',
    decided_by uuid,
    decided_at timestamptz,
    decision_note text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint site_claim_pkey primary key (site_claim_id),
    constraint site_claim_site_id_fkey foreign key (site_id) references site (site_id) on delete cascade,
    constraint site_claim_account_id_fkey foreign key (account_id) references account (account_id) on delete cascade,
    constraint site_claim_decided_by_fkey foreign key (decided_by) references account (account_id) on delete set null,
    constraint site_claim_justification_check check (length(justification) between 10 and 1000),
    constraint site_claim_status_check check (status in ('pending', 'approved', 'rejected')),
    constraint site_claim_decision_check check ((status = 'pending') = (decided_at is null))
);

create trigger site_claim_set_updated_at before update on site_claim
    for each row execute function set_updated_at();

-- One pending claim per account and site.
create unique index site_claim_pending_key on site_claim (site_id, account_id) where status = 'pending';
create index site_claim_status_idx on site_claim (status, site_claim_id);

create table site_change (
    site_change_id uuid not null,
    site_id uuid not null,
    -- Who made the change; null once that account is deleted.
    account_id uuid,
    kind text not null,
    -- {"field": {"old": ..., "new": ...}, ...}; offers appear as `offers.<modality>`.
    changes jsonb not null default '{}',
    created_at timestamptz not null default now(),
    constraint site_change_pkey primary key (site_change_id),
    constraint site_change_site_id_fkey foreign key (site_id) references site (site_id) on delete cascade,
    constraint site_change_account_id_fkey foreign key (account_id) references account (account_id) on delete set null,
    constraint site_change_kind_check check (kind in
        ('create', 'update', 'archive', 'restore', 'verify', 'claim_approved', 'claim_rejected'))
);

create index site_change_site_id_idx on site_change (site_id, site_change_id);

-- Responses of creating requests sent with an `Idempotency-Key`, kept for 24 hours.
create table idempotency_key (
    account_id uuid not null,
    key text not null,
    -- SHA-256 of the method, path and body: the same key with another request is refused.
    request_hash bytea not null,
    -- The response, byte for byte, so a retry gets exactly what the first request got.
    response_status integer,
    response_body bytea,
    response_location text,
    response_etag text,
    created_at timestamptz not null default now(),
    constraint idempotency_key_pkey primary key (account_id, key),
    constraint idempotency_key_account_id_fkey foreign key (account_id) references account (account_id) on delete cascade,
    constraint idempotency_key_key_check check (length(key) between 1 and 255)
);
