-- Accounts, sessions and API keys: who may do what.
-- Secrets are never stored in clear: passwords as Argon2id PHC strings, tokens and keys as SHA-256.

create type account_role as enum ('member', 'admin');

create table account (
    account_id uuid not null,
    -- Lower-cased by the application; unique, so unique regardless of case.
    email text not null,
    display_name text not null,
    password_hash text not null,
    role account_role not null default 'member',
    disabled boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint account_pkey primary key (account_id),
    constraint account_email_key unique (email),
    constraint account_email_check check (email = lower(email) and length(email) between 3 and 254),
    constraint account_display_name_check check (length(display_name) between 1 and 100),
    constraint account_password_hash_check check (password_hash like '$argon2id$%')
);

create trigger account_set_updated_at before update on account
    for each row execute function set_updated_at();

create table session (
    session_id uuid not null,
    account_id uuid not null,
    -- SHA-256 of the bearer token.
    token_hash bytea not null,
    expires_at timestamptz not null,
    revoked_at timestamptz,
    created_at timestamptz not null default now(),
    constraint session_pkey primary key (session_id),
    constraint session_account_id_fkey foreign key (account_id) references account (account_id) on delete cascade,
    constraint session_token_hash_key unique (token_hash),
    constraint session_token_hash_check check (length(token_hash) = 32)
);

create index session_account_id_idx on session (account_id);

create table api_key (
    api_key_id uuid not null,
    account_id uuid not null,
    name text not null,
    -- The key's first 12 characters (`csk_` and 8 hex digits), to recognise it in a list.
    prefix text not null,
    -- SHA-256 of the key.
    key_hash bytea not null,
    last_used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz not null default now(),
    constraint api_key_pkey primary key (api_key_id),
    constraint api_key_account_id_fkey foreign key (account_id) references account (account_id) on delete cascade,
    constraint api_key_key_hash_key unique (key_hash),
    constraint api_key_key_hash_check check (length(key_hash) = 32),
    constraint api_key_name_check check (length(name) between 1 and 100),
    constraint api_key_prefix_check check (prefix ~ '^csk_[0-9a-f]{8}$')
);

create index api_key_account_id_idx on api_key (account_id);
