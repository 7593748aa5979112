-- compatible: yes
-- Notifications: recipients and their push tokens, preferences, suppressed addresses,
-- the delivery log, the in-app inbox and its change feed, the outbox, digests, and
-- per-environment settings (the generated signing secret).

CREATE TABLE recipients (
    id          TEXT PRIMARY KEY,
    email       TEXT,
    phone       TEXT,
    locale      TEXT,
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    quiet_start TEXT,
    quiet_end   TEXT,
    data        TEXT NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- One row per device token; registering a known token moves it to the new owner.
CREATE TABLE push_tokens (
    token        TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    platform     TEXT,
    device_name  TEXT,
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX push_tokens_recipient ON push_tokens (recipient_id);

-- type_id '*' is the per-channel global setting; a type's own row overrides it.
CREATE TABLE preferences (
    recipient_id TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    type_id      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    enabled      BOOLEAN NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (recipient_id, type_id, channel)
);

-- Addresses nothing may be sent to (hard bounce, complaint, invalid number).
CREATE TABLE suppressions (
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, address)
);

CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,
    type_id      TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    dedup_key    TEXT NOT NULL,
    data         TEXT NOT NULL,
    run_id       TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX notifications_recipient ON notifications (recipient_id, created_at);

-- A dedup key holds its notification until it expires (the idempotency window).
CREATE TABLE notify_dedup (
    key             TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE deliveries (
    id                  TEXT PRIMARY KEY,
    notification_id     TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel             TEXT NOT NULL,
    type_id             TEXT NOT NULL,
    recipient_id        TEXT NOT NULL,
    -- JSON list: the email address, the phone number, the push tokens, the recipient id
    addresses           TEXT NOT NULL DEFAULT '[]',
    locale              TEXT NOT NULL,
    critical            BOOLEAN NOT NULL DEFAULT FALSE,
    status              TEXT NOT NULL CHECK (status IN ('pending', 'deferred', 'sent',
                            'delivered', 'failed', 'bounced', 'complained', 'suppressed',
                            'skipped')),
    reason              TEXT,
    provider            TEXT,
    provider_message_id TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    error               TEXT,
    subject             TEXT,
    html                TEXT,
    text                TEXT,
    title               TEXT,
    body                TEXT,
    sms                 TEXT,
    data                TEXT NOT NULL DEFAULT '{}',
    -- JSON list of send attempts: provider, outcome, error, at
    history             TEXT NOT NULL DEFAULT '[]',
    send_at             TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    sent_at             TIMESTAMPTZ,
    UNIQUE (notification_id, channel)
);
CREATE INDEX deliveries_recipient ON deliveries (recipient_id, created_at);
CREATE INDEX deliveries_type ON deliveries (type_id, created_at);
CREATE INDEX deliveries_created ON deliveries (created_at);
CREATE INDEX deliveries_status ON deliveries (channel, status);
CREATE INDEX deliveries_provider_message ON deliveries (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

CREATE TABLE inbox_items (
    id           TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL,
    delivery_id  TEXT NOT NULL UNIQUE,
    type_id      TEXT NOT NULL,
    title        TEXT,
    body         TEXT,
    data         TEXT NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL,
    read_at      TIMESTAMPTZ,
    archived_at  TIMESTAMPTZ
);
CREATE INDEX inbox_items_recipient ON inbox_items (recipient_id, created_at, id);
CREATE INDEX inbox_items_unread ON inbox_items (recipient_id)
    WHERE read_at IS NULL AND archived_at IS NULL;

-- The change feed: per recipient, a gapless sequence taken under the row lock of
-- inbox_sequences, so sequence order is commit order (a resumed stream misses nothing).
CREATE TABLE inbox_sequences (
    recipient_id TEXT PRIMARY KEY,
    seq          BIGINT NOT NULL
);
CREATE TABLE inbox_changes (
    recipient_id TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('created', 'read', 'archived')),
    item_id      TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (recipient_id, seq)
);

CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,
    delivery_id  TEXT NOT NULL,
    channel      TEXT NOT NULL,
    to_address   TEXT NOT NULL,
    type_id      TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    locale       TEXT NOT NULL,
    subject      TEXT,
    html         TEXT,
    text         TEXT,
    title        TEXT,
    body         TEXT,
    data         TEXT NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL,
    -- a send repeated after a crash is captured once
    UNIQUE (delivery_id, to_address)
);
CREATE INDEX outbox_created ON outbox (created_at);
CREATE INDEX outbox_recipient ON outbox (recipient_id, created_at);

-- Digests: the first item of a key opens a window held by its run; later items join it.
CREATE TABLE digests (
    id        TEXT PRIMARY KEY,
    key       TEXT NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    run_id    TEXT NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    closes_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX digests_open_key ON digests (key) WHERE status = 'open';
CREATE TABLE digest_items (
    -- run id and step name of the add: adding again on replay is a no-op
    source    TEXT PRIMARY KEY,
    digest_id TEXT NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    item      TEXT NOT NULL,
    added_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX digest_items_digest ON digest_items (digest_id, added_at);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
