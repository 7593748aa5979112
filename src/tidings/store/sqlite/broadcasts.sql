-- Broadcasts: one notification type to a whole audience, routed a page at a time.
-- Named queries of the SQLite store. Lists are JSON arrays expanded with json_each.

-- name: insert_broadcast
INSERT INTO broadcasts (id, type_id, topic, data, channels, tags, dedup_key, run_id,
                        total, created_at)
VALUES (:id, :type_id, :topic, :data, :channels, :tags, :dedup_key, :run_id, 0, :now);

-- name: topic_audience
INSERT INTO broadcast_audience (broadcast_id, recipient_id)
SELECT :id, recipient_id FROM topic_subscribers WHERE topic = :topic;

-- name: list_audience
INSERT INTO broadcast_audience (broadcast_id, recipient_id)
SELECT :id, value FROM json_each(:ids) WHERE true
ON CONFLICT (broadcast_id, recipient_id) DO NOTHING;

-- name: set_broadcast_total
UPDATE broadcasts
SET total = (SELECT COUNT(*) FROM broadcast_audience WHERE broadcast_id = :id)
WHERE id = :id
RETURNING total;

-- name: get_broadcast
SELECT * FROM broadcasts WHERE id = :id;

-- name: broadcast_of_run
SELECT * FROM broadcasts WHERE run_id = :run_id;

-- name: audience_page
SELECT recipient_id FROM broadcast_audience
WHERE broadcast_id = :id AND recipient_id > :after
ORDER BY recipient_id
LIMIT :limit;

-- name: advance_broadcast
-- Only from the cursor the page started at: a page is recorded once.
UPDATE broadcasts
SET cursor = :next, finished_at = :finished_at
WHERE id = :id AND cursor = :cursor AND finished_at IS NULL;

-- name: broadcast_counts
SELECT channel, status, COUNT(*) AS n FROM deliveries
WHERE broadcast_id = :id GROUP BY channel, status;

-- name: list_broadcasts
SELECT * FROM broadcasts ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: add_routed
UPDATE broadcasts SET routed = routed + :routed WHERE id = :id;

-- name: broadcast_deliveries
SELECT * FROM deliveries
WHERE broadcast_id = :id
  AND (:channel IS NULL OR channel = :channel)
  AND (:status IS NULL OR status = :status)
ORDER BY created_at DESC, id DESC
LIMIT :limit;
