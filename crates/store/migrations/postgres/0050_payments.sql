-- Payments: checkouts, subscriptions, charges, processor notifications, promo codes, gift
-- cards, payout methods and payouts. Money is integer minor units with its currency; the
-- ledger holds the books, these tables hold what the books do not (who bought what, the
-- processor's ids, the subscription's state).

-- What a fan is buying. `reference` goes to the processor and comes back in its sale
-- notification. kind: subscription | ppv | tip | wallet_topup | gift_card.
CREATE TABLE checkouts (
    id              BIGSERIAL PRIMARY KEY,
    reference       TEXT    NOT NULL UNIQUE,
    fan_id          BIGINT  NOT NULL,
    cluster         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    processor       TEXT    NOT NULL,
    creator_id      BIGINT,
    tier_id         BIGINT,
    post_id         BIGINT,
    period_days     BIGINT,
    trial_days      BIGINT  NOT NULL DEFAULT 0,
    amount          BIGINT  NOT NULL,
    renewal_amount  BIGINT,
    currency        TEXT    NOT NULL,
    promo_id        BIGINT,
    message         TEXT,
    status          TEXT    NOT NULL,
    failure         TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX checkouts_fan ON checkouts (fan_id, id);

-- A paid subscription. status: trialing | active | past_due | cancelled | expired.
CREATE TABLE subscriptions (
    id                  BIGSERIAL PRIMARY KEY,
    fan_id              BIGINT  NOT NULL,
    creator_id          BIGINT  NOT NULL,
    tier_id             BIGINT  NOT NULL,
    cluster             TEXT    NOT NULL,
    processor           TEXT    NOT NULL,
    external_id         TEXT    NOT NULL,
    checkout_id         BIGINT  NOT NULL,
    status              TEXT    NOT NULL,
    period_days         BIGINT  NOT NULL,
    price               BIGINT  NOT NULL,
    currency            TEXT    NOT NULL,
    current_period_end  BIGINT  NOT NULL,
    grace_until         BIGINT,
    cancel_at_period_end BIGINT  NOT NULL DEFAULT 0,
    renewals            BIGINT  NOT NULL DEFAULT 0,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    ended_at            BIGINT
);
CREATE UNIQUE INDEX subscriptions_external ON subscriptions (processor, external_id);
CREATE INDEX subscriptions_fan ON subscriptions (fan_id, id);
CREATE INDEX subscriptions_due ON subscriptions (status, current_period_end);

-- Money that moved: charges (sale, renewal, wallet) and their reversals (refund, void,
-- chargeback). status of a charge: settled | refunded | voided | charged_back.
CREATE TABLE charges (
    id              BIGSERIAL PRIMARY KEY,
    processor       TEXT    NOT NULL,
    external_id     TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    product         TEXT    NOT NULL,
    checkout_id     BIGINT,
    subscription_id BIGINT,
    fan_id          BIGINT  NOT NULL,
    creator_id      BIGINT,
    post_id         BIGINT,
    amount          BIGINT  NOT NULL,
    currency        TEXT    NOT NULL,
    fee             BIGINT  NOT NULL DEFAULT 0,
    ledger_entry_id BIGINT,
    reverses        BIGINT,
    reversed        BIGINT  NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX charges_external ON charges (processor, external_id);
CREATE INDEX charges_fan ON charges (fan_id, id);
CREATE INDEX charges_creator ON charges (creator_id, id);
CREATE INDEX charges_subscription ON charges (subscription_id, id);

-- Every notification as it arrived, before anything else. status: received | applied |
-- ignored | rejected | retrying | dead.
CREATE TABLE payment_notifications (
    id          BIGSERIAL PRIMARY KEY,
    processor   TEXT    NOT NULL,
    cluster     TEXT,
    received_at BIGINT  NOT NULL,
    source_ip   TEXT,
    method      TEXT    NOT NULL,
    query       TEXT    NOT NULL,
    headers     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    body_base64 BIGINT  NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL,
    error       TEXT,
    events      TEXT,
    attempts    BIGINT  NOT NULL DEFAULT 0,
    applied_at  BIGINT
);
CREATE INDEX payment_notifications_status ON payment_notifications (status, id);

-- The same event is applied once: processor + its id + the canonical event type.
CREATE TABLE payment_events (
    processor       TEXT    NOT NULL,
    external_id     TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    notification_id BIGINT  NOT NULL,
    applied_at      BIGINT  NOT NULL,
    PRIMARY KEY (processor, external_id, kind)
);

-- A creator's promotion: a discount and/or a free trial on their tiers.
CREATE TABLE promo_codes (
    id           BIGSERIAL PRIMARY KEY,
    creator_id   BIGINT  NOT NULL,
    code         TEXT    NOT NULL,
    percent_off  BIGINT  NOT NULL,
    trial_days   BIGINT  NOT NULL,
    max_uses     BIGINT,
    uses         BIGINT  NOT NULL DEFAULT 0,
    expires_at   BIGINT,
    created_at   BIGINT  NOT NULL
);
CREATE UNIQUE INDEX promo_codes_code ON promo_codes (creator_id, code);

-- Gift cards: bought through a checkout, redeemed into a fan's wallet.
CREATE TABLE gift_cards (
    id           BIGSERIAL PRIMARY KEY,
    code         TEXT    NOT NULL UNIQUE,
    amount       BIGINT  NOT NULL,
    currency     TEXT    NOT NULL,
    purchaser_id BIGINT  NOT NULL,
    checkout_id  BIGINT  NOT NULL UNIQUE,
    redeemed_by  BIGINT,
    redeemed_at  BIGINT,
    created_at   BIGINT  NOT NULL
);

-- Per-creator payment standing: identity verification (payout hold until set), payout method
-- and schedule.
CREATE TABLE payout_accounts (
    creator_id        BIGINT  PRIMARY KEY,
    identity_verified BIGINT  NOT NULL DEFAULT 0,
    method            TEXT,
    destination       TEXT,
    schedule          TEXT    NOT NULL DEFAULT 'weekly',
    minimum           BIGINT  NOT NULL DEFAULT 5000,
    currency          TEXT    NOT NULL DEFAULT 'USD',
    last_payout_at    BIGINT,
    updated_at        BIGINT  NOT NULL
);

-- status: held | pending | sent | paid | failed.
CREATE TABLE payouts (
    id             BIGSERIAL PRIMARY KEY,
    creator_id     BIGINT  NOT NULL,
    amount         BIGINT  NOT NULL,
    currency       TEXT    NOT NULL,
    method         TEXT    NOT NULL,
    destination    TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    hold_reason    TEXT,
    failure        TEXT,
    expected_at    BIGINT  NOT NULL,
    batch_id       BIGINT,
    request_entry  BIGINT,
    settle_entry   BIGINT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);
CREATE INDEX payouts_creator ON payouts (creator_id, id);
CREATE INDEX payouts_status ON payouts (status, id);

CREATE TABLE payout_batches (
    id          BIGSERIAL PRIMARY KEY,
    method      TEXT    NOT NULL,
    currency    TEXT    NOT NULL,
    count       BIGINT  NOT NULL,
    total       BIGINT  NOT NULL,
    file        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- Fans whose payments were charged back: no further checkout until finance clears them.
CREATE TABLE payment_flags (
    fan_id      BIGINT  PRIMARY KEY,
    chargebacks BIGINT  NOT NULL,
    reason      TEXT    NOT NULL,
    flagged_at  BIGINT  NOT NULL,
    cleared_at  BIGINT
);

-- The sandbox processor's own memory: which test card paid for a checkout (decides its
-- renewals and chargebacks).
CREATE TABLE sandbox_payments (
    reference   TEXT    PRIMARY KEY,
    card        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
