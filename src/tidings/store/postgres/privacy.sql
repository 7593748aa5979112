-- Erase and export: every row naming one recipient (store/db/privacy.py).
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...); %(path)s is recipient_key's parts as a text[] for #>>.
-- A payload is parsed only if its text holds the id (%(needle)s, as JSON writes it), and
-- never if it holds an escaped NUL, which jsonb refuses (the whole erase would fail).

-- name: privacy_known
SELECT 1 AS found
WHERE EXISTS (SELECT 1 FROM recipients WHERE id = %(id)s)
   OR EXISTS (SELECT 1 FROM notifications WHERE recipient_id = %(id)s)
   OR EXISTS (SELECT 1 FROM deliveries WHERE recipient_id = %(id)s)
   OR EXISTS (SELECT 1 FROM inbox_items WHERE recipient_id = %(id)s)
   OR EXISTS (SELECT 1 FROM outbox WHERE recipient_id = %(id)s)
   OR EXISTS (SELECT 1 FROM topic_subscribers WHERE recipient_id = %(id)s)
   OR EXISTS (SELECT 1 FROM broadcast_audience WHERE recipient_id = %(id)s);

-- name: privacy_runs_by_path
SELECT id FROM runs WHERE CASE WHEN (strpos(payload, %(needle)s) > 0 OR strpos(payload, %(id)s) > 0) AND strpos(payload, '\u0000') = 0
           THEN payload::jsonb #>> %(path)s::text[] END = %(id)s;

-- name: privacy_runs_by_notifications
SELECT DISTINCT run_id AS id FROM notifications WHERE recipient_id = %(id)s AND run_id IS NOT NULL;

-- name: privacy_runs_by_deliveries
-- the runs that sent their deliveries (their steps hold the addresses)
SELECT r.id FROM deliveries d JOIN runs r ON r.idempotency_key = %(prefix)s::text || d.id
WHERE d.recipient_id = %(id)s
UNION
SELECT r.id FROM runs r
WHERE r.task_id = %(batch_task)s
  AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.payload::jsonb -> 'delivery_ids') j(v)
              JOIN deliveries d ON d.id = j.v WHERE d.recipient_id = %(id)s);

-- name: privacy_broadcast_cursor
-- A broadcast whose cursor is the recipient resumes after the audience row before it
-- (theirs is deleted), so its page order is kept without naming them.
UPDATE broadcasts
SET cursor = COALESCE((SELECT MAX(a.recipient_id) FROM broadcast_audience a
                       WHERE a.broadcast_id = broadcasts.id AND a.recipient_id < %(id)s), '')
WHERE cursor = %(id)s;

-- name: privacy_events
SELECT * FROM events WHERE CASE WHEN (strpos(data, %(needle)s) > 0 OR strpos(data, %(id)s) > 0) AND strpos(data, '\u0000') = 0
           THEN data::jsonb #>> %(path)s::text[] END = %(id)s ORDER BY received_at, id;

-- name: privacy_scheduled_events
SELECT * FROM scheduled_events WHERE CASE WHEN (strpos(data, %(needle)s) > 0 OR strpos(data, %(id)s) > 0) AND strpos(data, '\u0000') = 0
           THEN data::jsonb #>> %(path)s::text[] END = %(id)s ORDER BY deliver_at, id;

-- name: privacy_schedules
SELECT * FROM schedules WHERE CASE WHEN (strpos(payload, %(needle)s) > 0 OR strpos(payload, %(id)s) > 0) AND strpos(payload, '\u0000') = 0
           THEN payload::jsonb #>> %(path)s::text[] END = %(id)s ORDER BY created_at, id;

-- name: privacy_recipient
SELECT * FROM recipients WHERE id = %(id)s;

-- name: privacy_push_tokens
SELECT * FROM push_tokens WHERE recipient_id = %(id)s ORDER BY created_at, token;

-- name: privacy_preferences
SELECT * FROM preferences WHERE recipient_id = %(id)s ORDER BY type_id, channel;

-- name: privacy_preference_changes
SELECT * FROM preference_changes WHERE recipient_id = %(id)s ORDER BY at, id;

-- name: privacy_suppressions
SELECT * FROM suppressions
WHERE address = ANY(%(addresses)s::text[]) ORDER BY channel, address;

-- name: privacy_topics
SELECT * FROM topic_subscribers WHERE recipient_id = %(id)s ORDER BY topic;

-- name: privacy_inbox_items
SELECT * FROM inbox_items WHERE recipient_id = %(id)s ORDER BY created_at, id;

-- name: privacy_notifications
SELECT * FROM notifications WHERE recipient_id = %(id)s ORDER BY created_at, id;

-- name: privacy_deliveries
SELECT * FROM deliveries WHERE recipient_id = %(id)s ORDER BY created_at, id;

-- name: privacy_outbox
SELECT * FROM outbox WHERE recipient_id = %(id)s ORDER BY created_at, id;

-- name: privacy_broadcasts
SELECT b.* FROM broadcast_audience a JOIN broadcasts b ON b.id = a.broadcast_id
WHERE a.recipient_id = %(id)s ORDER BY b.created_at, b.id;

-- name: privacy_runs
SELECT * FROM runs WHERE id = ANY(%(ids)s::text[]) ORDER BY created_at, id;

-- name: privacy_steps
SELECT * FROM steps WHERE run_id = ANY(%(ids)s::text[]) ORDER BY run_id, seq;

-- name: privacy_run_logs
SELECT * FROM run_logs WHERE run_id = ANY(%(ids)s::text[])
ORDER BY run_id, at;

-- name: privacy_digests
SELECT * FROM digests WHERE run_id = ANY(%(ids)s::text[]) ORDER BY opened_at, id;

-- name: privacy_digest_items
SELECT * FROM digest_items
WHERE digest_id IN (SELECT id FROM digests WHERE run_id = ANY(%(ids)s::text[]))
ORDER BY digest_id, added_at, source;

-- name: privacy_event_waits
SELECT * FROM event_waits WHERE run_id = ANY(%(ids)s::text[]);

-- name: privacy_cancel_keys
SELECT * FROM run_cancel_keys WHERE run_id = ANY(%(ids)s::text[]);

-- name: privacy_flow_gates
SELECT * FROM flow_gates WHERE run_id = ANY(%(ids)s::text[]);

-- name: privacy_wait_tokens
-- the wait tokens of their runs: an answer's data names who answered
SELECT id, name, data, completed_by FROM wait_tokens WHERE run_id = ANY(%(ids)s::text[]);

-- name: privacy_token_events
-- the internal events that completed their runs' wait tokens (an answer names who gave it)
SELECT * FROM events WHERE id IN (SELECT 'token:' || id FROM wait_tokens WHERE run_id = ANY(%(ids)s::text[]));

-- name: privacy_wait_tokens_export
SELECT * FROM wait_tokens WHERE run_id = ANY(%(ids)s::text[]) ORDER BY run_id, created_at;

-- name: privacy_questions
SELECT * FROM questions WHERE recipient_id = %(id)s ORDER BY created_at, id;

-- name: privacy_delete_questions
-- their open questions are withdrawn (the links stop working; the asking run gets None
-- at its timeout); answered ones go too, their answer is in the run's redacted steps
DELETE FROM questions WHERE recipient_id = %(id)s;

-- name: privacy_delete_recipient
DELETE FROM recipients WHERE id = %(id)s;

-- name: privacy_delete_push_tokens
DELETE FROM push_tokens WHERE recipient_id = %(id)s;

-- name: privacy_delete_preferences
DELETE FROM preferences WHERE recipient_id = %(id)s;

-- name: privacy_delete_preference_changes
DELETE FROM preference_changes WHERE recipient_id = %(id)s;

-- name: privacy_delete_suppressions
DELETE FROM suppressions WHERE address = ANY(%(addresses)s::text[]);

-- name: privacy_delete_topics
DELETE FROM topic_subscribers WHERE recipient_id = %(id)s;

-- name: privacy_delete_inbox_items
DELETE FROM inbox_items WHERE recipient_id = %(id)s;

-- name: privacy_delete_inbox_changes
DELETE FROM inbox_changes WHERE recipient_id = %(id)s;

-- name: privacy_delete_inbox_sequence
DELETE FROM inbox_sequences WHERE recipient_id = %(id)s;

-- name: privacy_delete_outbox
DELETE FROM outbox WHERE recipient_id = %(id)s;

-- name: privacy_delete_audience
DELETE FROM broadcast_audience WHERE recipient_id = %(id)s;

-- name: privacy_delete_dedup
DELETE FROM notify_dedup
WHERE notification_id IN (SELECT id FROM notifications WHERE recipient_id = %(id)s);

-- name: privacy_anonymise_notifications
UPDATE notifications SET recipient_id = %(marker)s, data = '{}', dedup_key = %(marker)s::text || ':' || id
WHERE recipient_id = %(id)s;

-- name: privacy_anonymise_deliveries
-- Kept for counts: who and what are gone; a routing reason (opted out, quiet hours...)
-- stays, a provider's (bounce text) may quote the address and goes.
UPDATE deliveries
SET recipient_id = %(marker)s, addresses = '[]', subject = NULL, html = NULL, text = NULL,
    title = NULL, body = NULL, sms = NULL, data = '{}', error = NULL, history = '[]',
    reason = CASE WHEN status IN ('skipped', 'suppressed', 'deferred') THEN reason END
WHERE recipient_id = %(id)s;

-- name: privacy_delete_idempotency_keys
DELETE FROM idempotency_keys WHERE run_id = ANY(%(ids)s::text[]);

-- name: privacy_delete_schedules
DELETE FROM schedules WHERE id = ANY(%(ids)s::text[]);

-- name: privacy_update_run
UPDATE runs
SET payload = %(payload)s, result = %(result)s, error = %(error)s, idempotency_key = %(idempotency_key)s,
    concurrency_key = %(concurrency_key)s, rate_key = %(rate_key)s, tags = %(tags)s
WHERE id = %(id)s;

-- name: privacy_update_step
UPDATE steps SET result = %(result)s, error = %(error)s WHERE run_id = %(run_id)s AND name = %(name)s;

-- name: privacy_update_log
UPDATE run_logs SET message = %(message)s WHERE run_id = %(run_id)s AND at = %(at)s AND message = %(old)s;

-- name: privacy_update_event
UPDATE events SET data = %(data)s WHERE id = %(id)s;

-- name: privacy_update_scheduled_event
UPDATE scheduled_events SET data = %(data)s WHERE id = %(id)s;

-- name: privacy_update_event_wait
UPDATE event_waits SET match_key = %(match_key)s WHERE run_id = %(run_id)s AND step = %(step)s;

-- name: privacy_update_cancel_key
UPDATE run_cancel_keys SET key = %(key)s
WHERE event_name = %(event_name)s AND task_id = %(task_id)s AND key = %(old)s AND run_id = %(run_id)s;

-- name: privacy_update_wait_token
UPDATE wait_tokens SET name = %(name)s, data = %(data)s, completed_by = %(completed_by)s
WHERE id = %(id)s;

-- name: privacy_update_flow_gate
UPDATE flow_gates SET key = %(key)s WHERE task_id = %(task_id)s AND key = %(old)s;

-- name: privacy_update_digest
UPDATE digests SET key = %(key)s WHERE id = %(id)s;

-- name: privacy_update_digest_item
UPDATE digest_items SET item = %(item)s WHERE source = %(source)s;

-- name: privacy_insert_erasure
INSERT INTO erasures (id, erased_at, actor, counts) VALUES (%(id)s, %(now)s, %(actor)s, %(counts)s);

-- name: privacy_mark_erased
INSERT INTO erased_recipients (digest, erasure_id, erased_at) VALUES (%(digest)s, %(id)s, %(now)s)
ON CONFLICT (digest) DO UPDATE
SET erasure_id = excluded.erasure_id, erased_at = excluded.erased_at;

-- name: privacy_erased
SELECT erasure_id FROM erased_recipients WHERE digest = %(digest)s;

-- name: privacy_erasure
SELECT * FROM erasures WHERE id = %(id)s;

-- name: privacy_erasures
SELECT * FROM erasures ORDER BY erased_at DESC, id DESC LIMIT %(limit)s;
