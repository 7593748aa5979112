-- Broadcasts: one notification type to a whole audience, routed a page at a time.
-- Named queries of the PostgreSQL store. Lists are text[].

-- name: insert_broadcast
INSERT INTO broadcasts (id, type_id, topic, data, channels, tags, dedup_key, run_id,
                        total, created_at)
VALUES (%(id)s, %(type_id)s, %(topic)s::text, %(data)s, %(channels)s::text, %(tags)s, %(dedup_key)s, %(run_id)s, 0, %(now)s);

-- name: topic_audience
INSERT INTO broadcast_audience (broadcast_id, recipient_id)
SELECT %(id)s, recipient_id FROM topic_subscribers WHERE topic = %(topic)s;

-- name: list_audience
INSERT INTO broadcast_audience (broadcast_id, recipient_id)
SELECT %(id)s, j.id FROM unnest(%(ids)s::text[]) AS j(id)
ON CONFLICT (broadcast_id, recipient_id) DO NOTHING;

-- name: set_broadcast_total
UPDATE broadcasts
SET total = (SELECT COUNT(*) FROM broadcast_audience WHERE broadcast_id = %(id)s)
WHERE id = %(id)s
RETURNING total;

-- name: get_broadcast
SELECT * FROM broadcasts WHERE id = %(id)s;

-- name: broadcast_of_run
SELECT * FROM broadcasts WHERE run_id = %(run_id)s;

-- name: audience_page
SELECT recipient_id FROM broadcast_audience
WHERE broadcast_id = %(id)s AND recipient_id > %(after)s
ORDER BY recipient_id
LIMIT %(limit)s;

-- name: advance_broadcast
-- Only from the cursor the page started at: a page is recorded once.
UPDATE broadcasts
SET cursor = %(next)s, finished_at = %(finished_at)s::timestamptz
WHERE id = %(id)s AND cursor = %(cursor)s AND finished_at IS NULL;

-- name: broadcast_counts
SELECT channel, status, COUNT(*) AS n FROM deliveries
WHERE broadcast_id = %(id)s GROUP BY channel, status;

-- name: list_broadcasts
SELECT * FROM broadcasts ORDER BY created_at DESC, id DESC LIMIT %(limit)s;

-- name: add_routed
UPDATE broadcasts SET routed = routed + %(routed)s WHERE id = %(id)s;

-- name: broadcast_deliveries
SELECT * FROM deliveries
WHERE broadcast_id = %(id)s
  AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;
