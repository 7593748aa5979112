-- Retention: the statements of tidings.prune (migration 0020). Every batch finds its
-- rows by an index in deletion order and deletes at most the limit of them (with what
-- belongs to them), so each transaction is short whatever the size of the table.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each. A delete repeats its condition on the target rows, so a row
-- changed since it was picked (a key renewed) is not deleted.

-- name: prune_runs_candidates
-- finished runs before the cutoff after the cursor (finished_at, id), and whether each may
-- go: not while a child of it is active, nor while its parent is (trigger_and_wait)
SELECT r.id, r.finished_at,
       CASE WHEN r.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN 0
            WHEN EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = r.id
                         AND c.status IN ('QUEUED', 'RUNNING', 'WAITING')) THEN 0
            WHEN r.parent_run_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM runs p WHERE p.id = r.parent_run_id
                AND p.status IN ('QUEUED', 'RUNNING', 'WAITING')) THEN 0
            ELSE 1 END AS eligible
FROM runs r INDEXED BY runs_prune
WHERE r.finished_at IS NOT NULL AND r.finished_at < :cutoff
  AND (r.finished_at, r.id) > (:after_at, :after_id)
ORDER BY r.finished_at, r.id
LIMIT :limit;

-- name: prune_runs_count
SELECT COUNT(*) AS n FROM runs r INDEXED BY runs_prune
WHERE r.finished_at IS NOT NULL AND r.finished_at < :cutoff
  AND r.status IN ('COMPLETED', 'FAILED', 'CANCELLED')
  AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = r.id
                  AND c.status IN ('QUEUED', 'RUNNING', 'WAITING'))
  AND NOT (r.parent_run_id IS NOT NULL AND EXISTS (
      SELECT 1 FROM runs p WHERE p.id = r.parent_run_id
      AND p.status IN ('QUEUED', 'RUNNING', 'WAITING')));

-- name: prune_run_steps
DELETE FROM steps WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_logs
DELETE FROM run_logs WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_waits
DELETE FROM event_waits WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_cancel_keys
DELETE FROM run_cancel_keys WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_resumes
DELETE FROM event_resumes WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_sources
DELETE FROM run_sources WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_gates
DELETE FROM flow_gates WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_tokens
-- the run's wait tokens; their questions follow by the foreign key's cascade
DELETE FROM wait_tokens WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_replay_marks
-- the marks that a bulk replay made this run (it is gone: nothing to replay twice)
DELETE FROM bulk_replays WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_bulk_replays
-- the bulk actions this run carried out: first the replays they recorded...
DELETE FROM bulk_replays WHERE bulk_id IN (
    SELECT id FROM bulk_actions WHERE run_id IN (SELECT value FROM json_each(:ids)));

-- name: prune_run_bulk_actions
-- ...then the actions themselves
DELETE FROM bulk_actions WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: prune_run_rows
DELETE FROM runs
WHERE id IN (SELECT value FROM json_each(:ids))
  AND status IN ('COMPLETED', 'FAILED', 'CANCELLED');

-- name: prune_deliveries_candidates
-- notifications before the cutoff after the cursor; one goes with its deliveries once none
-- is still to be sent and the run that made it is over
SELECT n.id, n.created_at,
       CASE WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id
                         AND d.status IN ('pending', 'deferred')) THEN 0
            WHEN n.run_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM runs r WHERE r.id = n.run_id
                AND r.status IN ('QUEUED', 'RUNNING', 'WAITING')) THEN 0
            ELSE 1 END AS eligible
FROM notifications n INDEXED BY notifications_created
WHERE n.created_at < :cutoff AND (n.created_at, n.id) > (:after_at, :after_id)
ORDER BY n.created_at, n.id
LIMIT :limit;

-- name: prune_deliveries_count
SELECT COUNT(*) AS n FROM deliveries d
JOIN notifications n ON n.id = d.notification_id
WHERE n.created_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.notification_id = n.id
                  AND p.status IN ('pending', 'deferred'))
  AND NOT (n.run_id IS NOT NULL AND EXISTS (
      SELECT 1 FROM runs r WHERE r.id = n.run_id
      AND r.status IN ('QUEUED', 'RUNNING', 'WAITING')));

-- name: prune_delivery_rows
DELETE FROM deliveries
WHERE notification_id IN (SELECT value FROM json_each(:ids))
  AND status NOT IN ('pending', 'deferred');

-- name: prune_notification_rows
DELETE FROM notifications
WHERE id IN (SELECT value FROM json_each(:ids))
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = notifications.id);

-- name: prune_inbox_candidates
-- inbox items before the cutoff after the cursor; an item of a run still active (an ask
-- waiting for its answer) stays
SELECT i.id, i.created_at,
       CASE WHEN EXISTS (
                SELECT 1 FROM deliveries d
                JOIN notifications n ON n.id = d.notification_id
                JOIN runs r ON r.id = n.run_id
                WHERE d.id = i.delivery_id AND r.status IN ('QUEUED', 'RUNNING', 'WAITING'))
            THEN 0 ELSE 1 END AS eligible
FROM inbox_items i INDEXED BY inbox_items_created
WHERE i.created_at < :cutoff AND (i.created_at, i.id) > (:after_at, :after_id)
ORDER BY i.created_at, i.id
LIMIT :limit;

-- name: prune_inbox_count
SELECT COUNT(*) AS n FROM inbox_items i INDEXED BY inbox_items_created
WHERE i.created_at < :cutoff
  AND NOT EXISTS (
      SELECT 1 FROM deliveries d
      JOIN notifications n ON n.id = d.notification_id
      JOIN runs r ON r.id = n.run_id
      WHERE d.id = i.delivery_id AND r.status IN ('QUEUED', 'RUNNING', 'WAITING'));

-- name: prune_inbox_rows
DELETE FROM inbox_items WHERE id IN (SELECT value FROM json_each(:ids));

-- name: prune_events
DELETE FROM events
WHERE id IN (SELECT id FROM events INDEXED BY events_received
             WHERE received_at < :cutoff ORDER BY received_at LIMIT :limit)
  AND received_at < :cutoff;

-- name: prune_events_count
SELECT COUNT(*) AS n FROM events INDEXED BY events_received WHERE received_at < :cutoff;

-- name: prune_webhook_events
DELETE FROM webhook_events
WHERE (provider, event_id) IN (
    SELECT provider, event_id FROM webhook_events INDEXED BY webhook_events_received
    WHERE received_at < :cutoff ORDER BY received_at LIMIT :limit)
  AND received_at < :cutoff;

-- name: prune_webhook_events_count
SELECT COUNT(*) AS n FROM webhook_events INDEXED BY webhook_events_received
WHERE received_at < :cutoff;

-- name: prune_outbox
DELETE FROM outbox
WHERE id IN (SELECT id FROM outbox INDEXED BY outbox_created
             WHERE created_at < :cutoff ORDER BY created_at LIMIT :limit)
  AND created_at < :cutoff;

-- name: prune_outbox_count
SELECT COUNT(*) AS n FROM outbox INDEXED BY outbox_created WHERE created_at < :cutoff;

-- name: prune_inbox_changes
DELETE FROM inbox_changes
WHERE (recipient_id, seq) IN (
    SELECT recipient_id, seq FROM inbox_changes INDEXED BY inbox_changes_at
    WHERE at < :cutoff ORDER BY at LIMIT :limit)
  AND at < :cutoff;

-- name: prune_inbox_changes_count
SELECT COUNT(*) AS n FROM inbox_changes INDEXED BY inbox_changes_at WHERE at < :cutoff;

-- name: prune_idempotency_keys
-- expired keys only (the cutoff is now): a key renewed meanwhile is not expired
DELETE FROM idempotency_keys
WHERE (task_id, key) IN (
    SELECT task_id, key FROM idempotency_keys INDEXED BY idempotency_keys_expires
    WHERE expires_at < :cutoff ORDER BY expires_at LIMIT :limit)
  AND expires_at < :cutoff;

-- name: prune_idempotency_keys_count
SELECT COUNT(*) AS n FROM idempotency_keys INDEXED BY idempotency_keys_expires
WHERE expires_at < :cutoff;

-- name: prune_dedup_keys
DELETE FROM notify_dedup
WHERE key IN (SELECT key FROM notify_dedup INDEXED BY notify_dedup_expires
              WHERE expires_at < :cutoff ORDER BY expires_at LIMIT :limit)
  AND expires_at < :cutoff;

-- name: prune_dedup_keys_count
SELECT COUNT(*) AS n FROM notify_dedup INDEXED BY notify_dedup_expires
WHERE expires_at < :cutoff;

-- name: prune_digests_pick
SELECT id FROM digests INDEXED BY digests_closed
WHERE status = 'closed' AND closed_at < :cutoff ORDER BY closed_at LIMIT :limit;

-- name: prune_digests_count
SELECT COUNT(*) AS n FROM digests INDEXED BY digests_closed
WHERE status = 'closed' AND closed_at < :cutoff;

-- name: prune_digest_items
DELETE FROM digest_items WHERE digest_id IN (SELECT value FROM json_each(:ids));

-- name: prune_digest_rows
DELETE FROM digests WHERE id IN (SELECT value FROM json_each(:ids));

-- name: prune_broadcasts_pick
-- the oldest finished broadcast before the cutoff none of whose deliveries is still to be
-- sent; its audience goes a batch at a time, then the broadcast itself
SELECT b.id FROM broadcasts b INDEXED BY broadcasts_finished
WHERE b.finished_at IS NOT NULL AND b.finished_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.broadcast_id = b.id
                  AND d.status IN ('pending', 'deferred'))
ORDER BY b.finished_at, b.id LIMIT 1;

-- name: prune_broadcasts_count
SELECT COUNT(*) AS n FROM broadcasts b INDEXED BY broadcasts_finished
WHERE b.finished_at IS NOT NULL AND b.finished_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.broadcast_id = b.id
                  AND d.status IN ('pending', 'deferred'));

-- name: prune_broadcast_audience
DELETE FROM broadcast_audience
WHERE broadcast_id = :id
  AND recipient_id IN (SELECT recipient_id FROM broadcast_audience
                       WHERE broadcast_id = :id ORDER BY recipient_id LIMIT :limit);

-- name: prune_broadcast_row
DELETE FROM broadcasts WHERE id = :id;

-- name: prune_prunes
DELETE FROM prunes
WHERE id IN (SELECT id FROM prunes WHERE started_at < :cutoff ORDER BY started_at LIMIT :limit);

-- name: prune_prunes_count
SELECT COUNT(*) AS n FROM prunes WHERE started_at < :cutoff;

-- name: prune_running_since
-- the earliest start of a RUNNING run: an event it may still be about to wait for
-- (received since its wait began) is kept until it is over
SELECT MIN(started_at) AS since FROM runs WHERE status = 'RUNNING';

-- name: prune_oldest_runs
SELECT MIN(finished_at) AS at FROM runs INDEXED BY runs_prune WHERE finished_at IS NOT NULL;

-- name: prune_oldest_events
SELECT MIN(received_at) AS at FROM events;

-- name: prune_oldest_deliveries
SELECT MIN(created_at) AS at FROM notifications;

-- name: prune_oldest_outbox
SELECT MIN(created_at) AS at FROM outbox;

-- name: prune_oldest_inbox
SELECT MIN(created_at) AS at FROM inbox_items;

-- name: insert_prune
INSERT INTO prunes (id, started_at, finished_at, counts, batches, complete)
VALUES (:id, :started_at, :finished_at, :counts, :batches, :complete);

-- name: last_prune
SELECT * FROM prunes ORDER BY started_at DESC LIMIT 1;
