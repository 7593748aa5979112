-- compatible: yes
-- The HTTP API: API keys per environment, and events accepted now for delivery later
-- (Trigger.dev's deliverAt / deliverAfter).

-- Only a SHA-256 of each key is kept; the key itself is shown once when created.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('admin', 'publish')),
    key_hash    TEXT NOT NULL UNIQUE,
    -- the first characters of the key, enough to recognise it in a list
    hint        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_environment ON api_keys (environment, created_at);

-- An event whose delivery is due later; the scheduler delivers it once, deleting the
-- row in the transaction that records the event.
CREATE TABLE scheduled_events (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    data       TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    deliver_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX scheduled_events_due ON scheduled_events (deliver_at);

-- Sandboxed environments send external channels to the outbox unless the recipient is
-- allow-listed; the delivery says so.
ALTER TABLE deliveries ADD COLUMN sandboxed INTEGER NOT NULL DEFAULT 0;
