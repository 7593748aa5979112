-- Events: recording, fan-out, waits and cancel-on; delayed events.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: insert_event
INSERT INTO events (id, name, data, ts, received_at)
VALUES (:id, :name, :data, :ts, :now)
ON CONFLICT (id) DO NOTHING;

-- name: get_event
SELECT * FROM events WHERE id = :id;

-- name: set_event_runs
UPDATE events SET run_ids = :run_ids WHERE id = :id;

-- name: recent_events
SELECT * FROM events WHERE name = :name AND received_at >= :since ORDER BY received_at, id;

-- name: wait_shapes
SELECT match_paths FROM event_wait_shapes WHERE event_name = :name;

-- name: insert_wait_shape
INSERT INTO event_wait_shapes (event_name, match_paths) VALUES (:name, :paths)
ON CONFLICT DO NOTHING;

-- name: insert_wait
INSERT INTO event_waits (run_id, step, event_name, match_paths, match_key, since)
VALUES (:run_id, :step, :name, :paths, :key, :since)
ON CONFLICT (run_id, step) DO NOTHING;

-- name: find_waits
SELECT run_id, step, since FROM event_waits
WHERE event_name = :name AND match_paths = :paths AND match_key = :key;

-- name: complete_wait_step
UPDATE steps SET status = 'completed', result = :result, finished_at = :now
WHERE run_id = :run_id AND name = :step AND status = 'waiting';

-- name: wake_waiting_run
UPDATE runs SET status = 'QUEUED', due_at = :now
WHERE id = :run_id AND status = 'WAITING';

-- name: completed_steps_among
SELECT name FROM steps
WHERE run_id = :run_id AND status = 'completed'
  AND name IN (SELECT value FROM json_each(:names));

-- name: find_cancel_keys
SELECT run_id FROM run_cancel_keys
WHERE event_name = :event_name AND task_id = :task_id AND key = :key;

-- name: insert_event_resume
-- the dashboard's event log shows the waits each event resumed (migration 0010)
INSERT INTO event_resumes (event_id, run_id, step, at)
VALUES (:event_id, :run_id, :step, :now)
ON CONFLICT DO NOTHING;

-- name: insert_scheduled_event
-- an id already delivered (in events) or already scheduled is not accepted again
INSERT INTO scheduled_events (id, name, data, ts, deliver_at, created_at)
SELECT :id, :name, :data, :ts, :deliver_at, :now
WHERE NOT EXISTS (SELECT 1 FROM events WHERE id = :id)
ON CONFLICT (id) DO NOTHING;

-- name: get_scheduled_event
SELECT * FROM scheduled_events WHERE id = :id;

-- name: due_scheduled_events
SELECT * FROM scheduled_events WHERE deliver_at <= :now
ORDER BY deliver_at, id LIMIT :limit;

-- name: next_scheduled_event
SELECT MIN(deliver_at) AS due FROM scheduled_events;

-- name: take_scheduled_event
DELETE FROM scheduled_events WHERE id = :id;
