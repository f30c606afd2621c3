-- Payments: checkouts, subscriptions, charges, processor notifications, promo codes, gift
-- cards, payout methods and payouts. Money is integer minor units with its currency; the
-- ledger holds the books, these tables hold what the books do not (who bought what, the
-- processor's ids, the subscription's state).

-- What a fan is buying. `reference` goes to the processor and comes back in its sale
-- notification. kind: subscription | ppv | tip | wallet_topup | gift_card.
CREATE TABLE checkouts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    reference       TEXT    NOT NULL UNIQUE,
    fan_id          INTEGER NOT NULL,
    cluster         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    processor       TEXT    NOT NULL,
    creator_id      INTEGER,
    tier_id         INTEGER,
    post_id         INTEGER,
    period_days     INTEGER,
    trial_days      INTEGER NOT NULL DEFAULT 0,
    amount          INTEGER NOT NULL,
    renewal_amount  INTEGER,
    currency        TEXT    NOT NULL,
    promo_id        INTEGER,
    message         TEXT,
    status          TEXT    NOT NULL,
    failure         TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX checkouts_fan ON checkouts (fan_id, id);

-- A paid subscription. status: trialing | active | past_due | cancelled | expired.
CREATE TABLE subscriptions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    fan_id              INTEGER NOT NULL,
    creator_id          INTEGER NOT NULL,
    tier_id             INTEGER NOT NULL,
    cluster             TEXT    NOT NULL,
    processor           TEXT    NOT NULL,
    external_id         TEXT    NOT NULL,
    checkout_id         INTEGER NOT NULL,
    status              TEXT    NOT NULL,
    period_days         INTEGER NOT NULL,
    price               INTEGER NOT NULL,
    currency            TEXT    NOT NULL,
    current_period_end  INTEGER NOT NULL,
    grace_until         INTEGER,
    cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
    renewals            INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    ended_at            INTEGER
);
CREATE UNIQUE INDEX subscriptions_external ON subscriptions (processor, external_id);
CREATE INDEX subscriptions_fan ON subscriptions (fan_id, id);
CREATE INDEX subscriptions_due ON subscriptions (status, current_period_end);

-- Money that moved: charges (sale, renewal, wallet) and their reversals (refund, void,
-- chargeback). status of a charge: settled | refunded | voided | charged_back.
CREATE TABLE charges (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    processor       TEXT    NOT NULL,
    external_id     TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    product         TEXT    NOT NULL,
    checkout_id     INTEGER,
    subscription_id INTEGER,
    fan_id          INTEGER NOT NULL,
    creator_id      INTEGER,
    post_id         INTEGER,
    amount          INTEGER NOT NULL,
    currency        TEXT    NOT NULL,
    fee             INTEGER NOT NULL DEFAULT 0,
    ledger_entry_id INTEGER,
    reverses        INTEGER,
    reversed        INTEGER NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX charges_external ON charges (processor, external_id);
CREATE INDEX charges_fan ON charges (fan_id, id);
CREATE INDEX charges_creator ON charges (creator_id, id);
CREATE INDEX charges_subscription ON charges (subscription_id, id);

-- Every notification as it arrived, before anything else. status: received | applied |
-- ignored | rejected | retrying | dead.
CREATE TABLE payment_notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    processor   TEXT    NOT NULL,
    cluster     TEXT,
    received_at INTEGER NOT NULL,
    source_ip   TEXT,
    method      TEXT    NOT NULL,
    query       TEXT    NOT NULL,
    headers     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    body_base64 INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL,
    error       TEXT,
    events      TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    applied_at  INTEGER
);
CREATE INDEX payment_notifications_status ON payment_notifications (status, id);

-- The same event is applied once: processor + its id + the canonical event type.
CREATE TABLE payment_events (
    processor       TEXT    NOT NULL,
    external_id     TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    notification_id INTEGER NOT NULL,
    applied_at      INTEGER NOT NULL,
    PRIMARY KEY (processor, external_id, kind)
);

-- A creator's promotion: a discount and/or a free trial on their tiers.
CREATE TABLE promo_codes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    creator_id   INTEGER NOT NULL,
    code         TEXT    NOT NULL,
    percent_off  INTEGER NOT NULL,
    trial_days   INTEGER NOT NULL,
    max_uses     INTEGER,
    uses         INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX promo_codes_code ON promo_codes (creator_id, code);

-- Gift cards: bought through a checkout, redeemed into a fan's wallet.
CREATE TABLE gift_cards (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    code         TEXT    NOT NULL UNIQUE,
    amount       INTEGER NOT NULL,
    currency     TEXT    NOT NULL,
    purchaser_id INTEGER NOT NULL,
    checkout_id  INTEGER NOT NULL UNIQUE,
    redeemed_by  INTEGER,
    redeemed_at  INTEGER,
    created_at   INTEGER NOT NULL
);

-- Per-creator payment standing: identity verification (payout hold until set), payout method
-- and schedule.
CREATE TABLE payout_accounts (
    creator_id        INTEGER PRIMARY KEY,
    identity_verified INTEGER NOT NULL DEFAULT 0,
    method            TEXT,
    destination       TEXT,
    schedule          TEXT    NOT NULL DEFAULT 'weekly',
    minimum           INTEGER NOT NULL DEFAULT 5000,
    currency          TEXT    NOT NULL DEFAULT 'USD',
    last_payout_at    INTEGER,
    updated_at        INTEGER NOT NULL
);

-- status: held | pending | sent | paid | failed.
CREATE TABLE payouts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    creator_id     INTEGER NOT NULL,
    amount         INTEGER NOT NULL,
    currency       TEXT    NOT NULL,
    method         TEXT    NOT NULL,
    destination    TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    hold_reason    TEXT,
    failure        TEXT,
    expected_at    INTEGER NOT NULL,
    batch_id       INTEGER,
    request_entry  INTEGER,
    settle_entry   INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX payouts_creator ON payouts (creator_id, id);
CREATE INDEX payouts_status ON payouts (status, id);

CREATE TABLE payout_batches (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    method      TEXT    NOT NULL,
    currency    TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    file        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Fans whose payments were charged back: no further checkout until finance clears them.
CREATE TABLE payment_flags (
    fan_id      INTEGER PRIMARY KEY,
    chargebacks INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    flagged_at  INTEGER NOT NULL,
    cleared_at  INTEGER
);
CREATE TABLE sandbox_payments (
    reference   TEXT    PRIMARY KEY,
    card        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
