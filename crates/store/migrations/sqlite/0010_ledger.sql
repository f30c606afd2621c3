-- ledger: double-entry journal. Accounts keep running totals updated in the same transaction
-- as the postings; `fanz ledger verify` recomputes them from the postings.
CREATE TABLE ledger_accounts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    code             TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL DEFAULT '',
    kind             TEXT    NOT NULL,
    currency         TEXT    NOT NULL,
    owner            TEXT    NOT NULL DEFAULT '',
    flags            INTEGER NOT NULL DEFAULT 0,
    status           TEXT    NOT NULL DEFAULT 'open',
    debits_posted    INTEGER NOT NULL DEFAULT 0,
    credits_posted   INTEGER NOT NULL DEFAULT 0,
    debits_pending   INTEGER NOT NULL DEFAULT 0,
    credits_pending  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner);

CREATE TABLE ledger_entries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key  TEXT    NOT NULL UNIQUE,
    request_hash     TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    template         TEXT,
    metadata         TEXT    NOT NULL DEFAULT '{}',
    causation        TEXT,
    related_id       INTEGER,
    effective_at     INTEGER NOT NULL,
    expires_at       INTEGER,
    created_at       INTEGER NOT NULL,
    created_by       INTEGER
);
CREATE INDEX ledger_entries_related ON ledger_entries (related_id);
CREATE INDEX ledger_entries_status ON ledger_entries (status, expires_at);

CREATE TABLE ledger_postings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id      INTEGER NOT NULL REFERENCES ledger_entries (id),
    account_id    INTEGER NOT NULL REFERENCES ledger_accounts (id),
    debit         INTEGER NOT NULL,
    credit        INTEGER NOT NULL,
    pending       INTEGER NOT NULL,
    effective_at  INTEGER NOT NULL
);
CREATE INDEX ledger_postings_account ON ledger_postings (account_id, effective_at, id);
CREATE INDEX ledger_postings_entry ON ledger_postings (entry_id);

-- Revenue share in basis points for a creator or a cluster (the default is 8000: 80 %).
CREATE TABLE ledger_revenue_shares (
    scope       TEXT    NOT NULL,
    scope_key   TEXT    NOT NULL,
    share_bps   INTEGER NOT NULL,
    PRIMARY KEY (scope, scope_key)
);
