-- Erase and export: every row naming one recipient (store/db/privacy.py).
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each; :path is a JSON path ('$."userId"') built from recipient_key.

-- name: privacy_known
SELECT 1 AS found
WHERE EXISTS (SELECT 1 FROM recipients WHERE id = :id)
   OR EXISTS (SELECT 1 FROM notifications WHERE recipient_id = :id)
   OR EXISTS (SELECT 1 FROM deliveries WHERE recipient_id = :id)
   OR EXISTS (SELECT 1 FROM inbox_items WHERE recipient_id = :id)
   OR EXISTS (SELECT 1 FROM outbox WHERE recipient_id = :id)
   OR EXISTS (SELECT 1 FROM topic_subscribers WHERE recipient_id = :id)
   OR EXISTS (SELECT 1 FROM broadcast_audience WHERE recipient_id = :id);

-- name: privacy_runs_by_path
SELECT id FROM runs WHERE json_extract(payload, :path) = :id;

-- name: privacy_runs_by_notifications
SELECT DISTINCT run_id AS id FROM notifications WHERE recipient_id = :id AND run_id IS NOT NULL;

-- name: privacy_runs_by_deliveries
-- the runs that sent their deliveries (their steps hold the addresses)
SELECT r.id FROM deliveries d JOIN runs r ON r.idempotency_key = :prefix || d.id
WHERE d.recipient_id = :id
UNION
SELECT r.id FROM runs r
WHERE r.task_id = :batch_task
  AND EXISTS (SELECT 1 FROM json_each(r.payload, '$.delivery_ids') j
              JOIN deliveries d ON d.id = j.value WHERE d.recipient_id = :id);

-- name: privacy_broadcast_cursor
-- A broadcast whose cursor is the recipient resumes after the audience row before it
-- (theirs is deleted), so its page order is kept without naming them.
UPDATE broadcasts
SET cursor = COALESCE((SELECT MAX(a.recipient_id) FROM broadcast_audience a
                       WHERE a.broadcast_id = broadcasts.id AND a.recipient_id < :id), '')
WHERE cursor = :id;

-- name: privacy_events
SELECT * FROM events WHERE json_extract(data, :path) = :id ORDER BY received_at, id;

-- name: privacy_scheduled_events
SELECT * FROM scheduled_events WHERE json_extract(data, :path) = :id ORDER BY deliver_at, id;

-- name: privacy_schedules
SELECT * FROM schedules WHERE json_extract(payload, :path) = :id ORDER BY created_at, id;

-- name: privacy_recipient
SELECT * FROM recipients WHERE id = :id;

-- name: privacy_push_tokens
SELECT * FROM push_tokens WHERE recipient_id = :id ORDER BY created_at, token;

-- name: privacy_preferences
SELECT * FROM preferences WHERE recipient_id = :id ORDER BY type_id, channel;

-- name: privacy_preference_changes
SELECT * FROM preference_changes WHERE recipient_id = :id ORDER BY at, id;

-- name: privacy_suppressions
SELECT * FROM suppressions
WHERE address IN (SELECT value FROM json_each(:addresses)) ORDER BY channel, address;

-- name: privacy_topics
SELECT * FROM topic_subscribers WHERE recipient_id = :id ORDER BY topic;

-- name: privacy_inbox_items
SELECT * FROM inbox_items WHERE recipient_id = :id ORDER BY created_at, id;

-- name: privacy_notifications
SELECT * FROM notifications WHERE recipient_id = :id ORDER BY created_at, id;

-- name: privacy_deliveries
SELECT * FROM deliveries WHERE recipient_id = :id ORDER BY created_at, id;

-- name: privacy_outbox
SELECT * FROM outbox WHERE recipient_id = :id ORDER BY created_at, id;

-- name: privacy_broadcasts
SELECT b.* FROM broadcast_audience a JOIN broadcasts b ON b.id = a.broadcast_id
WHERE a.recipient_id = :id ORDER BY b.created_at, b.id;

-- name: privacy_runs
SELECT * FROM runs WHERE id IN (SELECT value FROM json_each(:ids)) ORDER BY created_at, id;

-- name: privacy_steps
SELECT * FROM steps WHERE run_id IN (SELECT value FROM json_each(:ids)) ORDER BY run_id, seq;

-- name: privacy_run_logs
SELECT * FROM run_logs WHERE run_id IN (SELECT value FROM json_each(:ids))
ORDER BY run_id, at;

-- name: privacy_digests
SELECT * FROM digests WHERE run_id IN (SELECT value FROM json_each(:ids)) ORDER BY opened_at, id;

-- name: privacy_digest_items
SELECT * FROM digest_items
WHERE digest_id IN (SELECT id FROM digests WHERE run_id IN (SELECT value FROM json_each(:ids)))
ORDER BY digest_id, added_at, source;

-- name: privacy_event_waits
SELECT * FROM event_waits WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: privacy_cancel_keys
SELECT * FROM run_cancel_keys WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: privacy_flow_gates
SELECT * FROM flow_gates WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: privacy_wait_tokens
-- the wait tokens of their runs: an answer's data names who answered
SELECT id, name, data, completed_by FROM wait_tokens WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: privacy_token_events
-- the internal events that completed their runs' wait tokens (an answer names who gave it)
SELECT * FROM events WHERE id IN (SELECT 'token:' || id FROM wait_tokens WHERE run_id IN (SELECT value FROM json_each(:ids)));

-- name: privacy_wait_tokens_export
SELECT * FROM wait_tokens WHERE run_id IN (SELECT value FROM json_each(:ids)) ORDER BY run_id, created_at;

-- name: privacy_questions
SELECT * FROM questions WHERE recipient_id = :id ORDER BY created_at, id;

-- name: privacy_delete_questions
-- their open questions are withdrawn (the links stop working; the asking run gets None
-- at its timeout); answered ones go too, their answer is in the run's redacted steps
DELETE FROM questions WHERE recipient_id = :id;

-- name: privacy_delete_recipient
DELETE FROM recipients WHERE id = :id;

-- name: privacy_delete_push_tokens
DELETE FROM push_tokens WHERE recipient_id = :id;

-- name: privacy_delete_preferences
DELETE FROM preferences WHERE recipient_id = :id;

-- name: privacy_delete_preference_changes
DELETE FROM preference_changes WHERE recipient_id = :id;

-- name: privacy_delete_suppressions
DELETE FROM suppressions WHERE address IN (SELECT value FROM json_each(:addresses));

-- name: privacy_delete_topics
DELETE FROM topic_subscribers WHERE recipient_id = :id;

-- name: privacy_delete_inbox_items
DELETE FROM inbox_items WHERE recipient_id = :id;

-- name: privacy_delete_inbox_changes
DELETE FROM inbox_changes WHERE recipient_id = :id;

-- name: privacy_delete_inbox_sequence
DELETE FROM inbox_sequences WHERE recipient_id = :id;

-- name: privacy_delete_outbox
DELETE FROM outbox WHERE recipient_id = :id;

-- name: privacy_delete_audience
DELETE FROM broadcast_audience WHERE recipient_id = :id;

-- name: privacy_delete_dedup
DELETE FROM notify_dedup
WHERE notification_id IN (SELECT id FROM notifications WHERE recipient_id = :id);

-- name: privacy_anonymise_notifications
UPDATE notifications SET recipient_id = :marker, data = '{}', dedup_key = :marker || ':' || id
WHERE recipient_id = :id;

-- name: privacy_anonymise_deliveries
-- Kept for counts: who and what are gone; a routing reason (opted out, quiet hours...)
-- stays, a provider's (bounce text) may quote the address and goes.
UPDATE deliveries
SET recipient_id = :marker, addresses = '[]', subject = NULL, html = NULL, text = NULL,
    title = NULL, body = NULL, sms = NULL, data = '{}', error = NULL, history = '[]',
    reason = CASE WHEN status IN ('skipped', 'suppressed', 'deferred') THEN reason END
WHERE recipient_id = :id;

-- name: privacy_delete_idempotency_keys
DELETE FROM idempotency_keys WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: privacy_delete_schedules
DELETE FROM schedules WHERE id IN (SELECT value FROM json_each(:ids));

-- name: privacy_update_run
UPDATE runs
SET payload = :payload, result = :result, error = :error, idempotency_key = :idempotency_key,
    concurrency_key = :concurrency_key, rate_key = :rate_key, tags = :tags
WHERE id = :id;

-- name: privacy_update_step
UPDATE steps SET result = :result, error = :error WHERE run_id = :run_id AND name = :name;

-- name: privacy_update_log
UPDATE run_logs SET message = :message WHERE run_id = :run_id AND at = :at AND message = :old;

-- name: privacy_update_event
UPDATE events SET data = :data WHERE id = :id;

-- name: privacy_update_scheduled_event
UPDATE scheduled_events SET data = :data WHERE id = :id;

-- name: privacy_update_event_wait
UPDATE event_waits SET match_key = :match_key WHERE run_id = :run_id AND step = :step;

-- name: privacy_update_cancel_key
UPDATE run_cancel_keys SET key = :key
WHERE event_name = :event_name AND task_id = :task_id AND key = :old AND run_id = :run_id;

-- name: privacy_update_wait_token
UPDATE wait_tokens SET name = :name, data = :data, completed_by = :completed_by
WHERE id = :id;

-- name: privacy_update_flow_gate
UPDATE flow_gates SET key = :key WHERE task_id = :task_id AND key = :old;

-- name: privacy_update_digest
UPDATE digests SET key = :key WHERE id = :id;

-- name: privacy_update_digest_item
UPDATE digest_items SET item = :item WHERE source = :source;

-- name: privacy_insert_erasure
INSERT INTO erasures (id, erased_at, actor, counts) VALUES (:id, :now, :actor, :counts);

-- name: privacy_mark_erased
INSERT INTO erased_recipients (digest, erasure_id, erased_at) VALUES (:digest, :id, :now)
ON CONFLICT (digest) DO UPDATE
SET erasure_id = excluded.erasure_id, erased_at = excluded.erased_at;

-- name: privacy_erased
SELECT erasure_id FROM erased_recipients WHERE digest = :digest;

-- name: privacy_erasure
SELECT * FROM erasures WHERE id = :id;

-- name: privacy_erasures
SELECT * FROM erasures ORDER BY erased_at DESC, id DESC LIMIT :limit;
