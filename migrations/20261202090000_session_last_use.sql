-- When each session last authenticated a request, for `GET /v1/me/sessions` (API keys already have
-- `last_used_at`). Written at most once a minute per session, so reads do not each become a write;
-- signing in counts as a use.
alter table session add column last_used_at timestamptz;
update session set last_used_at = created_at;
alter table session alter column last_used_at set default now(), alter column last_used_at set not null;
