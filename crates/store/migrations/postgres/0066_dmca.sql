-- DMCA counter-notices (17 U.S.C. 512(g)), the repeat-infringer policy's strikes (512(i)) and
-- requests from authorities. Times are Unix microseconds.

-- A counter-notice from the creator whose post a copyright case removed. status: waiting
-- (restored at restore_at, 10 business days after receipt, unless an action is filed) |
-- restored | action_filed (the complainant told us they filed an action; the post stays down).
CREATE TABLE safety_counter_notices (
    id                    BIGSERIAL PRIMARY KEY,
    case_id               BIGINT  NOT NULL REFERENCES safety_cases (id),
    statement_id          BIGINT  NOT NULL REFERENCES safety_statements (id),
    user_id               BIGINT  NOT NULL,
    post_id               BIGINT  NOT NULL,
    material              TEXT    NOT NULL,
    location              TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    address               TEXT    NOT NULL,
    phone                 TEXT    NOT NULL,
    email                 TEXT,
    outside_us            BIGINT  NOT NULL DEFAULT 0,
    signature             TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    received_at           BIGINT  NOT NULL,
    restore_at            BIGINT  NOT NULL,
    restore_by            BIGINT  NOT NULL,
    restored_at           BIGINT,
    action_filed_at       BIGINT,
    action_note           TEXT,
    action_recorded_by    BIGINT
);
CREATE UNIQUE INDEX safety_counter_notices_statement ON safety_counter_notices (statement_id);
CREATE INDEX safety_counter_notices_status ON safety_counter_notices (status, restore_at);
CREATE INDEX safety_counter_notices_case ON safety_counter_notices (case_id);

-- A strike: an upheld copyright takedown against a creator. lifted_at when a counter-notice
-- restored the post or a new decision on appeal reversed it.
CREATE TABLE safety_strikes (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT  NOT NULL,
    case_id       BIGINT  NOT NULL REFERENCES safety_cases (id),
    created_at    BIGINT  NOT NULL,
    lifted_at     BIGINT,
    lifted_why    TEXT
);
CREATE INDEX safety_strikes_user ON safety_strikes (user_id, created_at);
CREATE INDEX safety_strikes_case ON safety_strikes (case_id);

-- A request from an authority (kind 'authority'): its fields as JSON, unverified until a
-- compliance officer confirms it.
ALTER TABLE safety_reports ADD COLUMN authority TEXT;
ALTER TABLE safety_reports ADD COLUMN verified_at BIGINT;
ALTER TABLE safety_reports ADD COLUMN verified_by BIGINT;
