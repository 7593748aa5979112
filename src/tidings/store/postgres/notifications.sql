-- Notifications: the delivery log, outbox, digests and settings.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: find_dedup
SELECT notification_id FROM notify_dedup WHERE key = %(key)s AND expires_at > %(now)s;

-- name: take_dedup
UPDATE notify_dedup SET notification_id = %(notification_id)s, expires_at = %(expires_at)s
WHERE key = %(key)s;

-- name: get_notification
SELECT * FROM notifications WHERE id = %(id)s;

-- name: notification_deliveries
SELECT * FROM deliveries WHERE notification_id = %(id)s
ORDER BY CASE channel WHEN 'in_app' THEN 0 WHEN 'email' THEN 1 WHEN 'push' THEN 2 ELSE 3 END;

-- name: get_delivery
SELECT * FROM deliveries WHERE id = %(id)s;

-- name: list_deliveries
SELECT * FROM deliveries
WHERE (%(recipient_id)s::text IS NULL OR recipient_id = %(recipient_id)s::text)
  AND (%(type_id)s::text IS NULL OR type_id = %(type_id)s::text)
  AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: update_delivery
UPDATE deliveries
SET status = %(status)s, provider = %(provider)s, provider_message_id = %(provider_message_id)s,
    attempts = %(attempts)s, error = %(error)s, history = %(history)s,
    sent_at = COALESCE(%(sent_at)s::timestamptz, sent_at), updated_at = %(now)s
WHERE id = %(id)s;

-- name: count_deliveries
SELECT channel, status, COUNT(*) AS n FROM deliveries GROUP BY channel, status;

-- name: insert_outbox
-- The recipient is the delivery's.
INSERT INTO outbox (id, delivery_id, channel, to_address, type_id, recipient_id, locale,
                    subject, html, text, title, body, data, created_at)
SELECT %(id)s, %(delivery_id)s, %(channel)s, %(to_address)s, %(type_id)s, d.recipient_id,
       %(locale)s, %(subject)s, %(html)s, %(text)s, %(title)s, %(body)s, %(data)s, %(now)s
FROM deliveries d WHERE d.id = %(delivery_id)s
ON CONFLICT (delivery_id, to_address) DO NOTHING;

-- name: list_outbox
SELECT * FROM outbox
WHERE (%(to)s::text IS NULL OR to_address = %(to)s::text OR recipient_id = %(to)s::text)
  AND (%(type_id)s::text IS NULL OR type_id = %(type_id)s::text)
  AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: insert_setting
INSERT INTO settings (key, value, created_at) VALUES (%(key)s, %(value)s, %(now)s)
ON CONFLICT (key) DO NOTHING;

-- name: get_setting
SELECT value FROM settings WHERE key = %(key)s;

-- name: digest_of_source
SELECT d.* FROM digest_items i JOIN digests d ON d.id = i.digest_id WHERE i.source = %(source)s;

-- name: open_digest
INSERT INTO digests (id, key, status, run_id, opened_at, closes_at)
VALUES (%(id)s, %(key)s, 'open', %(run_id)s, %(now)s, %(closes_at)s)
ON CONFLICT (key) WHERE status = 'open' DO NOTHING;

-- name: lock_open_digest
SELECT * FROM digests WHERE key = %(key)s AND status = 'open' FOR UPDATE;

-- name: insert_digest_item
INSERT INTO digest_items (source, digest_id, item, added_at)
VALUES (%(source)s, %(digest_id)s, %(item)s, %(now)s);

-- name: close_digest
UPDATE digests SET status = 'closed', closed_at = %(now)s WHERE id = %(id)s AND status = 'open';

-- name: digest_items
SELECT item FROM digest_items WHERE digest_id = %(id)s ORDER BY added_at, source;

-- name: mark_delivery_sandboxed
UPDATE deliveries SET sandboxed = TRUE WHERE id = %(id)s;
