-- Events: recording, fan-out, waits and cancel-on; delayed events.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: insert_event
INSERT INTO events (id, name, data, ts, received_at)
VALUES (%(id)s, %(name)s, %(data)s, %(ts)s::timestamptz, %(now)s::timestamptz)
ON CONFLICT (id) DO NOTHING;

-- name: get_event
SELECT * FROM events WHERE id = %(id)s;

-- name: set_event_runs
UPDATE events SET run_ids = %(run_ids)s WHERE id = %(id)s;

-- name: recent_events
SELECT * FROM events WHERE name = %(name)s AND received_at >= %(since)s::timestamptz ORDER BY received_at, id;

-- name: wait_shapes
SELECT match_paths FROM event_wait_shapes WHERE event_name = %(name)s;

-- name: insert_wait_shape
INSERT INTO event_wait_shapes (event_name, match_paths) VALUES (%(name)s, %(paths)s)
ON CONFLICT DO NOTHING;

-- name: insert_wait
INSERT INTO event_waits (run_id, step, event_name, match_paths, match_key, since)
VALUES (%(run_id)s, %(step)s, %(name)s, %(paths)s, %(key)s, %(since)s::timestamptz)
ON CONFLICT (run_id, step) DO NOTHING;

-- name: find_waits
SELECT run_id, step, since FROM event_waits
WHERE event_name = %(name)s AND match_paths = %(paths)s AND match_key = %(key)s;

-- name: complete_wait_step
UPDATE steps SET status = 'completed', result = %(result)s, finished_at = %(now)s::timestamptz
WHERE run_id = %(run_id)s AND name = %(step)s AND status = 'waiting';

-- name: wake_waiting_run
UPDATE runs SET status = 'QUEUED', due_at = %(now)s::timestamptz
WHERE id = %(run_id)s AND status = 'WAITING';

-- name: completed_steps_among
SELECT name FROM steps
WHERE run_id = %(run_id)s AND status = 'completed'
  AND name IN (SELECT unnest(%(names)s::text[]));

-- name: find_cancel_keys
SELECT run_id FROM run_cancel_keys
WHERE event_name = %(event_name)s AND task_id = %(task_id)s AND key = %(key)s;

-- name: insert_event_resume
-- the dashboard's event log shows the waits each event resumed (migration 0010)
INSERT INTO event_resumes (event_id, run_id, step, at)
VALUES (%(event_id)s, %(run_id)s, %(step)s, %(now)s)
ON CONFLICT DO NOTHING;

-- name: insert_scheduled_event
-- an id already delivered (in events) or already scheduled is not accepted again
INSERT INTO scheduled_events (id, name, data, ts, deliver_at, created_at)
SELECT %(id)s::text, %(name)s::text, %(data)s::text, %(ts)s::timestamptz,
       %(deliver_at)s::timestamptz, %(now)s::timestamptz
WHERE NOT EXISTS (SELECT 1 FROM events WHERE id = %(id)s)
ON CONFLICT (id) DO NOTHING;

-- name: get_scheduled_event
SELECT * FROM scheduled_events WHERE id = %(id)s;

-- name: due_scheduled_events
SELECT * FROM scheduled_events WHERE deliver_at <= %(now)s
ORDER BY deliver_at, id LIMIT %(limit)s;

-- name: next_scheduled_event
SELECT MIN(deliver_at) AS due FROM scheduled_events;

-- name: take_scheduled_event
DELETE FROM scheduled_events WHERE id = %(id)s;
