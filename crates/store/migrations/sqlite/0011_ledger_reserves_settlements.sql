-- ledger: rolling reserves (held from a creator's share until release_at) and processor
-- settlement files imported for reconciliation.
CREATE TABLE ledger_reserves (
    entry_id     INTEGER PRIMARY KEY REFERENCES ledger_entries (id),
    creator_id   INTEGER NOT NULL,
    currency     TEXT    NOT NULL,
    amount       INTEGER NOT NULL,
    release_at   INTEGER NOT NULL,
    released_by  INTEGER
);
CREATE INDEX ledger_reserves_due ON ledger_reserves (release_at);

CREATE TABLE ledger_settlement_imports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    processor    TEXT    NOT NULL,
    file_sha256  TEXT    NOT NULL,
    lines        INTEGER NOT NULL,
    imported_at  INTEGER NOT NULL,
    UNIQUE (processor, file_sha256)
);

CREATE TABLE ledger_settlement_lines (
    import_id    INTEGER NOT NULL REFERENCES ledger_settlement_imports (id),
    line_no      INTEGER NOT NULL,
    reference    TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    amount       INTEGER NOT NULL,
    fee          INTEGER NOT NULL,
    occurred_at  INTEGER,
    PRIMARY KEY (import_id, line_no)
);
CREATE INDEX ledger_settlement_lines_reference ON ledger_settlement_lines (reference);
CREATE INDEX ledger_entries_causation ON ledger_entries (causation);
