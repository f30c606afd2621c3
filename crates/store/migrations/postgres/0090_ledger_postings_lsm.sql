-- On SQLite this version replaces the per-account index of postings by a recent part clustered
-- by time and a merged part in per-account order (see the SQLite migration of the same number).
-- PostgreSQL keeps `ledger_postings_account`: measured with the same structure, its WAL per
-- entry rose from 1,285 to 2,363 bytes and its throughput fell to 0.65× (BENCHMARKS.md,
-- issue 15), because it logs a changed index page in full only once per checkpoint.
SELECT 1;
