-- The per-account order of postings (history, balance at an instant, statements,
-- reconciliation) as a small LSM tree instead of one B-tree index, on SQLite only.
--
-- The index `ledger_postings_account (account_id, effective_at, id)` took one line at the end
-- of each touched account's range per commit: a batch over 10,000 accounts rewrote ~8,600
-- different 4 KiB leaf pages (logged whole, copied again at the checkpoint), and the bytes
-- written per entry grew from 1.2 KB to 6 KB by 600,000 entries (BENCHMARKS.md, issue 15).
--
-- * `ledger_postings_recent`: every new posting (a trigger, like an index), clustered by time:
--   `bucket` is the posting's id >> 14 (16,384 postings) and leads the key, so a commit writes
--   only the last bucket's pages, which fill one after another.
-- * `ledger_postings_runs`: sorted runs. The `ledger.merge_postings` job copies the closed
--   buckets of the recent part into a new run, an account range per chunk (one transaction
--   each, at most 50,000 lines); the run is numbered after every other, so each chunk is
--   appended at the end of the table. When the copy is complete one small transaction makes
--   the run visible and the buckets it covers invisible; then those buckets are deleted, a
--   few whole buckets per transaction.
-- * `ledger_postings_run_list`: the runs and the buckets each covers (run k: the buckets after
--   run k-1's `through_bucket` up to its own).
-- * `ledger_postings_merge`: the one row of progress. Readers see the runs up to
--   `visible_run` and the recent buckets above `recent_floor`; every posting is in exactly one
--   of them at every moment (`fanz ledger verify` checks it).
CREATE TABLE ledger_postings_recent (
    bucket        INTEGER NOT NULL,
    account_id    INTEGER NOT NULL,
    effective_at  INTEGER NOT NULL,
    id            INTEGER NOT NULL,
    PRIMARY KEY (bucket, account_id, effective_at, id)
) WITHOUT ROWID;

CREATE TABLE ledger_postings_runs (
    run           INTEGER NOT NULL,
    account_id    INTEGER NOT NULL,
    effective_at  INTEGER NOT NULL,
    id            INTEGER NOT NULL,
    PRIMARY KEY (run, account_id, effective_at, id)
) WITHOUT ROWID;

CREATE TABLE ledger_postings_run_list (
    run             INTEGER PRIMARY KEY,
    through_bucket  INTEGER NOT NULL UNIQUE
);

-- phase: `idle`; `building` run visible_run + 1 (copied up to cursor_account, and for
-- cursor_account itself up to cursor_bucket); `dropping` the buckets up to recent_floor.
CREATE TABLE ledger_postings_merge (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    phase           TEXT    NOT NULL,
    visible_run     INTEGER NOT NULL,
    recent_floor    INTEGER NOT NULL,
    cursor_account  INTEGER NOT NULL,
    cursor_bucket   INTEGER NOT NULL
);
INSERT INTO ledger_postings_merge (id, phase, visible_run, recent_floor, cursor_account, cursor_bucket)
VALUES (1, 'idle', 0, -1, 0, -1);

-- 14 is `fanz_ledger::merge::BUCKET_BITS`.
CREATE TRIGGER ledger_postings_recent_insert AFTER INSERT ON ledger_postings
BEGIN
    INSERT INTO ledger_postings_recent (bucket, account_id, effective_at, id)
    VALUES (NEW.id >> 14, NEW.account_id, NEW.effective_at, NEW.id);
END;

-- Postings written before this version start in the recent part; the job makes runs of them.
INSERT INTO ledger_postings_recent (bucket, account_id, effective_at, id)
    SELECT id >> 14, account_id, effective_at, id FROM ledger_postings
    ORDER BY id >> 14, account_id, effective_at, id;
DROP INDEX ledger_postings_account;
