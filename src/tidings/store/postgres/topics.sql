-- Topics: which recipients subscribe to which topic.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[].

-- name: missing_recipients
SELECT DISTINCT j.id FROM unnest(%(ids)s::text[]) AS j(id)
WHERE NOT EXISTS (SELECT 1 FROM recipients r WHERE r.id = j.id)
ORDER BY j.id;

-- name: subscribe_topic
-- Sorted, so concurrent subscribers of one topic take row locks in one order.
INSERT INTO topic_subscribers (topic, recipient_id, created_at)
SELECT %(topic)s, j.id, %(now)s FROM unnest(%(ids)s::text[]) AS j(id) ORDER BY j.id
ON CONFLICT (topic, recipient_id) DO NOTHING;

-- name: unsubscribe_topic
DELETE FROM topic_subscribers
WHERE topic = %(topic)s AND recipient_id = ANY(%(ids)s::text[]);

-- name: topic_subscribers
SELECT recipient_id FROM topic_subscribers
WHERE topic = %(topic)s AND recipient_id > %(after)s
ORDER BY recipient_id
LIMIT %(limit)s;

-- name: recipient_topics
SELECT topic FROM topic_subscribers WHERE recipient_id = %(id)s ORDER BY topic;

-- name: delete_topic
DELETE FROM topic_subscribers WHERE topic = %(topic)s;

-- name: delete_recipient_topics
DELETE FROM topic_subscribers WHERE recipient_id = %(id)s;

-- name: count_topic
SELECT COUNT(*) AS n FROM topic_subscribers WHERE topic = %(topic)s;

-- name: list_topics
SELECT topic, COUNT(*) AS subscribers FROM topic_subscribers
WHERE topic > %(after)s
GROUP BY topic ORDER BY topic
LIMIT %(limit)s;
