-- Routing a page of notifications: what it reads about many recipients, one statement
-- per table, and the multi-row writes that record it.
-- Named queries of the SQLite store. Lists are JSON arrays expanded with json_each;
-- rows are JSON arrays of objects (":rows").

-- name: recipients_many
SELECT * FROM recipients WHERE id IN (SELECT value FROM json_each(:ids));

-- name: push_tokens_many
SELECT recipient_id, token FROM push_tokens
WHERE recipient_id IN (SELECT value FROM json_each(:ids)) AND active
ORDER BY recipient_id, updated_at DESC, token;

-- name: preferences_many
SELECT recipient_id, type_id, channel, enabled FROM preferences
WHERE recipient_id IN (SELECT value FROM json_each(:ids));

-- name: suppressions_many
-- Among the given addresses (JSON objects {channel, address}), those suppressed.
SELECT s.channel, s.address FROM suppressions s
JOIN json_each(:addresses) j
  ON s.channel = json_extract(j.value, '$.channel')
 AND s.address = json_extract(j.value, '$.address');

-- name: reserve_dedup_many
INSERT INTO notify_dedup AS k (key, notification_id, expires_at)
SELECT json_extract(value, '$.key'), json_extract(value, '$.id'), :expires_at
FROM json_each(:rows) WHERE true
ON CONFLICT (key) DO UPDATE
SET notification_id = CASE WHEN k.expires_at > :now THEN k.notification_id
                           ELSE excluded.notification_id END,
    expires_at = CASE WHEN k.expires_at > :now THEN k.expires_at ELSE excluded.expires_at END
RETURNING key, notification_id;

-- name: existing_notifications
SELECT id FROM notifications WHERE id IN (SELECT value FROM json_each(:ids));

-- name: insert_notifications_many
INSERT INTO notifications (id, type_id, recipient_id, dedup_key, data, run_id, created_at)
SELECT json_extract(value, '$.id'), json_extract(value, '$.type_id'),
       json_extract(value, '$.recipient_id'), json_extract(value, '$.dedup_key'),
       json_extract(value, '$.data'), json_extract(value, '$.run_id'), :now
FROM json_each(:rows);

-- name: insert_deliveries_many
INSERT INTO deliveries (id, notification_id, channel, type_id, recipient_id, addresses,
                        locale, critical, status, reason, error, subject, html, text, title,
                        body, sms, data, send_at, created_at, updated_at, sent_at,
                        broadcast_id)
SELECT json_extract(value, '$.id'), json_extract(value, '$.notification_id'),
       json_extract(value, '$.channel'), json_extract(value, '$.type_id'),
       json_extract(value, '$.recipient_id'), json_extract(value, '$.addresses'),
       json_extract(value, '$.locale'), json_extract(value, '$.critical'),
       json_extract(value, '$.status'), json_extract(value, '$.reason'),
       json_extract(value, '$.error'), json_extract(value, '$.subject'),
       json_extract(value, '$.html'), json_extract(value, '$.text'),
       json_extract(value, '$.title'), json_extract(value, '$.body'),
       json_extract(value, '$.sms'), json_extract(value, '$.data'),
       json_extract(value, '$.send_at'), :now, :now,
       CASE WHEN json_extract(value, '$.status') = 'delivered' THEN :now END,
       :broadcast_id
FROM json_each(:rows);

-- name: insert_inbox_items_many
INSERT INTO inbox_items (id, recipient_id, delivery_id, type_id, title, body, data,
                         created_at, tags)
SELECT json_extract(value, '$.id'), json_extract(value, '$.recipient_id'),
       json_extract(value, '$.delivery_id'), json_extract(value, '$.type_id'),
       json_extract(value, '$.title'), json_extract(value, '$.body'),
       json_extract(value, '$.data'), :now, json_extract(value, '$.tags')
FROM json_each(:rows);

-- name: next_inbox_seqs
INSERT INTO inbox_sequences (recipient_id, seq)
SELECT value, 1 FROM json_each(:ids) WHERE true
ON CONFLICT (recipient_id) DO UPDATE SET seq = inbox_sequences.seq + 1
RETURNING recipient_id, seq;

-- name: insert_inbox_changes_many
INSERT INTO inbox_changes (recipient_id, seq, kind, item_id, at)
SELECT json_extract(value, '$.recipient_id'), json_extract(value, '$.seq'), 'created',
       json_extract(value, '$.item_id'), :now
FROM json_each(:rows);

-- name: deliveries_many
SELECT * FROM deliveries WHERE id IN (SELECT value FROM json_each(:ids));

-- name: update_deliveries_many
UPDATE deliveries
SET status = json_extract(j.value, '$.status'),
    provider = json_extract(j.value, '$.provider'),
    provider_message_id = json_extract(j.value, '$.provider_message_id'),
    attempts = json_extract(j.value, '$.attempts'),
    error = json_extract(j.value, '$.error'),
    history = json_extract(j.value, '$.history'),
    sent_at = COALESCE(json_extract(j.value, '$.sent_at'), sent_at),
    updated_at = :now
FROM json_each(:rows) j
WHERE deliveries.id = json_extract(j.value, '$.id');

-- name: insert_outbox_many
-- The recipient is the delivery's; a message captured before is kept once.
INSERT INTO outbox (id, delivery_id, channel, to_address, type_id, recipient_id, locale,
                    subject, html, text, title, body, data, created_at)
SELECT json_extract(j.value, '$.id'), d.id, json_extract(j.value, '$.channel'),
       json_extract(j.value, '$.to_address'), json_extract(j.value, '$.type_id'),
       d.recipient_id, json_extract(j.value, '$.locale'), json_extract(j.value, '$.subject'),
       json_extract(j.value, '$.html'), json_extract(j.value, '$.text'),
       json_extract(j.value, '$.title'), json_extract(j.value, '$.body'),
       json_extract(j.value, '$.data'), :now
FROM json_each(:rows) j JOIN deliveries d ON d.id = json_extract(j.value, '$.delivery_id')
WHERE true
ON CONFLICT (delivery_id, to_address) DO NOTHING;
