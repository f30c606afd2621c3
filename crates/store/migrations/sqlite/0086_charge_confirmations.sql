-- Charges from processors that sign nothing (CCBill, Segpay, Epoch) wait here until the
-- processor's own server-side record confirms them (or finance does by hand); until then the
-- creator's share (`held`) is not available for payout. No row: confirmed at once.
CREATE TABLE charge_confirmations (
    charge_id    INTEGER PRIMARY KEY,
    processor    TEXT    NOT NULL,
    cluster      TEXT    NOT NULL,
    creator_id   INTEGER,
    currency     TEXT    NOT NULL,
    amount       INTEGER NOT NULL,
    held         INTEGER NOT NULL,
    transaction_ref  TEXT NOT NULL,
    subscription_ref TEXT,
    renewal      INTEGER NOT NULL DEFAULT 0,
    charged_at   INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    reason       TEXT,
    queries      INTEGER NOT NULL DEFAULT 0,
    call_id      INTEGER,
    decided_by   INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    decided_at   INTEGER
);
CREATE INDEX charge_confirmations_status ON charge_confirmations (status, processor, cluster);
CREATE INDEX charge_confirmations_creator ON charge_confirmations (creator_id, currency, status);
CREATE INDEX charge_confirmations_call ON charge_confirmations (call_id);
