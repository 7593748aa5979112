-- compatible: no
-- Inbox v2 (migration 0017): per item seen_at (the badge counts the unseen),
-- snoozed_until (hidden until then, then back as unread: a run of
-- tidings.inbox.unsnooze returns it at that time) and the notification's tags (JSON
-- list). The change feed takes the new state changes. Every change of a recipient's
-- preferences is recorded (who, when, from where).
-- Not compatible: the release before lists snoozed items and cannot write the new
-- change kinds' feed entries.
ALTER TABLE inbox_items ADD COLUMN seen_at INTEGER;
ALTER TABLE inbox_items ADD COLUMN snoozed_until INTEGER;
ALTER TABLE inbox_items ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
CREATE INDEX inbox_items_unseen ON inbox_items (recipient_id)
    WHERE seen_at IS NULL AND archived_at IS NULL;
CREATE INDEX inbox_items_archived ON inbox_items (recipient_id, archived_at)
    WHERE archived_at IS NOT NULL;
CREATE INDEX inbox_items_snoozed ON inbox_items (recipient_id, snoozed_until)
    WHERE snoozed_until IS NOT NULL;

-- SQLite cannot change a CHECK in place: the feed is copied into a table that takes
-- the new kinds.
CREATE TABLE inbox_changes_0017 (
    recipient_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('created', 'seen', 'read', 'unread',
                     'archived', 'unarchived', 'snoozed', 'unsnoozed')),
    item_id      TEXT NOT NULL,
    at           INTEGER NOT NULL,
    PRIMARY KEY (recipient_id, seq)
);
INSERT INTO inbox_changes_0017 (recipient_id, seq, kind, item_id, at)
SELECT recipient_id, seq, kind, item_id, at FROM inbox_changes ORDER BY rowid;
DROP TABLE inbox_changes;
ALTER TABLE inbox_changes_0017 RENAME TO inbox_changes;

CREATE TABLE preference_changes (
    id           TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    -- who: "app", "api key <name>", "recipient"
    actor        TEXT NOT NULL,
    -- from where: "python", "preference centre", "one-click unsubscribe", an IP address...
    origin       TEXT,
    -- JSON: {"type", "channel", "enabled"} or {"field", "value"}
    change       TEXT NOT NULL
);
CREATE INDEX preference_changes_recipient ON preference_changes (recipient_id, at);
