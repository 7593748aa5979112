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
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX api_keys_environment ON api_keys (environment, created_at);

-- An event whose delivery is due later; the scheduler delivers it once, deleting the
-- row in the transaction that records the event.
CREATE TABLE scheduled_events (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    data       TEXT NOT NULL,
    ts         TIMESTAMPTZ NOT NULL,
    deliver_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX scheduled_events_due ON scheduled_events (deliver_at);

-- Sandboxed environments send external channels to the outbox unless the recipient is
-- allow-listed; the delivery says so.
ALTER TABLE deliveries ADD COLUMN sandboxed BOOLEAN NOT NULL DEFAULT FALSE;

-- Inbox streams LISTEN on "<schema>_inb": every change of a recipient's inbox (the
-- change feed is the one place they are all written) notifies its recipient id at commit.
CREATE FUNCTION tidings_inbox_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_inb', NEW.recipient_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER inbox_changes_notify AFTER INSERT ON inbox_changes
    FOR EACH ROW EXECUTE FUNCTION tidings_inbox_changed();
