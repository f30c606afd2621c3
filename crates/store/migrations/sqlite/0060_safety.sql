-- Trust & safety: complaints and takedowns. A case per reported URL (open -> escalated ->
-- decided), the reports attached to it, and the statements of reasons sent to the affected
-- creator, with their appeals. Times are Unix microseconds.

-- status: open | escalated | decided. outcome (when decided): removed | restored | no_action.
-- hold = 1 while the post is hidden pending review or after removal: the publish gate refuses
-- it. At most one undecided case per URL.
CREATE TABLE safety_cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    url           TEXT    NOT NULL,
    post_id       INTEGER,
    author_id     INTEGER,
    kind          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    outcome       TEXT,
    reason        TEXT,
    hold          INTEGER NOT NULL DEFAULT 0,
    overdue       INTEGER NOT NULL DEFAULT 0,
    report_count  INTEGER NOT NULL DEFAULT 0,
    received_at   INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    escalated_at  INTEGER,
    decided_at    INTEGER,
    decided_by    INTEGER,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX safety_cases_open_url ON safety_cases (url) WHERE status <> 'decided';
CREATE INDEX safety_cases_status ON safety_cases (status, due_at);
CREATE INDEX safety_cases_post ON safety_cases (post_id);

-- One notice. kind: illegal | non_consensual | underage | impersonation | copyright | other.
-- dmca: the copyright notice's statutory fields as JSON.
CREATE TABLE safety_reports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      INTEGER NOT NULL REFERENCES safety_cases (id),
    kind         TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    details      TEXT    NOT NULL,
    name         TEXT,
    email        TEXT,
    reporter_id  INTEGER,
    ip           TEXT,
    dmca         TEXT,
    received_at  INTEGER NOT NULL
);
CREATE INDEX safety_reports_case ON safety_reports (case_id, id);
CREATE INDEX safety_reports_ip ON safety_reports (ip, received_at);

-- A statement of reasons for a decision, to the affected creator; appealed_at when appealed.
CREATE TABLE safety_statements (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      INTEGER NOT NULL REFERENCES safety_cases (id),
    user_id      INTEGER,
    post_id      INTEGER,
    outcome      TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    appeal_text  TEXT,
    appealed_at  INTEGER
);
CREATE INDEX safety_statements_user ON safety_statements (user_id, id);
