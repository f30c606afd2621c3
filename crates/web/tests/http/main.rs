//! End-to-end tests: the real server on a random port, a fresh store per test, talked to over
//! HTTP as a client would. Every test runs on SQLite, and on PostgreSQL when
//! FANZ_TEST_POSTGRES_URL is set.

mod admin_audit;
mod age;
mod api_auth;
mod api_basics;
mod api_ledger;
mod api_profiles;
mod auth_hardening;
mod content;
mod content_pages;
mod csam;
mod dmca;
mod edge;
mod gateway;
mod harness;
mod jobs;
mod legal;
mod media;
mod pages;
mod payment_pages;
mod payments;
mod payments_confirm;
mod privacy;
mod review;
mod safety;
mod studio_media;
mod transparency;
mod verification;
