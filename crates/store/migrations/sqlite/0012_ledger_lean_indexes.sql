-- Only the rows a query looks for are indexed: reversals (related_id), open holds (pending,
-- by expiry) and entries caused by an outside event. (On PostgreSQL this migration also drops
-- the posting → entry foreign key; SQLite's check is a cheap lookup and stays.)
DROP INDEX ledger_entries_related;
DROP INDEX ledger_entries_status;
DROP INDEX ledger_entries_causation;
CREATE INDEX ledger_entries_related ON ledger_entries (related_id) WHERE related_id IS NOT NULL;
CREATE INDEX ledger_entries_open_holds ON ledger_entries (expires_at) WHERE status = 'pending';
CREATE INDEX ledger_entries_causation ON ledger_entries (causation) WHERE causation IS NOT NULL;
