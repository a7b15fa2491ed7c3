-- Bulk import (src/imports): the operator's own identifier for a site, which an import may
-- update by (`--upsert-by external_id`), and a record of each import with its outcome.
alter table site add column external_id text;
alter table site add constraint site_external_id_check check (char_length(external_id) between 1 and 100);
create unique index site_external_id_key on site (external_id) where external_id is not null;

create table import (
    import_id uuid not null,
    status text not null default 'running',
    format text not null,
    -- `npi` or `external_id`: rows matching a listed site by it update that site.
    upsert_by text,
    -- Who ran it; null once that account is deleted, and for the command line.
    created_by uuid,
    rows_read integer not null default 0,
    rows_created integer not null default 0,
    rows_updated integer not null default 0,
    rows_unchanged integer not null default 0,
    rows_rejected integer not null default 0,
    -- [{"row": n, "errors": [{"field": ..., "message": ...}]}], the first 1,000 rejected rows.
    rejects jsonb not null default '[]',
    -- Why a failed import failed, when not for its rows (e.g. a malformed header).
    detail text,
    started_at timestamptz not null default now(),
    -- Moved while it runs: a `running` import not heard from for a minute was interrupted.
    updated_at timestamptz not null default now(),
    finished_at timestamptz,
    constraint import_pkey primary key (import_id),
    constraint import_created_by_fkey foreign key (created_by) references account (account_id) on delete set null,
    constraint import_status_check check (status in ('running', 'succeeded', 'failed')),
    constraint import_format_check check (format in ('csv', 'ndjson')),
    constraint import_upsert_by_check check (upsert_by in ('npi', 'external_id'))
);
