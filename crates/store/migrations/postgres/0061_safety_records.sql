-- Trust & safety: creator onboarding and the records of who is depicted (18 U.S.C. 2257,
-- 28 CFR part 75). The creator agreement's signatures; identity-verification sessions with a
-- provider; one performer record per person depicted (the creator's own, or an off-platform
-- co-performer's added by a creator) with aliases and encrypted documents; and the performers
-- of each media item with their consent. Dates are ISO `YYYY-MM-DD` text; times are Unix
-- microseconds.

-- A signature of one version of the creator agreement: the text's SHA-256, the typed name,
-- the address it came from.
CREATE TABLE safety_agreements (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT  NOT NULL,
    version      TEXT    NOT NULL,
    text_sha256  TEXT    NOT NULL,
    typed_name   TEXT    NOT NULL,
    ip           TEXT,
    signed_at    BIGINT  NOT NULL
);
CREATE UNIQUE INDEX safety_agreements_user_version ON safety_agreements (user_id, version);

-- status: pending (a person must check the documents) | verified | rejected.
-- user_id: the account, for a performer who has one (at most one record per account).
-- added_by: who submitted the record. method: the provider that verified it, or `compliance`.
-- expired_at: when the expiry of its document was acted on (payouts held).
-- legal_hold: never erased while set. retain_until: the end of the legal retention period.
CREATE TABLE safety_performers (
    id              BIGSERIAL PRIMARY KEY,
    user_id         BIGINT,
    added_by        BIGINT  NOT NULL,
    legal_name      TEXT    NOT NULL,
    name_key        TEXT    NOT NULL,
    date_of_birth   TEXT    NOT NULL,
    id_type         TEXT    NOT NULL,
    id_country      TEXT    NOT NULL DEFAULT '',
    id_expires_on   TEXT    NOT NULL,
    id_checked_on   TEXT,
    status          TEXT    NOT NULL,
    reason          TEXT,
    method          TEXT    NOT NULL,
    decided_by      BIGINT,
    legal_hold      BIGINT  NOT NULL DEFAULT 0,
    expired_at      BIGINT,
    retain_until    BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE UNIQUE INDEX safety_performers_user ON safety_performers (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX safety_performers_name ON safety_performers (name_key);
CREATE INDEX safety_performers_added_by ON safety_performers (added_by, id);
CREATE INDEX safety_performers_status ON safety_performers (status, id);

-- Other names a performer is known by (stage names, maiden names), cross-indexed.
CREATE TABLE safety_aliases (
    performer_id  BIGINT  NOT NULL REFERENCES safety_performers (id),
    alias         TEXT    NOT NULL,
    alias_key     TEXT    NOT NULL,
    PRIMARY KEY (performer_id, alias_key)
);
CREATE INDEX safety_aliases_key ON safety_aliases (alias_key);

-- A document of a record (kind: id_front | id_back | selfie | release), encrypted with
-- AES-256-GCM under its own data key; the data key is sealed under the secrets keyring.
-- ciphertext = nonce || ciphertext || tag.
CREATE TABLE safety_documents (
    id           BIGSERIAL PRIMARY KEY,
    performer_id BIGINT  NOT NULL REFERENCES safety_performers (id),
    kind         TEXT    NOT NULL,
    mime         TEXT    NOT NULL,
    bytes        BIGINT  NOT NULL,
    data_key     TEXT    NOT NULL,
    ciphertext   BYTEA   NOT NULL,
    uploaded_by  BIGINT,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX safety_documents_performer ON safety_documents (performer_id, id);

-- An identity-verification session with a provider. status: pending | verified | rejected.
CREATE TABLE safety_verifications (
    id            TEXT    PRIMARY KEY,
    user_id       BIGINT  NOT NULL,
    provider      TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    reason        TEXT,
    performer_id  BIGINT,
    created_at    BIGINT  NOT NULL,
    completed_at  BIGINT
);
CREATE INDEX safety_verifications_user ON safety_verifications (user_id, created_at);

-- Who appears in a media item. status: pending (an account must accept the tag) | accepted |
-- declined | withdrawn. scope: JSON {"download": bool, "clusters": [slug] | null for all}.
CREATE TABLE safety_media_performers (
    media_id      BIGINT  NOT NULL,
    performer_id  BIGINT  NOT NULL REFERENCES safety_performers (id),
    status        TEXT    NOT NULL,
    scope         TEXT    NOT NULL DEFAULT '{}',
    tagged_by     BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    decided_at    BIGINT,
    PRIMARY KEY (media_id, performer_id)
);
CREATE INDEX safety_media_performers_performer ON safety_media_performers (performer_id, status);
