-- Calls to processors' server-side APIs (a fan's cancel, finance's refund), made by the
-- payments.processor_call job with retries; finance sees the failed ones.
CREATE TABLE processor_calls (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    op              TEXT    NOT NULL,
    processor       TEXT    NOT NULL,
    cluster         TEXT    NOT NULL,
    subscription_id INTEGER,
    charge_id       INTEGER,
    amount          INTEGER,
    currency        TEXT,
    reason          TEXT,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    reference       TEXT,
    detail          TEXT,
    requested_by    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    done_at         INTEGER
);
CREATE INDEX processor_calls_status ON processor_calls (status, id);
CREATE INDEX processor_calls_subscription ON processor_calls (subscription_id);
CREATE INDEX processor_calls_charge ON processor_calls (charge_id);
