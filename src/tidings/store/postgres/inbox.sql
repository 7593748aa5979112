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
SELECT * FROM inbox_items
WHERE recipient_id = %(recipient_id)s
  AND (NOT %(unread_only)s::boolean OR read_at IS NULL)
  AND (CASE WHEN %(archived)s::boolean THEN archived_at IS NOT NULL ELSE archived_at IS NULL END)
  AND (%(before_at)s::timestamptz IS NULL OR created_at < %(before_at)s::timestamptz
       OR (created_at = %(before_at)s::timestamptz AND id < %(before_id)s::text))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: unread_count
SELECT COUNT(*) AS n FROM inbox_items
WHERE recipient_id = %(recipient_id)s AND read_at IS NULL AND archived_at IS NULL;

-- name: mark_read
-- Without ids: every unread item still in the inbox (not the archive).
UPDATE inbox_items SET read_at = %(now)s
WHERE recipient_id = %(recipient_id)s AND read_at IS NULL
  AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[]))
  AND (%(ids)s::text[] IS NOT NULL OR archived_at IS NULL)
RETURNING id;

-- name: mark_archived
UPDATE inbox_items SET archived_at = %(now)s
WHERE recipient_id = %(recipient_id)s AND archived_at IS NULL
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
