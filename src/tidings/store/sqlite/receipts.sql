-- Delivery tracking: push receipts and provider webhooks.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- Expo push receipts: deliveries whose tickets may have receipts by now.
-- Served by deliveries_status (channel, status); sent_at narrows within it.

-- name: deliveries_awaiting_receipts
SELECT * FROM deliveries
WHERE channel = :channel AND status = 'sent' AND provider = :provider
  AND sent_at >= :sent_after AND sent_at <= :sent_before
ORDER BY sent_at, id
LIMIT :limit;

-- Provider webhooks (delivery tracking).

-- name: record_webhook_event
INSERT INTO webhook_events (provider, event_id, received_at)
VALUES (:provider, :event_id, :now)
ON CONFLICT (provider, event_id) DO NOTHING
RETURNING event_id;

-- name: find_delivery_by_provider_message
SELECT * FROM deliveries
WHERE provider = :provider AND provider_message_id = :provider_message_id
ORDER BY created_at DESC
LIMIT 1;

-- name: track_delivery
UPDATE deliveries
SET status = :status, error = :error, history = :history, updated_at = :now
WHERE id = :id;
