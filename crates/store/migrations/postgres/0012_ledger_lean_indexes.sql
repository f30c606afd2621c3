-- Ledger write path, measured with `fanz bench ledger --batch 8000` (see BENCHMARKS.md).
--
-- A posting's entry is written by the same statement batch, in the same transaction, by the one
-- function that writes postings; the foreign key to ledger_entries re-checked that row by row
-- (a trigger and a key-share lock per posting) and cost a third of the batch's time.
-- `fanz ledger verify` checks that every posting's entry exists. The key to ledger_accounts stays.
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_entry_id_fkey;

-- Only the rows a query looks for are indexed: reversals (related_id), open holds (pending,
-- by expiry) and entries caused by an outside event.
DROP INDEX ledger_entries_related;
DROP INDEX ledger_entries_status;
DROP INDEX ledger_entries_causation;
CREATE INDEX ledger_entries_related ON ledger_entries (related_id) WHERE related_id IS NOT NULL;
CREATE INDEX ledger_entries_open_holds ON ledger_entries (expires_at) WHERE status = 'pending';
CREATE INDEX ledger_entries_causation ON ledger_entries (causation) WHERE causation IS NOT NULL;
