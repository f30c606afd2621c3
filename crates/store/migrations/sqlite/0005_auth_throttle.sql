-- identity: attempt counters, counted before the work they guard (login, two-factor codes,
-- sign-up, password-reset mail). One row per (scope, subject), incremented with an upsert so
-- concurrent attempts are counted one after another. Replaces login_failures, which was
-- counted after the password hash and let concurrent guesses pass the limit.
CREATE TABLE auth_throttle (
    scope       TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    hits        INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX auth_throttle_expires ON auth_throttle (expires_at);

DROP TABLE login_failures;
