-- The inbox and its change feed.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: next_inbox_seq
INSERT INTO inbox_sequences (recipient_id, seq) VALUES (%(recipient_id)s, 1)
ON CONFLICT (recipient_id) DO UPDATE SET seq = inbox_sequences.seq + 1
RETURNING seq;

-- name: insert_inbox_change
INSERT INTO inbox_changes (recipient_id, seq, kind, item_id, at)
VALUES (%(recipient_id)s, %(seq)s, %(kind)s, %(item_id)s, %(now)s);

-- name: list_inbox
-- status: 'all' (neither archived nor snoozed), 'unread' (of those, not read),
-- 'archived'. A snooze that has run out counts as over even before its run clears it.
SELECT * FROM inbox_items
WHERE recipient_id = %(recipient_id)s
  AND (CASE WHEN %(status)s::text = 'archived' THEN archived_at IS NOT NULL
            ELSE archived_at IS NULL AND (snoozed_until IS NULL OR snoozed_until <= %(now)s::timestamptz)
                 AND (%(status)s::text = 'all' OR read_at IS NULL) END)
  AND (%(types)s::text[] IS NULL OR type_id = ANY(%(types)s::text[]))
  AND (%(tags)s::text[] IS NULL OR tags::jsonb ?| %(tags)s::text[])
  AND (%(before_at)s::timestamptz IS NULL OR created_at < %(before_at)s::timestamptz
       OR (created_at = %(before_at)s::timestamptz AND id < %(before_id)s::text))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: unread_count
SELECT COUNT(*) AS n FROM inbox_items
WHERE recipient_id = %(recipient_id)s AND read_at IS NULL AND archived_at IS NULL
  AND (snoozed_until IS NULL OR snoozed_until <= %(now)s::timestamptz);

-- name: inbox_counts
SELECT
  (SELECT COUNT(*) FROM inbox_items
   WHERE recipient_id = %(recipient_id)s AND read_at IS NULL AND archived_at IS NULL
     AND (snoozed_until IS NULL OR snoozed_until <= %(now)s::timestamptz)) AS unread,
  (SELECT COUNT(*) FROM inbox_items
   WHERE recipient_id = %(recipient_id)s AND seen_at IS NULL AND archived_at IS NULL
     AND (snoozed_until IS NULL OR snoozed_until <= %(now)s::timestamptz)) AS unseen,
  (SELECT COUNT(*) FROM inbox_items
   WHERE recipient_id = %(recipient_id)s AND archived_at IS NOT NULL) AS archived;

-- name: mark_seen
-- Without ids: every unseen item in view (not archived, not snoozed).
UPDATE inbox_items SET seen_at = %(now)s
WHERE recipient_id = %(recipient_id)s AND seen_at IS NULL
  AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
  AND (%(ids)s::text[] IS NOT NULL OR (archived_at IS NULL
                            AND (snoozed_until IS NULL OR snoozed_until <= %(now)s::timestamptz)))
RETURNING id;

-- name: mark_read
-- Without ids: every unread item in view. Read is seen too.
UPDATE inbox_items SET read_at = %(now)s, seen_at = COALESCE(seen_at, %(now)s)
WHERE recipient_id = %(recipient_id)s AND read_at IS NULL
  AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
  AND (%(ids)s::text[] IS NOT NULL OR (archived_at IS NULL
                            AND (snoozed_until IS NULL OR snoozed_until <= %(now)s::timestamptz)))
RETURNING id;

-- name: mark_unread
UPDATE inbox_items SET read_at = NULL
WHERE recipient_id = %(recipient_id)s AND read_at IS NOT NULL
  AND id = ANY(%(ids)s::text[])
RETURNING id;

-- name: mark_archived
-- Without ids: every read item in view (archive_all_read).
UPDATE inbox_items SET archived_at = %(now)s
WHERE recipient_id = %(recipient_id)s AND archived_at IS NULL
  AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
  AND (%(ids)s::text[] IS NOT NULL OR (read_at IS NOT NULL
                            AND (snoozed_until IS NULL OR snoozed_until <= %(now)s::timestamptz)))
RETURNING id;

-- name: mark_unarchived
UPDATE inbox_items SET archived_at = NULL
WHERE recipient_id = %(recipient_id)s AND archived_at IS NOT NULL
  AND id = ANY(%(ids)s::text[])
RETURNING id;

-- name: mark_snoozed
-- Hidden until %(until)s, then back as unread (and unseen: the badge shows it again).
UPDATE inbox_items SET snoozed_until = %(until)s, read_at = NULL, seen_at = NULL
WHERE recipient_id = %(recipient_id)s AND archived_at IS NULL
  AND id = ANY(%(ids)s::text[])
RETURNING id;

-- name: mark_unsnoozed
-- The snoozes of the recipient that are due (ids: among those).
UPDATE inbox_items SET snoozed_until = NULL
WHERE recipient_id = %(recipient_id)s AND snoozed_until IS NOT NULL AND snoozed_until <= %(now)s::timestamptz
  AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
RETURNING id;

-- name: inbox_changes
SELECT * FROM inbox_changes
WHERE recipient_id = %(recipient_id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s;

-- name: inbox_marker
-- (streams on PostgreSQL LISTEN for inbox changes instead of polling this)
SELECT COALESCE(SUM(seq), 0) AS marker FROM inbox_sequences;

-- name: inbox_last_seq
SELECT seq FROM inbox_sequences WHERE recipient_id = %(recipient_id)s;

-- name: get_inbox_items
SELECT * FROM inbox_items WHERE recipient_id = %(recipient_id)s AND id = ANY(%(ids)s::text[]);
