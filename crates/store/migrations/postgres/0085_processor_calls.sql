-- Calls to processors' server-side APIs (a fan's cancel, finance's refund), made by the
-- payments.processor_call job with retries; finance sees the failed ones.
CREATE TABLE processor_calls (
    id              BIGSERIAL PRIMARY KEY,
    op              TEXT    NOT NULL,
    processor       TEXT    NOT NULL,
    cluster         TEXT    NOT NULL,
    subscription_id BIGINT,
    charge_id       BIGINT,
    amount          BIGINT,
    currency        TEXT,
    reason          TEXT,
    status          TEXT    NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT,
    reference       TEXT,
    detail          TEXT,
    requested_by    BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    done_at         BIGINT
);
CREATE INDEX processor_calls_status ON processor_calls (status, id);
CREATE INDEX processor_calls_subscription ON processor_calls (subscription_id);
CREATE INDEX processor_calls_charge ON processor_calls (charge_id);
