//! The integration tests: one binary (link time), one module per concern, every test on its own
//! freshly migrated database (see `support`).

mod fuzz_findings;
mod support;
mod typescript;

mod accounts;
mod api_keys;
mod backup;
mod claims;
mod connections;
mod database;
mod demo_data;
mod duplicate_patches;
mod duplicates;
mod errors;
mod exports;
mod health;
mod imports;
mod limiter_memory;
mod middleware;
mod my_sessions;
mod observability;
mod openapi;
mod outage;
mod paging;
mod provisioning;
mod replica;
mod reports;
mod search;
mod search_index;
mod secrets;
mod service;
mod sessions;
mod sign_in_limits;
mod site_rules;
mod sites;
mod stats;
