-- Retention: the statements of tidings.prune (migration 0020). Every batch finds its
-- rows by an index in deletion order and deletes at most the limit of them (with what
-- belongs to them), so each transaction is short whatever the size of the table.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); a batch's
-- ids are a text[] joined through unnest(): the planner then probes the index once per
-- id, where "= ANY(array)" of a few thousand ids is costed as a scan of the table. A
-- delete repeats its condition on the target rows, so a row changed since it was picked
-- (a key renewed) is not deleted.

-- name: prune_runs_candidates
-- finished runs before the cutoff after the cursor (finished_at, id), and whether each may
-- go: not while a child of it is active, nor while its parent is (trigger_and_wait).
-- The checks are LATERAL probes of one run each: as EXISTS, PostgreSQL may hash every
-- active run instead (a million sleepers read per batch). Rows come unordered: the
-- store takes the cursor from the greatest (finished_at, id).
SELECT r.id, r.finished_at,
       (r.status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND c.id IS NULL AND p.id IS NULL)
           AS eligible
FROM (SELECT id, finished_at, status, parent_run_id FROM runs
      WHERE finished_at IS NOT NULL AND finished_at < %(cutoff)s
        AND (finished_at, id) > (%(after_at)s, %(after_id)s)
      ORDER BY finished_at, id
      LIMIT %(limit)s) r
LEFT JOIN LATERAL (SELECT c.id FROM runs c
                   WHERE c.parent_run_id = r.id AND c.status IN ('QUEUED', 'RUNNING', 'WAITING')
                   LIMIT 1) c ON true
LEFT JOIN LATERAL (SELECT p.id FROM runs p
                   WHERE p.id = r.parent_run_id AND p.status IN ('QUEUED', 'RUNNING', 'WAITING')) p ON true;

-- name: prune_runs_count
SELECT COUNT(*) AS n FROM runs r
WHERE r.finished_at IS NOT NULL AND r.finished_at < %(cutoff)s
  AND r.status IN ('COMPLETED', 'FAILED', 'CANCELLED')
  AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = r.id
                  AND c.status IN ('QUEUED', 'RUNNING', 'WAITING'))
  AND NOT (r.parent_run_id IS NOT NULL AND EXISTS (
      SELECT 1 FROM runs p WHERE p.id = r.parent_run_id
      AND p.status IN ('QUEUED', 'RUNNING', 'WAITING')));

-- name: prune_run_steps
DELETE FROM steps USING unnest(%(ids)s::text[]) AS picked(id)
WHERE steps.run_id = picked.id;

-- name: prune_run_logs
DELETE FROM run_logs USING unnest(%(ids)s::text[]) AS picked(id)
WHERE run_logs.run_id = picked.id;

-- name: prune_run_waits
DELETE FROM event_waits USING unnest(%(ids)s::text[]) AS picked(id)
WHERE event_waits.run_id = picked.id;

-- name: prune_run_cancel_keys
DELETE FROM run_cancel_keys USING unnest(%(ids)s::text[]) AS picked(id)
WHERE run_cancel_keys.run_id = picked.id;

-- name: prune_run_resumes
DELETE FROM event_resumes USING unnest(%(ids)s::text[]) AS picked(id)
WHERE event_resumes.run_id = picked.id;

-- name: prune_run_sources
DELETE FROM run_sources USING unnest(%(ids)s::text[]) AS picked(id)
WHERE run_sources.run_id = picked.id;

-- name: prune_run_gates
DELETE FROM flow_gates USING unnest(%(ids)s::text[]) AS picked(id)
WHERE flow_gates.run_id = picked.id;

-- name: prune_run_tokens
-- the run's wait tokens; their questions follow by the foreign key's cascade
DELETE FROM wait_tokens USING unnest(%(ids)s::text[]) AS picked(id)
WHERE wait_tokens.run_id = picked.id;

-- name: prune_run_replay_marks
-- the marks that a bulk replay made this run (it is gone: nothing to replay twice)
DELETE FROM bulk_replays USING unnest(%(ids)s::text[]) AS picked(id)
WHERE bulk_replays.run_id = picked.id;

-- name: prune_run_bulk_replays
-- the bulk actions this run carried out: first the replays they recorded...
DELETE FROM bulk_replays USING bulk_actions, unnest(%(ids)s::text[]) AS picked(id)
WHERE bulk_actions.run_id = picked.id AND bulk_replays.bulk_id = bulk_actions.id;

-- name: prune_run_bulk_actions
-- ...then the actions themselves
DELETE FROM bulk_actions USING unnest(%(ids)s::text[]) AS picked(id)
WHERE bulk_actions.run_id = picked.id;

-- name: prune_run_rows
-- by primary key alone: a finished run never becomes active again, and a status
-- condition here leads the planner to read every finished run through a status index
DELETE FROM runs USING unnest(%(ids)s::text[]) AS picked(id)
WHERE runs.id = picked.id;

-- name: prune_deliveries_candidates
-- notifications before the cutoff after the cursor; one goes with its deliveries once none
-- is still to be sent and the run that made it is over (LATERAL probes, as above)
SELECT n.id, n.created_at, (d.id IS NULL AND r.id IS NULL) AS eligible
FROM (SELECT id, created_at, run_id FROM notifications
      WHERE created_at < %(cutoff)s AND (created_at, id) > (%(after_at)s, %(after_id)s)
      ORDER BY created_at, id
      LIMIT %(limit)s) n
LEFT JOIN LATERAL (SELECT d.id FROM deliveries d
                   WHERE d.notification_id = n.id AND d.status IN ('pending', 'deferred')
                   LIMIT 1) d ON true
LEFT JOIN LATERAL (SELECT r.id FROM runs r
                   WHERE r.id = n.run_id AND r.status IN ('QUEUED', 'RUNNING', 'WAITING')) r ON true;

-- name: prune_deliveries_count
SELECT COUNT(*) AS n FROM deliveries d
JOIN notifications n ON n.id = d.notification_id
WHERE n.created_at < %(cutoff)s
  AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.notification_id = n.id
                  AND p.status IN ('pending', 'deferred'))
  AND NOT (n.run_id IS NOT NULL AND EXISTS (
      SELECT 1 FROM runs r WHERE r.id = n.run_id
      AND r.status IN ('QUEUED', 'RUNNING', 'WAITING')));

-- name: prune_delivery_rows
DELETE FROM deliveries USING unnest(%(ids)s::text[]) AS picked(id)
WHERE deliveries.notification_id = picked.id
  AND status NOT IN ('pending', 'deferred');

-- name: prune_notification_rows
DELETE FROM notifications USING unnest(%(ids)s::text[]) AS picked(id)
WHERE notifications.id = picked.id
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = notifications.id);

-- name: prune_inbox_candidates
-- inbox items before the cutoff after the cursor; an item of a run still active (an ask
-- waiting for its answer) stays (a LATERAL probe, as above)
SELECT i.id, i.created_at, (a.id IS NULL) AS eligible
FROM (SELECT id, created_at, delivery_id FROM inbox_items
      WHERE created_at < %(cutoff)s AND (created_at, id) > (%(after_at)s, %(after_id)s)
      ORDER BY created_at, id
      LIMIT %(limit)s) i
LEFT JOIN LATERAL (SELECT r.id FROM deliveries d
                   JOIN notifications n ON n.id = d.notification_id
                   JOIN runs r ON r.id = n.run_id
                   WHERE d.id = i.delivery_id AND r.status IN ('QUEUED', 'RUNNING', 'WAITING')
                   LIMIT 1) a ON true;

-- name: prune_inbox_count
SELECT COUNT(*) AS n FROM inbox_items i
WHERE i.created_at < %(cutoff)s
  AND NOT EXISTS (
      SELECT 1 FROM deliveries d
      JOIN notifications n ON n.id = d.notification_id
      JOIN runs r ON r.id = n.run_id
      WHERE d.id = i.delivery_id AND r.status IN ('QUEUED', 'RUNNING', 'WAITING'));

-- name: prune_inbox_rows
DELETE FROM inbox_items USING unnest(%(ids)s::text[]) AS picked(id)
WHERE inbox_items.id = picked.id;

-- name: prune_events
DELETE FROM events
WHERE id IN (SELECT id FROM events
             WHERE received_at < %(cutoff)s ORDER BY received_at LIMIT %(limit)s)
  AND received_at < %(cutoff)s;

-- name: prune_events_count
SELECT COUNT(*) AS n FROM events WHERE received_at < %(cutoff)s;

-- name: prune_webhook_events
DELETE FROM webhook_events
WHERE (provider, event_id) IN (
    SELECT provider, event_id FROM webhook_events
    WHERE received_at < %(cutoff)s ORDER BY received_at LIMIT %(limit)s)
  AND received_at < %(cutoff)s;

-- name: prune_webhook_events_count
SELECT COUNT(*) AS n FROM webhook_events
WHERE received_at < %(cutoff)s;

-- name: prune_outbox
DELETE FROM outbox
WHERE id IN (SELECT id FROM outbox
             WHERE created_at < %(cutoff)s ORDER BY created_at LIMIT %(limit)s)
  AND created_at < %(cutoff)s;

-- name: prune_outbox_count
SELECT COUNT(*) AS n FROM outbox WHERE created_at < %(cutoff)s;

-- name: prune_inbox_changes
DELETE FROM inbox_changes
WHERE (recipient_id, seq) IN (
    SELECT recipient_id, seq FROM inbox_changes
    WHERE at < %(cutoff)s ORDER BY at LIMIT %(limit)s)
  AND at < %(cutoff)s;

-- name: prune_inbox_changes_count
SELECT COUNT(*) AS n FROM inbox_changes WHERE at < %(cutoff)s;

-- name: prune_idempotency_keys
-- expired keys only (the cutoff is now): a key renewed meanwhile is not expired
DELETE FROM idempotency_keys
WHERE (task_id, key) IN (
    SELECT task_id, key FROM idempotency_keys
    WHERE expires_at < %(cutoff)s ORDER BY expires_at LIMIT %(limit)s)
  AND expires_at < %(cutoff)s;

-- name: prune_idempotency_keys_count
SELECT COUNT(*) AS n FROM idempotency_keys
WHERE expires_at < %(cutoff)s;

-- name: prune_dedup_keys
DELETE FROM notify_dedup
WHERE key IN (SELECT key FROM notify_dedup
              WHERE expires_at < %(cutoff)s ORDER BY expires_at LIMIT %(limit)s)
  AND expires_at < %(cutoff)s;

-- name: prune_dedup_keys_count
SELECT COUNT(*) AS n FROM notify_dedup
WHERE expires_at < %(cutoff)s;

-- name: prune_digests_pick
SELECT id FROM digests
WHERE status = 'closed' AND closed_at < %(cutoff)s ORDER BY closed_at LIMIT %(limit)s;

-- name: prune_digests_count
SELECT COUNT(*) AS n FROM digests
WHERE status = 'closed' AND closed_at < %(cutoff)s;

-- name: prune_digest_items
DELETE FROM digest_items USING unnest(%(ids)s::text[]) AS picked(id)
WHERE digest_items.digest_id = picked.id;

-- name: prune_digest_rows
DELETE FROM digests USING unnest(%(ids)s::text[]) AS picked(id)
WHERE digests.id = picked.id;

-- name: prune_broadcasts_pick
-- the oldest finished broadcast before the cutoff none of whose deliveries is still to be
-- sent; its audience goes a batch at a time, then the broadcast itself
SELECT b.id FROM broadcasts b
WHERE b.finished_at IS NOT NULL AND b.finished_at < %(cutoff)s
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.broadcast_id = b.id
                  AND d.status IN ('pending', 'deferred'))
ORDER BY b.finished_at, b.id LIMIT 1;

-- name: prune_broadcasts_count
SELECT COUNT(*) AS n FROM broadcasts b
WHERE b.finished_at IS NOT NULL AND b.finished_at < %(cutoff)s
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.broadcast_id = b.id
                  AND d.status IN ('pending', 'deferred'));

-- name: prune_broadcast_audience
DELETE FROM broadcast_audience
WHERE broadcast_id = %(id)s
  AND recipient_id IN (SELECT recipient_id FROM broadcast_audience
                       WHERE broadcast_id = %(id)s ORDER BY recipient_id LIMIT %(limit)s);

-- name: prune_broadcast_row
DELETE FROM broadcasts WHERE id = %(id)s;

-- name: prune_prunes
DELETE FROM prunes
WHERE id IN (SELECT id FROM prunes WHERE started_at < %(cutoff)s ORDER BY started_at LIMIT %(limit)s);

-- name: prune_prunes_count
SELECT COUNT(*) AS n FROM prunes WHERE started_at < %(cutoff)s;

-- name: prune_running_since
-- the earliest start of a RUNNING run: an event it may still be about to wait for
-- (received since its wait began) is kept until it is over
SELECT MIN(started_at) AS since FROM runs WHERE status = 'RUNNING';

-- name: prune_oldest_runs
SELECT MIN(finished_at) AS at FROM runs WHERE finished_at IS NOT NULL;

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
VALUES (%(id)s, %(started_at)s, %(finished_at)s, %(counts)s, %(batches)s, %(complete)s);

-- name: last_prune
SELECT * FROM prunes ORDER BY started_at DESC LIMIT 1;

-- name: prune_plan_by_index
-- for the rest of this batch's transaction only (see postgres/pruning.py)
SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
       set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
