-- The foreign key from postings to accounts, dropped on PostgreSQL (measured with
-- `fanz bench ledger`, BENCHMARKS.md issue 15): its check is a trigger-run lookup and a
-- key-share lock per posting, a third to a half of a batch's time. It guards nothing the
-- write path does not already do: every write loads and row-locks each account it posts to
-- in the same transaction, and accounts are never deleted. `fanz ledger verify` reports a
-- posting whose account does not exist. SQLite keeps the key: its check costs nothing
-- measurable there (an in-process probe of a cached b-tree).
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_account_id_fkey;

-- Account rows are rewritten by every batch that posts to them (their running totals). With
-- half of each page left free, PostgreSQL updates them in place on the same page (a HOT
-- update: no new entries in the accounts' three indexes, and the old version pruned on the
-- next visit); with full pages one update in seven moved the row and indexed it again, and
-- the table grew to 3.4 times its size in 400,000 entries. Applies to pages written from now
-- on (a `VACUUM FULL ledger_accounts` rewrites the existing ones).
ALTER TABLE ledger_accounts SET (fillfactor = 50);
