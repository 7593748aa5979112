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
-- status: 'all' (neither archived nor snoozed), 'unread' (of those, not read),
-- 'archived'. A snooze that has run out counts as over even before its run clears it.
SELECT * FROM inbox_items
WHERE recipient_id = :recipient_id
  AND (CASE WHEN :status = 'archived' THEN archived_at IS NOT NULL
            ELSE archived_at IS NULL AND (snoozed_until IS NULL OR snoozed_until <= :now)
                 AND (:status = 'all' OR read_at IS NULL) END)
  AND (:types IS NULL OR type_id IN (SELECT value FROM json_each(:types)))
  AND (:tags IS NULL OR EXISTS (SELECT 1 FROM json_each(inbox_items.tags) t
                                WHERE t.value IN (SELECT value FROM json_each(:tags))))
  AND (:before_at IS NULL OR created_at < :before_at
       OR (created_at = :before_at AND id < :before_id))
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: unread_count
SELECT COUNT(*) AS n FROM inbox_items
WHERE recipient_id = :recipient_id AND read_at IS NULL AND archived_at IS NULL
  AND (snoozed_until IS NULL OR snoozed_until <= :now);

-- name: inbox_counts
SELECT
  (SELECT COUNT(*) FROM inbox_items
   WHERE recipient_id = :recipient_id AND read_at IS NULL AND archived_at IS NULL
     AND (snoozed_until IS NULL OR snoozed_until <= :now)) AS unread,
  (SELECT COUNT(*) FROM inbox_items
   WHERE recipient_id = :recipient_id AND seen_at IS NULL AND archived_at IS NULL
     AND (snoozed_until IS NULL OR snoozed_until <= :now)) AS unseen,
  (SELECT COUNT(*) FROM inbox_items
   WHERE recipient_id = :recipient_id AND archived_at IS NOT NULL) AS archived;

-- name: mark_seen
-- Without ids: every unseen item in view (not archived, not snoozed).
UPDATE inbox_items SET seen_at = :now
WHERE recipient_id = :recipient_id AND seen_at IS NULL
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
  AND (:ids IS NOT NULL OR (archived_at IS NULL
                            AND (snoozed_until IS NULL OR snoozed_until <= :now)))
RETURNING id;

-- name: mark_read
-- Without ids: every unread item in view. Read is seen too.
UPDATE inbox_items SET read_at = :now, seen_at = COALESCE(seen_at, :now)
WHERE recipient_id = :recipient_id AND read_at IS NULL
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
  AND (:ids IS NOT NULL OR (archived_at IS NULL
                            AND (snoozed_until IS NULL OR snoozed_until <= :now)))
RETURNING id;

-- name: mark_unread
UPDATE inbox_items SET read_at = NULL
WHERE recipient_id = :recipient_id AND read_at IS NOT NULL
  AND id IN (SELECT value FROM json_each(:ids))
RETURNING id;

-- name: mark_archived
-- Without ids: every read item in view (archive_all_read).
UPDATE inbox_items SET archived_at = :now
WHERE recipient_id = :recipient_id AND archived_at IS NULL
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)))
  AND (:ids IS NOT NULL OR (read_at IS NOT NULL
                            AND (snoozed_until IS NULL OR snoozed_until <= :now)))
RETURNING id;

-- name: mark_unarchived
UPDATE inbox_items SET archived_at = NULL
WHERE recipient_id = :recipient_id AND archived_at IS NOT NULL
  AND id IN (SELECT value FROM json_each(:ids))
RETURNING id;

-- name: mark_snoozed
-- Hidden until :until, then back as unread (and unseen: the badge shows it again).
UPDATE inbox_items SET snoozed_until = :until, read_at = NULL, seen_at = NULL
WHERE recipient_id = :recipient_id AND archived_at IS NULL
  AND id IN (SELECT value FROM json_each(:ids))
RETURNING id;

-- name: mark_unsnoozed
-- The snoozes of the recipient that are due (ids: among those).
UPDATE inbox_items SET snoozed_until = NULL
WHERE recipient_id = :recipient_id AND snoozed_until IS NOT NULL AND snoozed_until <= :now
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
