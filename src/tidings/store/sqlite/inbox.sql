-- The inbox and its change feed.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: next_inbox_seq
INSERT INTO inbox_sequences (recipient_id, seq) VALUES (:recipient_id, 1)
ON CONFLICT (recipient_id) DO UPDATE SET seq = inbox_sequences.seq + 1
RETURNING seq;

-- name: insert_inbox_change
INSERT INTO inbox_changes (recipient_id, seq, kind, item_id, at)
VALUES (:recipient_id, :seq, :kind, :item_id, :now);

-- name: list_inbox
SELECT * FROM inbox_items
WHERE recipient_id = :recipient_id
  AND (NOT :unread_only OR read_at IS NULL)
  AND (CASE WHEN :archived THEN archived_at IS NOT NULL ELSE archived_at IS NULL END)
  AND (:before_at IS NULL OR created_at < :before_at
       OR (created_at = :before_at AND id < :before_id))
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: unread_count
SELECT COUNT(*) AS n FROM inbox_items
WHERE recipient_id = :recipient_id AND read_at IS NULL AND archived_at IS NULL;

-- name: mark_read
-- Without ids: every unread item still in the inbox (not the archive).
UPDATE inbox_items SET read_at = :now
WHERE recipient_id = :recipient_id AND read_at IS NULL
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
  AND (:ids IS NOT NULL OR archived_at IS NULL)
RETURNING id;

-- name: mark_archived
UPDATE inbox_items SET archived_at = :now
WHERE recipient_id = :recipient_id AND archived_at IS NULL
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
RETURNING id;

-- name: inbox_changes
SELECT * FROM inbox_changes
WHERE recipient_id = :recipient_id AND seq > :after
ORDER BY seq
LIMIT :limit;

-- name: inbox_marker
-- inbox_changes only grows (a recipient's rows go only with the recipient): its largest
-- rowid moves on every change of any inbox, and reading it is one index step
SELECT COALESCE(MAX(rowid), 0) AS marker FROM inbox_changes;

-- name: inbox_last_seq
SELECT seq FROM inbox_sequences WHERE recipient_id = :recipient_id;

-- name: get_inbox_items
SELECT * FROM inbox_items
WHERE recipient_id = :recipient_id AND id IN (SELECT value FROM json_each(:ids));
