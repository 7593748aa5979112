-- Topics: which recipients subscribe to which topic.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: missing_recipients
SELECT DISTINCT j.value AS id FROM json_each(:ids) j
WHERE NOT EXISTS (SELECT 1 FROM recipients r WHERE r.id = j.value)
ORDER BY j.value;

-- name: subscribe_topic
INSERT INTO topic_subscribers (topic, recipient_id, created_at)
SELECT :topic, value, :now FROM json_each(:ids) WHERE true
ON CONFLICT (topic, recipient_id) DO NOTHING;

-- name: unsubscribe_topic
DELETE FROM topic_subscribers
WHERE topic = :topic AND recipient_id IN (SELECT value FROM json_each(:ids));

-- name: topic_subscribers
SELECT recipient_id FROM topic_subscribers
WHERE topic = :topic AND recipient_id > :after
ORDER BY recipient_id
LIMIT :limit;

-- name: recipient_topics
SELECT topic FROM topic_subscribers WHERE recipient_id = :id ORDER BY topic;

-- name: delete_topic
DELETE FROM topic_subscribers WHERE topic = :topic;

-- name: delete_recipient_topics
DELETE FROM topic_subscribers WHERE recipient_id = :id;

-- name: count_topic
SELECT COUNT(*) AS n FROM topic_subscribers WHERE topic = :topic;

-- name: list_topics
SELECT topic, COUNT(*) AS subscribers FROM topic_subscribers
WHERE topic > :after
GROUP BY topic ORDER BY topic
LIMIT :limit;
