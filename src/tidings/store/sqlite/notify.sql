-- Named queries of notifications (SQLite). Lists are JSON arrays expanded with json_each.

-- name: lock_recipient
SELECT * FROM recipients WHERE id = :id;

-- name: get_recipient
SELECT * FROM recipients WHERE id = :id;

-- name: upsert_recipient
INSERT INTO recipients (id, email, phone, locale, timezone, quiet_start, quiet_end, data,
                        created_at, updated_at)
VALUES (:id, :email, :phone, :locale, :timezone, :quiet_start, :quiet_end, :data, :now, :now)
ON CONFLICT (id) DO UPDATE
SET email = excluded.email, phone = excluded.phone, locale = excluded.locale,
    timezone = excluded.timezone, quiet_start = excluded.quiet_start,
    quiet_end = excluded.quiet_end, data = excluded.data, updated_at = excluded.updated_at
RETURNING *;

-- name: delete_recipient
DELETE FROM recipients WHERE id = :id;

-- name: delete_recipient_inbox
DELETE FROM inbox_items WHERE recipient_id = :id;

-- name: delete_recipient_changes
DELETE FROM inbox_changes WHERE recipient_id = :id;

-- name: delete_recipient_sequence
DELETE FROM inbox_sequences WHERE recipient_id = :id;

-- name: upsert_push_token
INSERT INTO push_tokens (token, recipient_id, platform, device_name, active, created_at,
                         updated_at)
VALUES (:token, :recipient_id, :platform, :device_name, :active, :now, :now)
ON CONFLICT (token) DO UPDATE
SET recipient_id = excluded.recipient_id, platform = excluded.platform,
    device_name = excluded.device_name, active = excluded.active,
    updated_at = excluded.updated_at
RETURNING *;

-- name: list_push_tokens
SELECT * FROM push_tokens
WHERE recipient_id = :recipient_id AND (NOT :active_only OR active)
ORDER BY updated_at DESC, token;

-- name: deactivate_push_token
UPDATE push_tokens SET active = :off, updated_at = :now WHERE token = :token AND active;

-- name: upsert_preference
INSERT INTO preferences (recipient_id, type_id, channel, enabled, updated_at)
VALUES (:recipient_id, :type_id, :channel, :enabled, :now)
ON CONFLICT (recipient_id, type_id, channel) DO UPDATE
SET enabled = excluded.enabled, updated_at = excluded.updated_at;

-- name: list_preferences
SELECT * FROM preferences WHERE recipient_id = :recipient_id ORDER BY type_id, channel;

-- name: insert_suppression
INSERT INTO suppressions (channel, address, reason, created_at)
VALUES (:channel, :address, :reason, :now)
ON CONFLICT (channel, address) DO NOTHING;

-- name: delete_suppression
DELETE FROM suppressions WHERE channel = :channel AND address = :address;

-- name: get_suppression
SELECT * FROM suppressions WHERE channel = :channel AND address = :address;

-- name: recipient_suppressions
SELECT channel, address FROM suppressions
WHERE (channel = 'email' AND address = :email)
   OR (channel = 'sms' AND address = :phone)
   OR (channel = 'push' AND address IN
        (SELECT token FROM push_tokens WHERE recipient_id = :id AND active));

-- name: find_dedup
SELECT notification_id FROM notify_dedup WHERE key = :key AND expires_at > :now;

-- name: reserve_dedup
-- Takes the key, or tells who holds it; an expired key is taken over.
INSERT INTO notify_dedup AS k (key, notification_id, expires_at)
VALUES (:key, :notification_id, :expires_at)
ON CONFLICT (key) DO UPDATE
SET notification_id = CASE WHEN k.expires_at > :now THEN k.notification_id
                           ELSE excluded.notification_id END,
    expires_at = CASE WHEN k.expires_at > :now THEN k.expires_at ELSE excluded.expires_at END
RETURNING notification_id;

-- name: take_dedup
UPDATE notify_dedup SET notification_id = :notification_id, expires_at = :expires_at
WHERE key = :key;

-- name: insert_notification
INSERT INTO notifications (id, type_id, recipient_id, dedup_key, data, run_id, created_at)
VALUES (:id, :type_id, :recipient_id, :dedup_key, :data, :run_id, :now);

-- name: get_notification
SELECT * FROM notifications WHERE id = :id;

-- name: insert_delivery
INSERT INTO deliveries (id, notification_id, channel, type_id, recipient_id, addresses,
                        locale, critical, status, reason, error, subject, html, text, title,
                        body, sms, data, send_at, created_at, updated_at, sent_at)
VALUES (:id, :notification_id, :channel, :type_id, :recipient_id, :addresses, :locale,
        :critical, :status, :reason, :error, :subject, :html, :text, :title, :body, :sms,
        :data, :send_at, :now, :now, :sent_at);

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

-- name: insert_inbox_item
INSERT INTO inbox_items (id, recipient_id, delivery_id, type_id, title, body, data,
                         created_at)
VALUES (:id, :recipient_id, :delivery_id, :type_id, :title, :body, :data, :now);

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
