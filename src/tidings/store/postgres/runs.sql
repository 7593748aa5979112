-- Runs: creating, reading, claiming and fenced writes.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- The plain claim (no flow-limited tasks), in two variants so neither carries an
-- "all queues or these queues" OR-branch. The store sends these unprepared: a prepared
-- statement turns generic after five executions, and PostgreSQL's generic plan for
-- "due_at <= $n ORDER BY priority, due_at LIMIT $m" sorts every due row to take a
-- few (O(backlog) per claim). With the values in hand the planner walks runs_claim in
-- order and stops after LIMIT rows.
--
-- SKIP LOCKED: concurrent claimers take disjoint batches instead of queueing on the
-- same rows; a row another claimer just took fails the re-checked due_at and is skipped.
-- "fresh": the run was never started, so it has no steps to load (a replay may start
-- with steps copied from its source run: replay from a step).

-- name: claim_due
-- timer_due_at: the due time of the timer this claim fires (migration 0022): a waiting
-- run's wake time (a sleep's end, a wait's timeout), or a queued run's start set in
-- advance (due_at = run_at: a delay, run_at, a retry, a cron tick). NULL for a run
-- triggered to start at once, made due by an event or a release, or taken over.
UPDATE runs
SET status = 'RUNNING', worker_id = %(worker_id)s, lease_token = %(token)s,
    due_at = %(lease_until)s, started_at = COALESCE(runs.started_at, %(now)s),
    reclaims = runs.reclaims + (runs.status = 'RUNNING')::int,
    timer_due_at = CASE WHEN (runs.status = 'WAITING' OR (runs.status = 'QUEUED' AND runs.due_at = runs.run_at
                             AND (runs.due_at > runs.created_at
                                  OR substr(runs.idempotency_key, 1, 9) = 'schedule-')))
                        THEN runs.due_at END
FROM (
    SELECT id, started_at IS NULL AND replay_of IS NULL AS fresh FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= %(now)s
    ORDER BY priority DESC, due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS picked
WHERE runs.id = picked.id
RETURNING runs.id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, timer_due_at, picked.fresh;

-- name: claim_due_in_queues
UPDATE runs
SET status = 'RUNNING', worker_id = %(worker_id)s, lease_token = %(token)s,
    due_at = %(lease_until)s, started_at = COALESCE(runs.started_at, %(now)s),
    reclaims = runs.reclaims + (runs.status = 'RUNNING')::int,
    timer_due_at = CASE WHEN (runs.status = 'WAITING' OR (runs.status = 'QUEUED' AND runs.due_at = runs.run_at
                             AND (runs.due_at > runs.created_at
                                  OR substr(runs.idempotency_key, 1, 9) = 'schedule-')))
                        THEN runs.due_at END
FROM (
    SELECT id, started_at IS NULL AND replay_of IS NULL AS fresh FROM runs
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at <= %(now)s
      AND queue = ANY(%(queues)s::text[])
    ORDER BY priority DESC, due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS picked
WHERE runs.id = picked.id
RETURNING runs.id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, timer_due_at, picked.fresh;

-- name: set_traceparent
UPDATE runs SET traceparent = %(traceparent)s WHERE id = %(id)s;

-- name: get_traceparent
SELECT traceparent FROM runs WHERE id = %(id)s;

-- name: find_idempotent
-- find_idempotent and upsert_idempotent keep the query names of the SQLite store;
-- insert_run uses reserve_idempotent here, since writers are not serialised.
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

-- name: reschedule_run
-- a delayed run that has not started yet moves to another time (never a retry or a waiter)
UPDATE runs SET run_at = %(run_at)s, due_at = %(run_at)s
WHERE id = %(id)s AND status = 'QUEUED' AND started_at IS NULL AND due_at > %(now)s;

-- name: get_logs
SELECT * FROM run_logs WHERE run_id = %(run_id)s ORDER BY id;

-- name: insert_log
INSERT INTO run_logs (run_id, at, level, message, attempt)
VALUES (%(run_id)s, %(at)s, %(level)s, %(message)s, %(attempt)s);

-- name: steps_of_runs
SELECT * FROM steps WHERE run_id = ANY(%(run_ids)s::text[]) ORDER BY seq;

-- name: next_due
-- MIN(due_at) written as an ordered LIMIT 1, which walks runs_due and stops at the first
-- row even where the statistics lag (claim connections forbid the sort; see database.py)
SELECT due_at AS due FROM runs
WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at IS NOT NULL
  AND (%(queues)s::text[] IS NULL OR queue = ANY(%(queues)s::text[]))
ORDER BY due_at
LIMIT 1;

-- name: renew_leases
-- only the runs the worker is executing: one whose attempt ended without a word (its
-- last write failed) must be left to expire and be reclaimed. Never shortens a lease (a
-- renewal that waited on a lock may land after a newer claim by the same worker).
-- Never waits on a row lock either: a row that a write holds (this worker's own group
-- commit on its other connection, a cancel, an erasure) is skipped this round and
-- reported as busy, not renewed; waiting would deadlock with a transaction that locks
-- the same rows in another order, and an aborted renewal lets every lease lapse.
WITH ours AS (
    SELECT id FROM runs
    WHERE status = 'RUNNING' AND worker_id = %(worker_id)s AND id = ANY(%(run_ids)s::text[])
),
free AS (
    SELECT id FROM runs
    WHERE id IN (SELECT id FROM ours) AND status = 'RUNNING' AND worker_id = %(worker_id)s
    FOR UPDATE SKIP LOCKED
),
renewed AS (
    UPDATE runs SET due_at = GREATEST(runs.due_at, %(lease_until)s)
    FROM free WHERE runs.id = free.id
    RETURNING runs.id
)
SELECT ours.id, renewed.id IS NOT NULL AS renewed
FROM ours LEFT JOIN renewed ON renewed.id = ours.id;

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

-- name: delete_wait
DELETE FROM event_waits WHERE run_id = %(run_id)s AND step = %(step)s;

-- name: delete_run_waits
DELETE FROM event_waits WHERE run_id = %(run_id)s;

-- name: insert_cancel_key
INSERT INTO run_cancel_keys (event_name, task_id, key, run_id)
VALUES (%(event_name)s, %(task_id)s, %(key)s, %(run_id)s)
ON CONFLICT DO NOTHING;

-- name: delete_run_cancel_keys
DELETE FROM run_cancel_keys WHERE run_id = %(run_id)s;

-- name: run_parent
SELECT parent_run_id, status, result, error FROM runs WHERE id = %(id)s;

-- name: set_flow_keys
UPDATE runs SET concurrency_key = %(concurrency_key)s::text, rate_key = %(rate_key)s::text
WHERE id = %(id)s;

-- name: lock_flow
-- Serialises the claims of limited runs across workers. Sent in one pipeline with
-- claim_runs_flow, which therefore starts (and takes its snapshot) only once the lock
-- is held: it sees every slot and start that earlier claimers committed.
SELECT pg_advisory_xact_lock(%(key)s);

-- name: claim_runs_flow
-- As in the SQLite store (see there): unlimited runs picked as by claim_due (claim.sql);
-- every due or parked run of a limited task claimed, parked (QUEUED, due_at NULL) or
-- queued again for when its rate window allows. Only correct after lock_flow. Sent
-- unprepared, as claim_due is: a custom plan folds the queues branch away.
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
    reclaims = reclaims + (d.action = 'claim' AND runs.status = 'RUNNING')::int,
    timer_due_at = CASE WHEN d.action = 'claim' AND (runs.status = 'WAITING' OR (runs.status = 'QUEUED' AND runs.due_at = runs.run_at
                             AND (runs.due_at > runs.created_at
                                  OR substr(runs.idempotency_key, 1, 9) = 'schedule-')))
                        THEN runs.due_at END
FROM decided d
WHERE runs.id = d.id
RETURNING runs.id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, timer_due_at, runs.status;

-- name: list_runs_page
-- newest first; the cursor is the (created_at, id) of the last run of the previous page
SELECT * FROM runs
WHERE (%(task_id)s::text IS NULL OR task_id = %(task_id)s)
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(before_created)s::timestamptz IS NULL OR created_at < %(before_created)s
       OR (created_at = %(before_created)s AND id < %(before_id)s))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: queue_stats
-- runs due now and not yet claimed, and the due time of the oldest of them
SELECT COUNT(*) AS depth, MIN(due_at) AS oldest FROM runs
WHERE status = 'QUEUED' AND due_at <= %(now)s;

-- A trigger as ONE statement, sent on an autocommit connection: one round trip where
-- BEGIN, INSERT, COMMIT took three (PostgresRuns.create). A run with cancel-on keys
-- takes the several-statement path (insert_run, insert_cancel_key) in a transaction.

-- name: insert_run_now
INSERT INTO runs (id, task_id, queue, priority, status, payload, created_at, run_at,
                  due_at, idempotency_key, tags, replay_of, parent_run_id,
                  concurrency_key, rate_key, traceparent)
VALUES (%(id)s, %(task_id)s, %(queue)s, %(priority)s, 'QUEUED', %(payload)s, %(now)s,
        %(run_at)s, %(run_at)s, NULL, %(tags)s, %(replay_of)s::text,
        %(parent_run_id)s::text, %(concurrency_key)s::text, %(rate_key)s::text,
        %(traceparent)s::text);

-- name: insert_run_keyed
-- reserve_idempotent and insert_run in one statement: the run is inserted only if the
-- key is now ours (new, or expired and taken over); either way the holder is returned.
-- A concurrent trigger of the same key waits on the key's row lock, then keeps the
-- committed winner.
WITH key AS (
    INSERT INTO idempotency_keys AS k (task_id, key, run_id, expires_at)
    VALUES (%(task_id)s, %(idempotency_key)s, %(id)s, %(expires_at)s)
    ON CONFLICT (task_id, key) DO UPDATE
    SET run_id = CASE WHEN k.expires_at > %(now)s THEN k.run_id ELSE excluded.run_id END,
        expires_at = CASE WHEN k.expires_at > %(now)s THEN k.expires_at
                          ELSE excluded.expires_at END
    RETURNING run_id
),
created AS (
    INSERT INTO runs (id, task_id, queue, priority, status, payload, created_at, run_at,
                      due_at, idempotency_key, tags, replay_of, parent_run_id,
                      concurrency_key, rate_key, traceparent)
    SELECT %(id)s::text, %(task_id)s::text, %(queue)s::text, %(priority)s::int, 'QUEUED',
           %(payload)s::text, %(now)s::timestamptz, %(run_at)s::timestamptz,
           %(run_at)s::timestamptz, %(idempotency_key)s::text, %(tags)s::text,
           %(replay_of)s::text, %(parent_run_id)s::text, %(concurrency_key)s::text,
           %(rate_key)s::text, %(traceparent)s::text
    FROM key WHERE key.run_id = %(id)s::text
)
SELECT run_id FROM key;

-- Debounce, batch and singleton (migration 0016; store/db/gates.py).

-- name: lock_gate
-- Takes the key's gate row lock (held to commit: triggers of one key take turns across
-- processes) and says which run it points at; a new gate points at the trigger's run.
INSERT INTO flow_gates AS g (task_id, key, run_id) VALUES (%(task_id)s, %(key)s, %(run_id)s)
ON CONFLICT (task_id, key) DO UPDATE SET run_id = g.run_id
RETURNING run_id;

-- name: set_gate
UPDATE flow_gates SET run_id = %(run_id)s WHERE task_id = %(task_id)s AND key = %(key)s;

-- name: lock_gated_run
-- The run a gate points at, locked: a claim skips it until the trigger commits, and a
-- change committed meanwhile (a claim, a finish) is what this returns after waiting.
SELECT id, payload, created_at, run_at, coalesced, status, started_at FROM runs
WHERE id = %(id)s FOR UPDATE;

-- name: lock_gates_many
-- The gates of many triggers at once (store/db/gates.py Gates.prefetch), locked in one
-- order, so two transactions that share keys cannot deadlock.
INSERT INTO flow_gates AS g (task_id, key, run_id)
SELECT t, k, r
FROM unnest(%(task_ids)s::text[], %(keys)s::text[], %(run_ids)s::text[]) AS u (t, k, r)
ORDER BY t, k
ON CONFLICT (task_id, key) DO UPDATE SET run_id = g.run_id
RETURNING task_id, key, run_id;

-- name: lock_runs_many
SELECT id, payload, created_at, run_at, coalesced, status, started_at FROM runs
WHERE id = ANY(%(ids)s::text[]) ORDER BY id FOR UPDATE;

-- name: join_run
-- a trigger joins the run; a parent in trigger_and_wait is told when it finishes
UPDATE runs
SET payload = %(payload)s, run_at = %(run_at)s, due_at = %(run_at)s,
    coalesced = %(coalesced)s,
    parent_run_id = COALESCE(parent_run_id, %(parent_run_id)s::text)
WHERE id = %(id)s;

-- name: adopt_parent
UPDATE runs SET parent_run_id = COALESCE(parent_run_id, %(parent_run_id)s::text)
WHERE id = %(id)s;

-- name: start_sources
UPDATE runs SET coalesced = 1 WHERE id = %(id)s;

-- name: add_run_source
INSERT INTO run_sources (run_id, seq, source_id, at)
VALUES (%(run_id)s, %(seq)s, %(source_id)s, %(at)s);

-- name: run_sources
SELECT source_id FROM run_sources WHERE run_id = %(run_id)s ORDER BY seq;

-- name: wake_workers
-- a batch filled: its run is due now, and runs_wake fires only on a status change
SELECT pg_notify(current_schema() || '_wake', '');

-- name: repoint_idempotent
UPDATE idempotency_keys SET run_id = %(run_id)s WHERE task_id = %(task_id)s AND key = %(key)s;

-- name: release_idempotent
DELETE FROM idempotency_keys
WHERE task_id = %(task_id)s AND key = %(key)s AND run_id = %(run_id)s;
