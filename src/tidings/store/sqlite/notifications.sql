-- Notifications: the delivery log, outbox, digests and settings.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: find_dedup
SELECT notification_id FROM notify_dedup WHERE key = :key AND expires_at > :now;

-- name: take_dedup
UPDATE notify_dedup SET notification_id = :notification_id, expires_at = :expires_at
WHERE key = :key;

-- name: get_notification
SELECT * FROM notifications WHERE id = :id;

-- name: notification_deliveries
SELECT * FROM deliveries WHERE notification_id = :id
ORDER BY CASE channel WHEN 'in_app' THEN 0 WHEN 'email' THEN 1 WHEN 'push' THEN 2 ELSE 3 END;

-- name: get_delivery
SELECT * FROM deliveries WHERE id = :id;

-- name: list_deliveries
SELECT * FROM deliveries
WHERE (:recipient_id IS NULL OR recipient_id = :recipient_id)
  AND (:type_id IS NULL OR type_id = :type_id)
  AND (:channel IS NULL OR channel = :channel)
  AND (:status IS NULL OR status = :status)
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: update_delivery
UPDATE deliveries
SET status = :status, provider = :provider, provider_message_id = :provider_message_id,
    attempts = :attempts, error = :error, history = :history,
    sent_at = COALESCE(:sent_at, sent_at), updated_at = :now
WHERE id = :id;

-- name: count_deliveries
SELECT channel, status, COUNT(*) AS n FROM deliveries GROUP BY channel, status;

-- name: insert_outbox
-- The recipient is the delivery's.
INSERT INTO outbox (id, delivery_id, channel, to_address, type_id, recipient_id, locale,
                    subject, html, text, title, body, data, created_at)
SELECT :id, :delivery_id, :channel, :to_address, :type_id, d.recipient_id,
       :locale, :subject, :html, :text, :title, :body, :data, :now
FROM deliveries d WHERE d.id = :delivery_id
ON CONFLICT (delivery_id, to_address) DO NOTHING;

-- name: list_outbox
SELECT * FROM outbox
WHERE (:to IS NULL OR to_address = :to OR recipient_id = :to)
  AND (:type_id IS NULL OR type_id = :type_id)
  AND (:channel IS NULL OR channel = :channel)
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: insert_setting
INSERT INTO settings (key, value, created_at) VALUES (:key, :value, :now)
ON CONFLICT (key) DO NOTHING;

-- name: get_setting
SELECT value FROM settings WHERE key = :key;

-- name: digest_of_source
SELECT d.* FROM digest_items i JOIN digests d ON d.id = i.digest_id WHERE i.source = :source;

-- name: open_digest
INSERT INTO digests (id, key, status, run_id, opened_at, closes_at)
VALUES (:id, :key, 'open', :run_id, :now, :closes_at)
ON CONFLICT (key) WHERE status = 'open' DO NOTHING;

-- name: lock_open_digest
SELECT * FROM digests WHERE key = :key AND status = 'open';

-- name: insert_digest_item
INSERT INTO digest_items (source, digest_id, item, added_at)
VALUES (:source, :digest_id, :item, :now);

-- name: close_digest
UPDATE digests SET status = 'closed', closed_at = :now WHERE id = :id AND status = 'open';

-- name: digest_items
SELECT item FROM digest_items WHERE digest_id = :id ORDER BY added_at, source;

-- name: mark_delivery_sandboxed
UPDATE deliveries SET sandboxed = 1 WHERE id = :id;
