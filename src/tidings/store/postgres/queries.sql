-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: find_idempotent
-- find_idempotent and upsert_idempotent keep the query names of the SQLite store;
-- create_run uses reserve_idempotent here, since writers are not serialised.
SELECT run_id FROM idempotency_keys
WHERE task_id = %(task_id)s AND key = %(key)s AND expires_at > %(now)s;

-- name: upsert_idempotent
INSERT INTO idempotency_keys (task_id, key, run_id, expires_at)
VALUES (%(task_id)s, %(key)s, %(run_id)s, %(expires_at)s)
ON CONFLICT (task_id, key) DO UPDATE
SET run_id = excluded.run_id, expires_at = excluded.expires_at;

-- name: reserve_idempotent
-- One statement that both takes the key and tells who holds it: a concurrent trigger
-- of the same key waits on the row lock, then sees the committed winner and keeps it.
-- An expired key is taken over.
INSERT INTO idempotency_keys AS k (task_id, key, run_id, expires_at)
VALUES (%(task_id)s, %(key)s, %(run_id)s, %(expires_at)s)
ON CONFLICT (task_id, key) DO UPDATE
SET run_id = CASE WHEN k.expires_at > %(now)s THEN k.run_id ELSE excluded.run_id END,
    expires_at = CASE WHEN k.expires_at > %(now)s THEN k.expires_at
                      ELSE excluded.expires_at END
RETURNING run_id;

-- name: insert_run
INSERT INTO runs (id, task_id, queue, priority, status, payload, created_at, run_at,
                  due_at, idempotency_key, tags, replay_of, parent_run_id)
VALUES (%(id)s, %(task_id)s, %(queue)s, %(priority)s, 'QUEUED', %(payload)s, %(now)s,
        %(run_at)s, %(run_at)s, %(idempotency_key)s, %(tags)s, %(replay_of)s, %(parent_run_id)s);

-- name: get_run
SELECT * FROM runs WHERE id = %(id)s;

-- name: get_steps
SELECT * FROM steps WHERE run_id = %(run_id)s ORDER BY seq;

-- name: list_runs
SELECT * FROM runs
WHERE (%(task_id)s::text IS NULL OR task_id = %(task_id)s::text)
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: count_runs
SELECT status, COUNT(*) AS n FROM runs GROUP BY status;

-- name: cancel_run
UPDATE runs
SET status = 'CANCELLED', finished_at = %(now)s, due_at = NULL,
    worker_id = NULL, lease_token = NULL
WHERE id = %(id)s AND status IN ('QUEUED', 'WAITING', 'RUNNING');

-- name: run_status
SELECT status FROM runs WHERE id = %(id)s;

-- name: get_logs
SELECT * FROM run_logs WHERE run_id = %(run_id)s ORDER BY id;

-- name: insert_log
INSERT INTO run_logs (run_id, at, level, message, attempt)
VALUES (%(run_id)s, %(at)s, %(level)s, %(message)s, %(attempt)s);

-- name: claim_runs
-- SKIP LOCKED: concurrent claimers take disjoint batches instead of queueing on the
-- same rows; a row another claimer just took fails the re-checked due_at and is skipped.
UPDATE runs
SET status = 'RUNNING', worker_id = %(worker_id)s, lease_token = %(token)s,
    due_at = %(lease_until)s, started_at = COALESCE(started_at, %(now)s),
    reclaims = reclaims + (status = 'RUNNING')::int
WHERE id IN (
    SELECT id FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= %(now)s
      AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
    ORDER BY priority DESC, due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at, parent_run_id;

-- name: steps_of_runs
SELECT * FROM steps WHERE run_id = ANY(%(run_ids)s::text[]) ORDER BY seq;

-- name: next_due
SELECT MIN(due_at) AS due FROM runs
WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
  AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]));

-- name: renew_leases
-- only the runs the worker is executing: one whose attempt ended without a word (its
-- last write failed) must be left to expire and be reclaimed
UPDATE runs SET due_at = %(lease_until)s
WHERE status = 'RUNNING' AND worker_id = %(worker_id)s AND id = ANY(%(run_ids)s::text[])
RETURNING id;

-- name: check_lease
-- a read, not an update: the heartbeat keeps the lease alive
SELECT 1 AS held FROM runs
WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'RUNNING';

-- name: upsert_step
INSERT INTO steps (run_id, name, seq, kind, status, attempts, result, error,
                   started_at, finished_at, wake_at)
VALUES (%(run_id)s, %(name)s,
        (SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id = %(run_id)s),
        %(kind)s, %(status)s, %(attempts)s, %(result)s, %(error)s,
        %(started_at)s::timestamptz, %(finished_at)s::timestamptz, %(wake_at)s::timestamptz)
ON CONFLICT (run_id, name) DO UPDATE
SET kind = excluded.kind, status = excluded.status, attempts = excluded.attempts,
    result = excluded.result, error = excluded.error,
    started_at = COALESCE(steps.started_at, excluded.started_at),
    finished_at = excluded.finished_at, wake_at = excluded.wake_at
-- a completed step is final (an event may have completed a wait meanwhile)
WHERE steps.status <> 'completed';

-- name: finish_attempt
UPDATE runs
SET status = %(status)s::text, due_at = %(due_at)s::timestamptz, result = %(result)s,
    error = %(error)s,
    run_at = CASE WHEN %(status)s::text = 'QUEUED' THEN %(due_at)s::timestamptz
                  ELSE run_at END,
    attempt = COALESCE(%(attempt)s::int, attempt),
    body_attempts = COALESCE(%(body_attempts)s::int, body_attempts),
    finished_at = %(finished_at)s::timestamptz, worker_id = NULL, lease_token = NULL,
    reclaims = 0
WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'RUNNING';

-- name: release
UPDATE runs
SET status = 'QUEUED', due_at = %(now)s, worker_id = NULL, lease_token = NULL
WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'RUNNING';

-- name: savepoint
-- savepoints isolate each write of a group commit (write_batch)
SAVEPOINT tidings_op;

-- name: rollback_to_savepoint
ROLLBACK TO SAVEPOINT tidings_op;

-- name: release_savepoint
RELEASE SAVEPOINT tidings_op;


-- ---- events, waits, cancel-on, child runs (migration 0002) --------------------------

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

-- name: delete_wait
DELETE FROM event_waits WHERE run_id = %(run_id)s AND step = %(step)s;

-- name: delete_run_waits
DELETE FROM event_waits WHERE run_id = %(run_id)s;

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

-- name: insert_cancel_key
INSERT INTO run_cancel_keys (event_name, task_id, key, run_id)
VALUES (%(event_name)s, %(task_id)s, %(key)s, %(run_id)s)
ON CONFLICT DO NOTHING;

-- name: find_cancel_keys
SELECT run_id FROM run_cancel_keys
WHERE event_name = %(event_name)s AND task_id = %(task_id)s AND key = %(key)s;

-- name: delete_run_cancel_keys
DELETE FROM run_cancel_keys WHERE run_id = %(run_id)s;

-- name: run_parent
SELECT parent_run_id, status, result, error FROM runs WHERE id = %(id)s;

-- ===== schedules (cron; store/sqlschedules.py, engine/scheduler.py) =====

-- name: upsert_schedule_by_id
-- Same cron and timezone: the schedule keeps its next tick (a restart must not skip
-- or repeat one); a new cron or timezone starts from the next tick after now.
INSERT INTO schedules AS s (id, task_id, kind, cron, timezone, key, payload, catch_up,
                            next_run_at, last_run_at, created_at, updated_at)
VALUES (%(id)s, %(task_id)s, %(kind)s, %(cron)s, %(timezone)s, %(key)s::text, %(payload)s,
        %(catch_up)s, %(next_run_at)s, NULL, %(now)s, %(now)s)
ON CONFLICT (id) DO UPDATE
SET task_id = excluded.task_id, kind = excluded.kind, payload = excluded.payload,
    catch_up = excluded.catch_up, updated_at = excluded.updated_at,
    next_run_at = CASE WHEN s.cron = excluded.cron AND s.timezone = excluded.timezone
                       THEN s.next_run_at ELSE excluded.next_run_at END,
    cron = excluded.cron, timezone = excluded.timezone
RETURNING *;

-- name: upsert_schedule_by_key
INSERT INTO schedules AS s (id, task_id, kind, cron, timezone, key, payload, catch_up,
                            next_run_at, last_run_at, created_at, updated_at)
VALUES (%(id)s, %(task_id)s, %(kind)s, %(cron)s, %(timezone)s, %(key)s::text, %(payload)s,
        %(catch_up)s, %(next_run_at)s, NULL, %(now)s, %(now)s)
ON CONFLICT (key) WHERE key IS NOT NULL DO UPDATE
SET task_id = excluded.task_id, kind = excluded.kind, payload = excluded.payload,
    catch_up = excluded.catch_up, updated_at = excluded.updated_at,
    next_run_at = CASE WHEN s.cron = excluded.cron AND s.timezone = excluded.timezone
                       THEN s.next_run_at ELSE excluded.next_run_at END,
    cron = excluded.cron, timezone = excluded.timezone
RETURNING *;

-- name: delete_schedule
DELETE FROM schedules WHERE id = %(ref)s OR key = %(ref)s RETURNING id;

-- name: prune_static_schedules
DELETE FROM schedules WHERE kind = 'static' AND NOT (task_id = ANY(%(keep)s::text[]));

-- name: list_schedules
SELECT * FROM schedules ORDER BY next_run_at, id;

-- name: due_schedules
SELECT * FROM schedules
WHERE paused = FALSE AND next_run_at <= %(now)s AND task_id = ANY(%(task_ids)s::text[])
ORDER BY next_run_at
LIMIT %(limit)s;

-- name: next_schedule_due
SELECT MIN(next_run_at) AS due FROM schedules
WHERE paused = FALSE AND task_id = ANY(%(task_ids)s::text[]);

-- name: advance_schedule
-- compare-and-set: a concurrent scheduler blocks on the row lock, then re-reads the
-- row (READ COMMITTED) and matches nothing, so each tick fires once
UPDATE schedules
SET next_run_at = %(next_run_at)s, last_run_at = %(last_run_at)s::timestamptz,
    updated_at = %(now)s
WHERE id = %(id)s AND next_run_at = %(due)s;


-- ---- flow control: concurrency and rate limits (migration 0004) ----------------------

-- name: set_flow_keys
UPDATE runs SET concurrency_key = %(concurrency_key)s::text, rate_key = %(rate_key)s::text
WHERE id = %(id)s;

-- name: lock_flow
-- Serialises the claims of limited runs across workers. Sent in one pipeline with
-- claim_runs_flow, which therefore starts (and takes its snapshot) only once the lock
-- is held: it sees every slot and start that earlier claimers committed.
SELECT pg_advisory_xact_lock(%(key)s);

-- name: claim_runs_flow
-- As in the SQLite store (see there): unlimited runs picked as by claim_runs; every due
-- or parked run of a limited task claimed, parked (QUEUED, due_at NULL) or queued again
-- for when its rate window allows. Only correct after lock_flow.
WITH flow AS (
    SELECT f.task AS task_id, f.concurrency AS conc, f.rate,
           f.period_us * interval '1 microsecond' AS period
    FROM jsonb_to_recordset(%(flow)s::jsonb)
        AS f(task text, concurrency int, rate int, period_us bigint)
),
free AS (
    SELECT id, priority, due_at AS due FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= %(now)s
      AND concurrency_key IS NULL AND rate_key IS NULL
      AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
    ORDER BY priority DESC, due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
cand AS (
    SELECT r.id, r.task_id, r.priority, COALESCE(r.due_at, r.run_at) AS due, r.due_at,
           r.concurrency_key AS ck, r.rate_key AS rk, f.conc, f.rate, f.period,
           (r.status <> 'RUNNING' AND f.conc IS NOT NULL
            AND r.concurrency_key IS NOT NULL) AS needs_slot,
           (r.started_at IS NULL AND f.rate IS NOT NULL AND r.rate_key IS NOT NULL)
               AS needs_start
    FROM flow f JOIN runs r ON r.task_id = f.task_id
    WHERE r.status IN ('QUEUED', 'WAITING', 'RUNNING')
      AND (r.concurrency_key IS NOT NULL OR r.rate_key IS NOT NULL)
      AND (r.due_at <= %(now)s OR (r.due_at IS NULL AND r.status = 'QUEUED'))
      AND (%(queues)s::text[] IS NULL OR r.queue = ANY(%(queues)s::text[]))
    FOR UPDATE OF r SKIP LOCKED
),
slots AS (
    SELECT g.task_id, g.ck,
           g.conc - (SELECT COUNT(*) FROM runs s
                     WHERE s.task_id = g.task_id AND s.concurrency_key = g.ck
                       AND s.status = 'RUNNING'
                       AND (s.concurrency_key IS NOT NULL OR s.rate_key IS NOT NULL))
               AS free_slots
    FROM (SELECT DISTINCT task_id, ck, conc FROM cand WHERE needs_slot) g
),
windows AS (
    SELECT g.task_id, g.rk, g.rate, g.period,
           g.rate - (SELECT COUNT(*) FROM runs s
                     WHERE s.task_id = g.task_id AND s.rate_key = g.rk
                       AND s.rate_key IS NOT NULL AND s.started_at > %(now)s - g.period)
               AS room,
           (SELECT MIN(s.started_at) FROM runs s
            WHERE s.task_id = g.task_id AND s.rate_key = g.rk
              AND s.rate_key IS NOT NULL AND s.started_at > %(now)s - g.period) AS oldest
    FROM (SELECT DISTINCT task_id, rk, rate, period FROM cand WHERE needs_start) g
),
ranked AS (
    SELECT c.*,
           SUM(c.needs_slot::int) OVER (PARTITION BY c.task_id, c.ck
                                        ORDER BY c.priority DESC, c.due, c.id
                                        ROWS UNBOUNDED PRECEDING) AS slot_rank,
           SUM(c.needs_start::int) OVER (PARTITION BY c.task_id, c.rk
                                         ORDER BY c.priority DESC, c.due, c.id
                                         ROWS UNBOUNDED PRECEDING) AS start_rank
    FROM cand c
),
judged AS (
    SELECT k.id, k.priority, k.due, k.due_at,
           CASE
               WHEN k.needs_start AND k.start_rank > w.room THEN 'delay'
               WHEN k.needs_slot AND k.slot_rank > s.free_slots THEN 'park'
               ELSE 'claim'
           END AS action,
           COALESCE(w.oldest, %(now)s)
               + w.period * ((k.start_rank - w.room - 1) / w.rate + 1) AS delay_to
    FROM ranked k
    LEFT JOIN slots s ON k.needs_slot AND s.task_id = k.task_id AND s.ck = k.ck
    LEFT JOIN windows w ON k.needs_start AND w.task_id = k.task_id AND w.rk = k.rk
),
picked AS (
    SELECT id FROM (
        SELECT id, priority, due FROM free
        UNION ALL
        SELECT id, priority, due FROM judged WHERE action = 'claim'
    ) AS claimable
    ORDER BY priority DESC, due
    LIMIT %(limit)s
),
decided AS (
    SELECT id, 'claim' AS action, NULL::timestamptz AS delay_to FROM picked
    UNION ALL
    SELECT id, action, delay_to FROM judged
    WHERE action = 'delay' OR (action = 'park' AND due_at IS NOT NULL)
)
UPDATE runs
SET status = CASE d.action WHEN 'claim' THEN 'RUNNING' ELSE 'QUEUED' END,
    worker_id = CASE d.action WHEN 'claim' THEN %(worker_id)s END,
    lease_token = CASE d.action WHEN 'claim' THEN %(token)s END,
    due_at = CASE d.action WHEN 'claim' THEN %(lease_until)s::timestamptz
                           WHEN 'delay' THEN d.delay_to END,
    started_at = CASE d.action WHEN 'claim' THEN COALESCE(started_at, %(now)s)
                               ELSE started_at END,
    reclaims = reclaims + (d.action = 'claim' AND runs.status = 'RUNNING')::int
FROM decided d
WHERE runs.id = d.id
RETURNING runs.id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, runs.status;

-- name: insert_event_resume
-- the dashboard's event log shows the waits each event resumed (migration 0010)
INSERT INTO event_resumes (event_id, run_id, step, at)
VALUES (%(event_id)s, %(run_id)s, %(step)s, %(now)s)
ON CONFLICT DO NOTHING;
