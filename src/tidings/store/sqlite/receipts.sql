-- Expo push receipts: deliveries whose tickets may have receipts by now.
-- Served by deliveries_status (channel, status); sent_at narrows within it.

-- name: deliveries_awaiting_receipts
SELECT * FROM deliveries
WHERE channel = :channel AND status = 'sent' AND provider = :provider
  AND sent_at >= :sent_after AND sent_at <= :sent_before
ORDER BY sent_at, id
LIMIT :limit;
