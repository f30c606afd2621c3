-- CSAM preservation and reporting (issue 14, item 5), and statements of reasons for payment
-- suspensions (EU DSA art. 17(1)(b)). Times are Unix microseconds.

-- A hash list's category: `csam` lists start the preservation and reporting workflow on a
-- match; every other list (`other`) quarantines and opens an ordinary case.
ALTER TABLE safety_hash_lists ADD COLUMN category TEXT NOT NULL DEFAULT 'other';

-- media: kept (not deletable by any path) until this time; 18 U.S.C. 2258A(h).
ALTER TABLE media ADD COLUMN preserved_until BIGINT;

-- A case about apparent CSAM: only the compliance role decides it, through its report.
ALTER TABLE safety_cases ADD COLUMN csam BIGINT NOT NULL DEFAULT 0;

-- The report record the operator files with NCMEC's CyberTipline. status: draft | filed |
-- closed. source: report | hash_match. facts: JSON (uploader account, IP addresses and times).
-- tipline: the client that filed it (`sandbox`, or `manual` for a report filed by hand).
CREATE TABLE safety_csam_reports (
    id               BIGSERIAL PRIMARY KEY,
    case_id          BIGINT NOT NULL REFERENCES safety_cases (id),
    status           TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    incident_at      BIGINT NOT NULL,
    url              TEXT    NOT NULL,
    post_id          BIGINT,
    uploader_id      BIGINT,
    facts            TEXT    NOT NULL,
    preserve_until   BIGINT NOT NULL,
    tipline          TEXT,
    ncmec_report_id  TEXT,
    filed_at         BIGINT,
    filed_by         BIGINT,
    closed_at        BIGINT,
    closed_by        BIGINT,
    close_reason     TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX safety_csam_reports_case ON safety_csam_reports (case_id);

-- The files a report preserves, with their hashes (MD5 and SHA-1 of the original, filled
-- when first read; PDQ from processing).
CREATE TABLE safety_csam_files (
    report_id  BIGINT NOT NULL REFERENCES safety_csam_reports (id),
    media_id   BIGINT NOT NULL,
    mime       TEXT    NOT NULL DEFAULT '',
    bytes      BIGINT NOT NULL DEFAULT 0,
    md5        TEXT,
    sha1       TEXT,
    pdq        TEXT,
    PRIMARY KEY (report_id, media_id)
);

-- An account suspended from uploading and publishing pending review (a CSAM case).
CREATE TABLE safety_suspensions (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT NOT NULL,
    case_id     BIGINT,
    reason      TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    lifted_at   BIGINT,
    lifted_by   BIGINT
);
CREATE INDEX safety_suspensions_user ON safety_suspensions (user_id, lifted_at);

-- payments: a hold placed by compliance (the reason), apart from identity verification.
ALTER TABLE payout_accounts ADD COLUMN compliance_hold TEXT;

-- Statements of reasons may be about payments, with no case (an identity document expired).
-- restriction: content | payments.
ALTER TABLE safety_statements ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE safety_statements ADD COLUMN restriction TEXT NOT NULL DEFAULT 'content';
