-- Durable jobs and the event outbox (crates/jobs, crates/events).

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    -- ready (waiting for run_at), running (leased), done, dead, cancelled
    state TEXT NOT NULL DEFAULT 'ready',
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    unique_key TEXT,
    locked_by TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX jobs_ready ON jobs (queue, priority DESC, run_at, id) WHERE state = 'ready';
CREATE INDEX jobs_running ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state IN ('done', 'cancelled', 'dead');
CREATE UNIQUE INDEX jobs_unique_pending ON jobs (unique_key) WHERE state = 'ready' AND unique_key IS NOT NULL;

-- One row per recurring kind: the node that moves next_run_at forward enqueues the run.
CREATE TABLE job_schedules (
    kind TEXT PRIMARY KEY,
    period_micros BIGINT NOT NULL,
    next_run_at BIGINT NOT NULL
);

-- Written by the built-in probe job (`fanz jobs probe`): which node ran which job.
CREATE TABLE job_probe_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BIGINT NOT NULL,
    node TEXT NOT NULL,
    ran_at BIGINT NOT NULL
);

-- The outbox: written in the causing transaction. `seq` is the delivery order, given by the
-- relay to committed rows only, so a reader that has seen seq N has seen every seq below it.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq BIGINT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    cluster TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    occurred_at BIGINT NOT NULL,
    payload TEXT NOT NULL,
    -- the JetStream sequence once published to NATS (events_url set)
    stream_seq BIGINT
);
CREATE UNIQUE INDEX events_seq ON events (seq) WHERE seq IS NOT NULL;
CREATE INDEX events_unsequenced ON events (id) WHERE seq IS NULL;
CREATE INDEX events_unpublished ON events (seq) WHERE stream_seq IS NULL AND seq IS NOT NULL;

CREATE TABLE event_relay (
    id BIGINT PRIMARY KEY,
    last_seq BIGINT NOT NULL
);
INSERT INTO event_relay (id, last_seq) VALUES (1, 0);

CREATE TABLE event_subscribers (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE event_receipts (
    subscriber TEXT NOT NULL,
    event_id TEXT NOT NULL,
    handled_at BIGINT NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);
CREATE INDEX event_receipts_age ON event_receipts (handled_at);

CREATE TABLE event_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber TEXT NOT NULL,
    event_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    error TEXT NOT NULL,
    failed_at BIGINT NOT NULL,
    UNIQUE (subscriber, event_id)
);

-- Written by the built-in probe subscriber: which node received which event.
CREATE TABLE event_probe_receipts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    node TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
