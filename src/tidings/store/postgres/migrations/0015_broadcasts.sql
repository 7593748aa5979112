-- compatible: yes
-- Broadcasts (migration 0015): topics a recipient subscribes to, and notifications to a
-- whole audience (a topic or a list) routed a page at a time by one durable run.
-- topic_subscribers: one row per (topic, recipient); a topic exists while it has any.
-- broadcasts: one row per broadcast; "cursor" is the last recipient id routed (pages
-- walk broadcast_audience in id order), advanced in the transaction that records the
-- page, so a page is recorded once whatever the run re-executes.
-- broadcast_audience: the audience as it was when the broadcast was made.
-- deliveries.broadcast_id: which broadcast a delivery belongs to (NULL: a single notify).

CREATE TABLE topic_subscribers (
    topic        TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, recipient_id)
);
CREATE INDEX topic_subscribers_recipient ON topic_subscribers (recipient_id);

CREATE TABLE broadcasts (
    id          TEXT PRIMARY KEY,
    type_id     TEXT NOT NULL,
    topic       TEXT,
    data        TEXT NOT NULL,
    channels    TEXT,
    -- JSON list: the notification's tags, kept on each inbox item
    tags        TEXT NOT NULL DEFAULT '[]',
    dedup_key   TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    total       INTEGER NOT NULL,
    routed      INTEGER NOT NULL DEFAULT 0,
    cursor      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE INDEX broadcasts_run ON broadcasts (run_id);
CREATE INDEX broadcasts_created ON broadcasts (created_at);

CREATE TABLE broadcast_audience (
    broadcast_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    PRIMARY KEY (broadcast_id, recipient_id)
);

ALTER TABLE deliveries ADD COLUMN broadcast_id TEXT;
CREATE INDEX deliveries_broadcast ON deliveries (broadcast_id, status)
    WHERE broadcast_id IS NOT NULL;
