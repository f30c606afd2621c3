-- CSAM preservation and reporting (issue 14, item 5), and statements of reasons for payment
-- suspensions (EU DSA art. 17(1)(b)). Times are Unix microseconds.

-- A hash list's category: `csam` lists start the preservation and reporting workflow on a
-- match; every other list (`other`) quarantines and opens an ordinary case.
ALTER TABLE safety_hash_lists ADD COLUMN category TEXT NOT NULL DEFAULT 'other';

-- media: kept (not deletable by any path) until this time; 18 U.S.C. 2258A(h).
ALTER TABLE media ADD COLUMN preserved_until INTEGER;

-- A case about apparent CSAM: only the compliance role decides it, through its report.
ALTER TABLE safety_cases ADD COLUMN csam INTEGER NOT NULL DEFAULT 0;

-- The report record the operator files with NCMEC's CyberTipline. status: draft | filed |
-- closed. source: report | hash_match. facts: JSON (uploader account, IP addresses and times).
-- tipline: the client that filed it (`sandbox`, or `manual` for a report filed by hand).
CREATE TABLE safety_csam_reports (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id          INTEGER NOT NULL REFERENCES safety_cases (id),
    status           TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    incident_at      INTEGER NOT NULL,
    url              TEXT    NOT NULL,
    post_id          INTEGER,
    uploader_id      INTEGER,
    facts            TEXT    NOT NULL,
    preserve_until   INTEGER NOT NULL,
    tipline          TEXT,
    ncmec_report_id  TEXT,
    filed_at         INTEGER,
    filed_by         INTEGER,
    closed_at        INTEGER,
    closed_by        INTEGER,
    close_reason     TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX safety_csam_reports_case ON safety_csam_reports (case_id);

-- The files a report preserves, with their hashes (MD5 and SHA-1 of the original, filled
-- when first read; PDQ from processing).
CREATE TABLE safety_csam_files (
    report_id  INTEGER NOT NULL REFERENCES safety_csam_reports (id),
    media_id   INTEGER NOT NULL,
    mime       TEXT    NOT NULL DEFAULT '',
    bytes      INTEGER NOT NULL DEFAULT 0,
    md5        TEXT,
    sha1       TEXT,
    pdq        TEXT,
    PRIMARY KEY (report_id, media_id)
);

-- An account suspended from uploading and publishing pending review (a CSAM case).
CREATE TABLE safety_suspensions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    case_id     INTEGER,
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    lifted_at   INTEGER,
    lifted_by   INTEGER
);
CREATE INDEX safety_suspensions_user ON safety_suspensions (user_id, lifted_at);

-- payments: a hold placed by compliance (the reason), apart from identity verification.
ALTER TABLE payout_accounts ADD COLUMN compliance_hold TEXT;

-- Statements of reasons may be about payments, with no case (an identity document expired).
-- restriction: content | payments.
CREATE TABLE safety_statements_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      INTEGER REFERENCES safety_cases (id),
    user_id      INTEGER,
    post_id      INTEGER,
    outcome      TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    appeal_text  TEXT,
    appealed_at  INTEGER,
    restriction  TEXT    NOT NULL DEFAULT 'content'
);
INSERT INTO safety_statements_new (id, case_id, user_id, post_id, outcome, reason, created_at,
    appeal_text, appealed_at)
    SELECT id, case_id, user_id, post_id, outcome, reason, created_at, appeal_text, appealed_at
    FROM safety_statements;
DROP TABLE safety_statements;
ALTER TABLE safety_statements_new RENAME TO safety_statements;
CREATE INDEX safety_statements_user ON safety_statements (user_id, id);
