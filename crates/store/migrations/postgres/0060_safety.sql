-- Trust & safety: complaints and takedowns. A case per reported URL (open -> escalated ->
-- decided), the reports attached to it, and the statements of reasons sent to the affected
-- creator, with their appeals. Times are Unix microseconds.

-- status: open | escalated | decided. outcome (when decided): removed | restored | no_action.
-- hold = 1 while the post is hidden pending review or after removal: the publish gate refuses
-- it. At most one undecided case per URL.
CREATE TABLE safety_cases (
    id            BIGSERIAL PRIMARY KEY,
    url           TEXT    NOT NULL,
    post_id       BIGINT,
    author_id     BIGINT,
    kind          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    outcome       TEXT,
    reason        TEXT,
    hold          BIGINT  NOT NULL DEFAULT 0,
    overdue       BIGINT  NOT NULL DEFAULT 0,
    report_count  BIGINT  NOT NULL DEFAULT 0,
    received_at   BIGINT  NOT NULL,
    due_at        BIGINT  NOT NULL,
    escalated_at  BIGINT,
    decided_at    BIGINT,
    decided_by    BIGINT,
    updated_at    BIGINT  NOT NULL
);
CREATE UNIQUE INDEX safety_cases_open_url ON safety_cases (url) WHERE status <> 'decided';
CREATE INDEX safety_cases_status ON safety_cases (status, due_at);
CREATE INDEX safety_cases_post ON safety_cases (post_id);

-- One notice. kind: illegal | non_consensual | underage | impersonation | copyright | other.
-- dmca: the copyright notice's statutory fields as JSON.
CREATE TABLE safety_reports (
    id           BIGSERIAL PRIMARY KEY,
    case_id      BIGINT  NOT NULL REFERENCES safety_cases (id),
    kind         TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    details      TEXT    NOT NULL,
    name         TEXT,
    email        TEXT,
    reporter_id  BIGINT,
    ip           TEXT,
    dmca         TEXT,
    received_at  BIGINT  NOT NULL
);
CREATE INDEX safety_reports_case ON safety_reports (case_id, id);
CREATE INDEX safety_reports_ip ON safety_reports (ip, received_at);

-- A statement of reasons for a decision, to the affected creator; appealed_at when appealed.
CREATE TABLE safety_statements (
    id           BIGSERIAL PRIMARY KEY,
    case_id      BIGINT  NOT NULL REFERENCES safety_cases (id),
    user_id      BIGINT,
    post_id      BIGINT,
    outcome      TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    appeal_text  TEXT,
    appealed_at  BIGINT
);
CREATE INDEX safety_statements_user ON safety_statements (user_id, id);
