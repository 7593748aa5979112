-- Routing a page of notifications: what it reads about many recipients, one statement
-- per table, and the multi-row writes that record it.
-- Named queries of the PostgreSQL store. Lists are text[]; rows are a JSON array of
-- objects (%(rows)s) read with jsonb_to_recordset.

-- name: recipients_many
SELECT * FROM recipients WHERE id = ANY(%(ids)s::text[]);

-- name: push_tokens_many
SELECT recipient_id, token FROM push_tokens
WHERE recipient_id = ANY(%(ids)s::text[]) AND active
ORDER BY recipient_id, updated_at DESC, token;

-- name: preferences_many
SELECT recipient_id, type_id, channel, enabled FROM preferences
WHERE recipient_id = ANY(%(ids)s::text[]);

-- name: suppressions_many
-- Among the given addresses (JSON objects {channel, address}), those suppressed.
SELECT s.channel, s.address FROM suppressions s
JOIN jsonb_to_recordset(%(addresses)s::jsonb) AS j(channel text, address text)
  ON s.channel = j.channel AND s.address = j.address;

-- name: reserve_dedup_many
-- Sorted, so concurrent writers of overlapping keys take row locks in one order.
INSERT INTO notify_dedup AS k (key, notification_id, expires_at)
SELECT r.key, r.id, %(expires_at)s
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(key text, id text) ORDER BY r.key
ON CONFLICT (key) DO UPDATE
SET notification_id = CASE WHEN k.expires_at > %(now)s THEN k.notification_id
                           ELSE excluded.notification_id END,
    expires_at = CASE WHEN k.expires_at > %(now)s THEN k.expires_at
                      ELSE excluded.expires_at END
RETURNING key, notification_id;

-- name: existing_notifications
SELECT id FROM notifications WHERE id = ANY(%(ids)s::text[]);

-- name: insert_notifications_many
INSERT INTO notifications (id, type_id, recipient_id, dedup_key, data, run_id, created_at)
SELECT r.id, r.type_id, r.recipient_id, r.dedup_key, r.data, r.run_id, %(now)s
FROM jsonb_to_recordset(%(rows)s::jsonb)
     AS r(id text, type_id text, recipient_id text, dedup_key text, data text, run_id text);

-- name: insert_deliveries_many
INSERT INTO deliveries (id, notification_id, channel, type_id, recipient_id, addresses,
                        locale, critical, status, reason, error, subject, html, text, title,
                        body, sms, data, send_at, created_at, updated_at, sent_at,
                        broadcast_id)
SELECT r.id, r.notification_id, r.channel, r.type_id, r.recipient_id, r.addresses,
       r.locale, r.critical, r.status, r.reason, r.error, r.subject, r.html, r.text,
       r.title, r.body, r.sms, r.data, r.send_at, %(now)s, %(now)s,
       CASE WHEN r.status = 'delivered' THEN %(now)s::timestamptz END,
       %(broadcast_id)s::text
FROM jsonb_to_recordset(%(rows)s::jsonb)
     AS r(id text, notification_id text, channel text, type_id text, recipient_id text,
          addresses text, locale text, critical boolean, status text, reason text,
          error text, subject text, html text, text text, title text, body text, sms text,
          data text, send_at timestamptz);

-- name: insert_inbox_items_many
INSERT INTO inbox_items (id, recipient_id, delivery_id, type_id, title, body, data,
                         created_at, tags)
SELECT r.id, r.recipient_id, r.delivery_id, r.type_id, r.title, r.body, r.data, %(now)s,
       r.tags
FROM jsonb_to_recordset(%(rows)s::jsonb)
     AS r(id text, recipient_id text, delivery_id text, type_id text, title text,
          body text, data text, tags text);

-- name: next_inbox_seqs
-- Sorted: per recipient, the sequence row's lock is held to commit (seq order = commit
-- order), and concurrent pages take those locks in one order.
INSERT INTO inbox_sequences (recipient_id, seq)
SELECT j.id, 1 FROM unnest(%(ids)s::text[]) AS j(id) ORDER BY j.id
ON CONFLICT (recipient_id) DO UPDATE SET seq = inbox_sequences.seq + 1
RETURNING recipient_id, seq;

-- name: insert_inbox_changes_many
INSERT INTO inbox_changes (recipient_id, seq, kind, item_id, at)
SELECT r.recipient_id, r.seq, 'created', r.item_id, %(now)s
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(recipient_id text, seq bigint, item_id text);

-- name: deliveries_many
SELECT * FROM deliveries WHERE id = ANY(%(ids)s::text[]);

-- name: update_deliveries_many
UPDATE deliveries AS d
SET status = r.status, provider = r.provider, provider_message_id = r.provider_message_id,
    attempts = r.attempts, error = r.error, history = r.history,
    sent_at = COALESCE(r.sent_at, d.sent_at), updated_at = %(now)s
FROM jsonb_to_recordset(%(rows)s::jsonb)
     AS r(id text, status text, provider text, provider_message_id text, attempts int,
          error text, history text, sent_at timestamptz)
WHERE d.id = r.id;

-- name: insert_outbox_many
-- The recipient is the delivery's; a message captured before is kept once.
INSERT INTO outbox (id, delivery_id, channel, to_address, type_id, recipient_id, locale,
                    subject, html, text, title, body, data, created_at)
SELECT r.id, d.id, r.channel, r.to_address, r.type_id, d.recipient_id, r.locale,
       r.subject, r.html, r.text, r.title, r.body, r.data, %(now)s
FROM jsonb_to_recordset(%(rows)s::jsonb)
     AS r(id text, delivery_id text, channel text, to_address text, type_id text,
          locale text, subject text, html text, text text, title text, body text, data text)
JOIN deliveries d ON d.id = r.delivery_id
ON CONFLICT (delivery_id, to_address) DO NOTHING;
