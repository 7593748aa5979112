-- compatible: no
-- Inbox v2 (migration 0017): per item seen_at (the badge counts the unseen),
-- snoozed_until (hidden until then, then back as unread: a run of
-- tidings.inbox.unsnooze returns it at that time) and the notification's tags (JSON
-- list). The change feed takes the new state changes. Every change of a recipient's
-- preferences is recorded (who, when, from where).
-- Not compatible: the release before lists snoozed items and cannot write the new
-- change kinds' feed entries.
ALTER TABLE inbox_items ADD COLUMN seen_at TIMESTAMPTZ;
ALTER TABLE inbox_items ADD COLUMN snoozed_until TIMESTAMPTZ;
ALTER TABLE inbox_items ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
CREATE INDEX inbox_items_unseen ON inbox_items (recipient_id)
    WHERE seen_at IS NULL AND archived_at IS NULL;
CREATE INDEX inbox_items_archived ON inbox_items (recipient_id, archived_at)
    WHERE archived_at IS NOT NULL;
CREATE INDEX inbox_items_snoozed ON inbox_items (recipient_id, snoozed_until)
    WHERE snoozed_until IS NOT NULL;

ALTER TABLE inbox_changes DROP CONSTRAINT inbox_changes_kind_check;
ALTER TABLE inbox_changes ADD CONSTRAINT inbox_changes_kind_check
    CHECK (kind IN ('created', 'seen', 'read', 'unread', 'archived', 'unarchived', 'snoozed',
                    'unsnoozed'));

CREATE TABLE preference_changes (
    id           TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    at           TIMESTAMPTZ NOT NULL,
    -- who: "app", "api key <name>", "recipient"
    actor        TEXT NOT NULL,
    -- from where: "python", "preference centre", "one-click unsubscribe", an IP address...
    origin       TEXT,
    -- JSON: {"type", "channel", "enabled"} or {"field", "value"}
    change       TEXT NOT NULL
);
CREATE INDEX preference_changes_recipient ON preference_changes (recipient_id, at);
