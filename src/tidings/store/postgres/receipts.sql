-- Delivery tracking: push receipts and provider webhooks.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- Expo push receipts: deliveries whose tickets may have receipts by now.
-- Served by deliveries_status (channel, status); sent_at narrows within it.

-- name: deliveries_awaiting_receipts
SELECT * FROM deliveries
WHERE channel = %(channel)s AND status = 'sent' AND provider = %(provider)s
  AND sent_at >= %(sent_after)s AND sent_at <= %(sent_before)s
ORDER BY sent_at, id
LIMIT %(limit)s;

-- Provider webhooks (delivery tracking).

-- name: record_webhook_event
INSERT INTO webhook_events (provider, event_id, received_at)
VALUES (%(provider)s, %(event_id)s, %(now)s)
ON CONFLICT (provider, event_id) DO NOTHING
RETURNING event_id;

-- name: find_delivery_by_provider_message
SELECT * FROM deliveries
WHERE provider = %(provider)s AND provider_message_id = %(provider_message_id)s
ORDER BY created_at DESC
LIMIT 1
FOR UPDATE;

-- name: track_delivery
UPDATE deliveries
SET status = %(status)s, error = %(error)s, history = %(history)s, updated_at = %(now)s
WHERE id = %(id)s;
