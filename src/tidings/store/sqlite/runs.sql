-- Runs: creating, reading, claiming and fenced writes.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- The plain claim (no flow-limited tasks), in two variants so neither carries an
-- "all queues or these queues" OR-branch, as in the PostgreSQL store. Writers are
-- serialised (BEGIN IMMEDIATE), so no row locks are needed. SQLite's RETURNING cannot
-- see the row as it was, so "fresh" (never started: no steps to load) is always 0 here
-- and the store loads steps for every claimed run (an in-process call, nearly free).
--
-- Cost flat in the backlog. "status IN (...) AND due_at <= :now ORDER BY priority DESC,
-- due_at LIMIT n" left to the planner reads every active run through runs_status_created
-- and sorts them all to keep n (120 ms a claim at a million queued runs): SQLite keeps no
-- histogram (no STAT4 in the usual builds), so it cannot know how many rows a status
-- holds, and ANALYZE's per-value averages make a million QUEUED rows look selective as
-- soon as most runs are COMPLETED. Walking runs_claim in order is no cure on its own:
-- its order is (priority, due), so when fewer than n runs are due the walk goes on
-- through every sleeper. So the claim names its index (INDEXED BY: the plan cannot
-- drift with statistics, and a missing index is an error, not a slow claim) and takes,
-- for each priority an active run has, the first n due runs of that priority: a range
-- of runs_claim (priority = p AND due_at <= now) that stops after n rows. The
-- priorities are found by skipping through the same index (MAX(priority) below the
-- last one: one probe each), so a claim costs O(priorities x (log backlog + n)), and
-- the final sort orders at most n rows per priority.

-- name: claim_due
-- timer_due_at: the due time of the timer this claim fires (migration 0022): a waiting
-- run's wake time (a sleep's end, a wait's timeout), or a queued run's start set in
-- advance (due_at = run_at: a delay, run_at, a retry, a cron tick). NULL for a run
-- triggered to start at once, made due by an event or a release, or taken over.
WITH RECURSIVE prio(p) AS (
    SELECT MAX(priority) FROM runs INDEXED BY runs_claim
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
    UNION ALL
    SELECT (SELECT MAX(priority) FROM runs INDEXED BY runs_claim
            WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND priority < prio.p)
    FROM prio WHERE prio.p IS NOT NULL
)
UPDATE runs
SET status = 'RUNNING', worker_id = :worker_id, lease_token = :token,
    due_at = :lease_until, started_at = COALESCE(started_at, :now),
    reclaims = reclaims + (status = 'RUNNING'),
    timer_due_at = CASE WHEN (status = 'WAITING' OR (status = 'QUEUED' AND due_at = run_at
                             AND (due_at > created_at
                                  OR substr(idempotency_key, 1, 9) = 'schedule-')))
                        THEN due_at END
WHERE id IN (
    SELECT r.id FROM prio JOIN runs AS r ON r.id IN (
        SELECT id FROM runs INDEXED BY runs_claim
        WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
          AND priority = prio.p AND due_at <= :now
        ORDER BY due_at
        LIMIT :limit
    )
    ORDER BY r.priority DESC, r.due_at
    LIMIT :limit
)
RETURNING id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, timer_due_at, 0 AS fresh;

-- name: claim_due_in_queues
WITH RECURSIVE prio(p) AS (
    SELECT MAX(priority) FROM runs INDEXED BY runs_claim
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
    UNION ALL
    SELECT (SELECT MAX(priority) FROM runs INDEXED BY runs_claim
            WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND priority < prio.p)
    FROM prio WHERE prio.p IS NOT NULL
)
UPDATE runs
SET status = 'RUNNING', worker_id = :worker_id, lease_token = :token,
    due_at = :lease_until, started_at = COALESCE(started_at, :now),
    reclaims = reclaims + (status = 'RUNNING'),
    timer_due_at = CASE WHEN (status = 'WAITING' OR (status = 'QUEUED' AND due_at = run_at
                             AND (due_at > created_at
                                  OR substr(idempotency_key, 1, 9) = 'schedule-')))
                        THEN due_at END
WHERE id IN (
    SELECT r.id FROM prio JOIN runs AS r ON r.id IN (
        SELECT id FROM runs INDEXED BY runs_claim
        WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
          AND priority = prio.p AND due_at <= :now
          AND queue IN (SELECT value FROM json_each(:queues))
        ORDER BY due_at
        LIMIT :limit
    )
    ORDER BY r.priority DESC, r.due_at
    LIMIT :limit
)
RETURNING id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, timer_due_at, 0 AS fresh;

-- name: set_traceparent
UPDATE runs SET traceparent = :traceparent WHERE id = :id;

-- name: get_traceparent
SELECT traceparent FROM runs WHERE id = :id;

-- name: find_idempotent
SELECT run_id FROM idempotency_keys
WHERE task_id = :task_id AND key = :key AND expires_at > :now;

-- name: upsert_idempotent
INSERT INTO idempotency_keys (task_id, key, run_id, expires_at)
VALUES (:task_id, :key, :run_id, :expires_at)
ON CONFLICT (task_id, key) DO UPDATE
SET run_id = excluded.run_id, expires_at = excluded.expires_at;

-- name: insert_run
INSERT INTO runs (id, task_id, queue, priority, status, payload, created_at, run_at,
                  due_at, idempotency_key, tags, replay_of, parent_run_id)
VALUES (:id, :task_id, :queue, :priority, 'QUEUED', :payload, :now, :run_at,
        :run_at, :idempotency_key, :tags, :replay_of, :parent_run_id);

-- name: get_run
SELECT * FROM runs WHERE id = :id;

-- name: get_steps
SELECT * FROM steps WHERE run_id = :run_id ORDER BY seq;

-- name: list_runs
SELECT * FROM runs
WHERE (:task_id IS NULL OR task_id = :task_id)
  AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: count_runs
SELECT status, COUNT(*) AS n FROM runs GROUP BY status;

-- name: cancel_run
UPDATE runs
SET status = 'CANCELLED', finished_at = :now, due_at = NULL,
    worker_id = NULL, lease_token = NULL
WHERE id = :id AND status IN ('QUEUED', 'WAITING', 'RUNNING');

-- name: run_status
SELECT status FROM runs WHERE id = :id;

-- name: reschedule_run
-- a delayed run that has not started yet moves to another time (never a retry or a waiter)
UPDATE runs SET run_at = :run_at, due_at = :run_at
WHERE id = :id AND status = 'QUEUED' AND started_at IS NULL AND due_at > :now;

-- name: get_logs
SELECT * FROM run_logs WHERE run_id = :run_id ORDER BY rowid;

-- name: insert_log
INSERT INTO run_logs (run_id, at, level, message, attempt)
VALUES (:run_id, :at, :level, :message, :attempt);

-- name: steps_of_runs
SELECT * FROM steps WHERE run_id IN (SELECT value FROM json_each(:run_ids)) ORDER BY seq;

-- name: next_due
-- the first entry of runs_due (named, as the claim names runs_claim: left to itself the
-- planner reads every active run through runs_status_created to find the minimum)
SELECT MIN(due_at) AS due FROM runs INDEXED BY runs_due
WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND due_at IS NOT NULL
  AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)));

-- name: renew_leases
-- only the runs the worker is executing: one whose attempt ended without a word (its
-- last write failed) must be left to expire and be reclaimed. Never shortens a lease: a
-- renewal that waited on a lock may land after a newer claim by the same worker.
-- (Looked up by id: "+status" keeps the planner from reading every RUNNING run through
-- runs_status_created instead.)
UPDATE runs SET due_at = MAX(COALESCE(due_at, :lease_until), :lease_until)
WHERE id IN (SELECT value FROM json_each(:run_ids))
  AND +status = 'RUNNING' AND worker_id = :worker_id
RETURNING id, 1 AS renewed;  -- one writer at a time: no row is ever busy

-- name: check_lease
-- a read, not an update: moving the row in two indexes on every step cost more than
-- the step itself; the heartbeat keeps the lease alive
SELECT 1 AS held FROM runs WHERE id = :run_id AND lease_token = :token AND status = 'RUNNING';

-- name: upsert_step
INSERT INTO steps (run_id, name, seq, kind, status, attempts, result, error,
                   started_at, finished_at, wake_at)
VALUES (:run_id, :name,
        (SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run_id = :run_id),
        :kind, :status, :attempts, :result, :error, :started_at, :finished_at, :wake_at)
ON CONFLICT (run_id, name) DO UPDATE
SET kind = excluded.kind, status = excluded.status, attempts = excluded.attempts,
    result = excluded.result, error = excluded.error,
    started_at = COALESCE(steps.started_at, excluded.started_at),
    finished_at = excluded.finished_at, wake_at = excluded.wake_at
-- a completed step is final (an event may have completed a wait meanwhile)
WHERE steps.status <> 'completed';

-- name: finish_attempt
UPDATE runs
SET status = :status, due_at = :due_at, result = :result, error = :error,
    run_at = CASE WHEN :status = 'QUEUED' THEN :due_at ELSE run_at END,
    attempt = COALESCE(:attempt, attempt),
    body_attempts = COALESCE(:body_attempts, body_attempts),
    finished_at = :finished_at, worker_id = NULL, lease_token = NULL, reclaims = 0
WHERE id = :run_id AND lease_token = :token AND status = 'RUNNING';

-- name: release
UPDATE runs
SET status = 'QUEUED', due_at = :now, worker_id = NULL, lease_token = NULL
WHERE id = :run_id AND lease_token = :token AND status = 'RUNNING';

-- name: savepoint
-- savepoints isolate each write of a group commit (write_batch)
SAVEPOINT tidings_op;

-- name: rollback_to_savepoint
ROLLBACK TO SAVEPOINT tidings_op;

-- name: release_savepoint
RELEASE SAVEPOINT tidings_op;


-- ---- events, waits, cancel-on, child runs (migration 0002) --------------------------

-- name: delete_wait
DELETE FROM event_waits WHERE run_id = :run_id AND step = :step;

-- name: delete_run_waits
DELETE FROM event_waits WHERE run_id = :run_id;

-- name: insert_cancel_key
INSERT INTO run_cancel_keys (event_name, task_id, key, run_id)
VALUES (:event_name, :task_id, :key, :run_id)
ON CONFLICT DO NOTHING;

-- name: delete_run_cancel_keys
DELETE FROM run_cancel_keys WHERE run_id = :run_id;

-- name: run_parent
SELECT parent_run_id, status, result, error FROM runs WHERE id = :id;

-- name: set_flow_keys
UPDATE runs SET concurrency_key = :concurrency_key, rate_key = :rate_key WHERE id = :id;

-- name: claim_runs_flow
-- The claim of an app with limited tasks; :flow is a JSON array of
-- {task, concurrency, rate, period_us}. Unlimited runs are picked as by claim_due
-- (claim.sql).
-- Every due run of a limited task is judged in (priority, due) order within its key:
-- claimed if its concurrency group has a free slot and its rate window has room,
-- queued again for when the window allows (rate), or parked (QUEUED, due_at NULL) until
-- a slot frees (concurrency). A parked run is a candidate at every claim, so it starts
-- as soon as a slot frees; next_due ignores it. A RUNNING run (expired lease) already
-- holds its slot, and only a run's first claim counts as a start. The batch takes the
-- best :limit of all claimable runs. Counting is safe because writers are serialised.
WITH RECURSIVE flow AS (
    SELECT json_extract(value, '$.task') AS task_id,
           json_extract(value, '$.concurrency') AS conc,
           json_extract(value, '$.rate') AS rate,
           json_extract(value, '$.period_us') AS period
    FROM json_each(:flow)
),
-- the unlimited runs, taken as claim_due takes them: per priority, a range of runs_claim
prio(p) AS (
    SELECT MAX(priority) FROM runs INDEXED BY runs_claim
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
    UNION ALL
    SELECT (SELECT MAX(priority) FROM runs INDEXED BY runs_claim
            WHERE status IN ('QUEUED', 'WAITING', 'RUNNING') AND priority < prio.p)
    FROM prio WHERE prio.p IS NOT NULL
),
free AS (
    SELECT r.id, r.priority, r.due_at AS due FROM prio JOIN runs AS r ON r.id IN (
        SELECT id FROM runs INDEXED BY runs_claim
        WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
          AND priority = prio.p AND due_at <= :now
          AND concurrency_key IS NULL AND rate_key IS NULL
          AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
        ORDER BY due_at
        LIMIT :limit
    )
    ORDER BY r.priority DESC, r.due_at
    LIMIT :limit
),
cand AS (
    SELECT r.id, r.task_id, r.priority, COALESCE(r.due_at, r.run_at) AS due, r.due_at,
           r.concurrency_key AS ck, r.rate_key AS rk, f.conc, f.rate, f.period,
           (r.status <> 'RUNNING' AND f.conc IS NOT NULL
            AND r.concurrency_key IS NOT NULL) AS needs_slot,
           (r.started_at IS NULL AND f.rate IS NOT NULL AND r.rate_key IS NOT NULL)
               AS needs_start
    -- each limited task's active runs through runs_flow (CROSS JOIN fixes the order: with
    -- statistics the planner would otherwise read all runs and probe the task list)
    FROM flow f CROSS JOIN runs AS r INDEXED BY runs_flow ON r.task_id = f.task_id
    WHERE r.status IN ('QUEUED', 'WAITING', 'RUNNING')
      AND (r.concurrency_key IS NOT NULL OR r.rate_key IS NOT NULL)
      AND (r.due_at <= :now OR (r.due_at IS NULL AND r.status = 'QUEUED'))
      AND (:queues IS NULL OR r.queue IN (SELECT value FROM json_each(:queues)))
),
slots AS (
    SELECT g.task_id, g.ck,
           g.conc - (SELECT COUNT(*) FROM runs s
                     WHERE s.task_id = g.task_id AND s.concurrency_key = g.ck
                       AND s.status = 'RUNNING'
                       -- the index's own terms, so that SQLite uses runs_flow
                       AND s.status IN ('QUEUED', 'WAITING', 'RUNNING')
                       AND (s.concurrency_key IS NOT NULL OR s.rate_key IS NOT NULL))
               AS free_slots
    FROM (SELECT DISTINCT task_id, ck, conc FROM cand WHERE needs_slot) g
),
windows AS (
    SELECT g.task_id, g.rk, g.rate, g.period,
           g.rate - (SELECT COUNT(*) FROM runs s
                     WHERE s.task_id = g.task_id AND s.rate_key = g.rk
                       AND s.rate_key IS NOT NULL AND s.started_at > :now - g.period)
               AS room,
           (SELECT MIN(s.started_at) FROM runs s
            WHERE s.task_id = g.task_id AND s.rate_key = g.rk
              AND s.rate_key IS NOT NULL AND s.started_at > :now - g.period) AS oldest
    FROM (SELECT DISTINCT task_id, rk, rate, period FROM cand WHERE needs_start) g
),
ranked AS (
    SELECT c.*,
           SUM(c.needs_slot) OVER (PARTITION BY c.task_id, c.ck
                                   ORDER BY c.priority DESC, c.due, c.id
                                   ROWS UNBOUNDED PRECEDING) AS slot_rank,
           SUM(c.needs_start) OVER (PARTITION BY c.task_id, c.rk
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
           -- the n-th run past the window's room waits about n / rate more periods
           COALESCE(w.oldest, :now)
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
    )
    ORDER BY priority DESC, due
    LIMIT :limit
),
decided AS (
    SELECT id, 'claim' AS action, NULL AS delay_to FROM picked
    UNION ALL
    SELECT id, action, delay_to FROM judged
    WHERE action = 'delay' OR (action = 'park' AND due_at IS NOT NULL)
)
UPDATE runs
SET status = CASE d.action WHEN 'claim' THEN 'RUNNING' ELSE 'QUEUED' END,
    worker_id = CASE d.action WHEN 'claim' THEN :worker_id END,
    lease_token = CASE d.action WHEN 'claim' THEN :token END,
    due_at = CASE d.action WHEN 'claim' THEN :lease_until WHEN 'delay' THEN d.delay_to END,
    started_at = CASE d.action WHEN 'claim' THEN COALESCE(started_at, :now)
                               ELSE started_at END,
    reclaims = reclaims + (d.action = 'claim' AND status = 'RUNNING'),
    timer_due_at = CASE WHEN d.action = 'claim' AND (status = 'WAITING' OR (status = 'QUEUED' AND due_at = run_at
                             AND (due_at > created_at
                                  OR substr(idempotency_key, 1, 9) = 'schedule-')))
                        THEN due_at END
FROM decided d
WHERE runs.id = d.id
RETURNING id, task_id, payload, attempt, body_attempts, reclaims, priority, run_at,
          parent_run_id, timer_due_at, status;

-- name: list_runs_page
-- newest first; the cursor is the (created_at, id) of the last run of the previous page
SELECT * FROM runs
WHERE (:task_id IS NULL OR task_id = :task_id)
  AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
  AND (:before_created IS NULL OR created_at < :before_created
       OR (created_at = :before_created AND id < :before_id))
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: queue_stats
-- runs due now and not yet claimed, and the due time of the oldest of them
SELECT COUNT(*) AS depth, MIN(due_at) AS oldest FROM runs
WHERE status = 'QUEUED' AND due_at <= :now;

-- Debounce, batch and singleton (migration 0016; store/db/gates.py). Writers are
-- serialised here, so the gate row needs no lock: reading and writing it in the
-- trigger's transaction is enough.

-- name: lock_gate
-- the run the key's gate points at; a new gate points at the trigger's own run
INSERT INTO flow_gates AS g (task_id, key, run_id) VALUES (:task_id, :key, :run_id)
ON CONFLICT (task_id, key) DO UPDATE SET run_id = g.run_id
RETURNING run_id;

-- name: set_gate
UPDATE flow_gates SET run_id = :run_id WHERE task_id = :task_id AND key = :key;

-- name: lock_gated_run
-- the run a gate points at (writers are serialised: no lock needed)
SELECT id, payload, created_at, run_at, coalesced, status, started_at FROM runs WHERE id = :id;

-- name: lock_gates_many
-- the gates of many triggers at once (store/db/gates.py Gates.prefetch)
INSERT INTO flow_gates AS g (task_id, key, run_id)
SELECT t.value, k.value, r.value
FROM json_each(:task_ids) AS t
JOIN json_each(:keys) AS k ON k.key = t.key
JOIN json_each(:run_ids) AS r ON r.key = t.key
WHERE true
ORDER BY t.value, k.value
ON CONFLICT (task_id, key) DO UPDATE SET run_id = g.run_id
RETURNING task_id, key, run_id;

-- name: lock_runs_many
SELECT id, payload, created_at, run_at, coalesced, status, started_at FROM runs
WHERE id IN (SELECT value FROM json_each(:ids));

-- name: join_run
-- a trigger joins the run; a parent in trigger_and_wait is told when it finishes
UPDATE runs
SET payload = :payload, run_at = :run_at, due_at = :run_at, coalesced = :coalesced,
    parent_run_id = COALESCE(parent_run_id, :parent_run_id)
WHERE id = :id;

-- name: adopt_parent
UPDATE runs SET parent_run_id = COALESCE(parent_run_id, :parent_run_id) WHERE id = :id;

-- name: start_sources
UPDATE runs SET coalesced = 1 WHERE id = :id;

-- name: add_run_source
INSERT INTO run_sources (run_id, seq, source_id, at) VALUES (:run_id, :seq, :source_id, :at);

-- name: run_sources
SELECT source_id FROM run_sources WHERE run_id = :run_id ORDER BY seq;

-- name: wake_workers
-- a batch filled: its run is due now (other processes see the commit's change marker)
SELECT 1;

-- name: repoint_idempotent
UPDATE idempotency_keys SET run_id = :run_id WHERE task_id = :task_id AND key = :key;

-- name: release_idempotent
DELETE FROM idempotency_keys WHERE task_id = :task_id AND key = :key AND run_id = :run_id;
