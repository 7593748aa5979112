-- Bulk actions (cancel or replay the runs a filter matches, a page at a time) and
-- replay from a step. Named queries of the SQLite store. Lists are JSON arrays expanded
-- with json_each; a NULL list matches anything. A run matches the tags when it carries
-- every one of them: each tag's JSON string ("needles", quotes included) is found in the
-- run's JSON list of tags, where only that very tag can hold it (a quote inside a
-- JSON string is escaped). The bulk task's own runs never match.

-- name: insert_bulk_action
INSERT INTO bulk_actions (id, kind, tasks, statuses, tags, created_after, created_before,
                          upto, run_id, page_size, total, created_at, finished_at)
VALUES (:id, :kind, :tasks_json, :statuses_json, :tags, :created_after, :created_before, :upto,
        :run_id, :page_size, :total, :now, :finished_at);

-- name: count_bulk_matches
SELECT COUNT(*) AS n FROM runs
WHERE created_at <= :upto AND task_id <> :bulk_task
  -- tidings' own runs (deliveries, prunes, alerts) only when a filter names their task
  AND (:tasks IS NOT NULL OR task_id NOT LIKE 'tidings.%')
  AND (:tasks IS NULL OR task_id IN (SELECT value FROM json_each(:tasks)))
  AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
  AND (:needles IS NULL OR NOT EXISTS (
        SELECT 1 FROM json_each(:needles) AS wanted WHERE instr(runs.tags, wanted.value) = 0))
  AND (:created_after IS NULL OR created_at > :created_after)
  AND (:created_before IS NULL OR created_at < :created_before);

-- name: bulk_page
-- The next page after the keyset cursor (created_at, id), oldest first.
SELECT id, task_id, status, payload, priority, queue, tags, created_at FROM runs
WHERE created_at <= :upto AND task_id <> :bulk_task
  -- tidings' own runs (deliveries, prunes, alerts) only when a filter names their task
  AND (:tasks IS NOT NULL OR task_id NOT LIKE 'tidings.%')
  AND (:tasks IS NULL OR task_id IN (SELECT value FROM json_each(:tasks)))
  AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
  AND (:needles IS NULL OR NOT EXISTS (
        SELECT 1 FROM json_each(:needles) AS wanted WHERE instr(runs.tags, wanted.value) = 0))
  AND (:created_after IS NULL OR created_at > :created_after)
  AND (:created_before IS NULL OR created_at < :created_before)
  AND (:cursor_at IS NULL OR created_at > :cursor_at
       OR (created_at = :cursor_at AND id > :cursor_id))
  AND NOT EXISTS (SELECT 1 FROM bulk_replays WHERE bulk_replays.run_id = runs.id)
ORDER BY created_at, id
LIMIT :limit;

-- name: get_bulk_action
SELECT b.*, r.status AS run_status FROM bulk_actions AS b
LEFT JOIN runs AS r ON r.id = b.run_id
WHERE b.id = :id;

-- name: list_bulk_actions
SELECT b.*, r.status AS run_status FROM bulk_actions AS b
LEFT JOIN runs AS r ON r.id = b.run_id
ORDER BY b.created_at DESC, b.id DESC
LIMIT :limit;

-- name: advance_bulk_action
-- Only from the page count the page started at: a page is acted on once. The last page
-- makes the total what was found.
UPDATE bulk_actions
SET pages = pages + 1,
    cursor_at = COALESCE(:cursor_at, cursor_at), cursor_id = COALESCE(:cursor_id, cursor_id),
    done = done + :n,
    total = CASE WHEN :finished_at IS NULL THEN total ELSE done + :n END,
    finished_at = :finished_at
WHERE id = :id AND pages = :pages AND finished_at IS NULL;

-- name: add_bulk_changed
UPDATE bulk_actions SET changed = changed + :changed WHERE id = :id;

-- name: bulk_cancel_runs
-- A page's runs that still have one of the action's statuses (active ones), cancelled
-- as cancel_run cancels one; their waits and cancel keys go next, as for one.
UPDATE runs
SET status = 'CANCELLED', finished_at = :now, due_at = NULL,
    worker_id = NULL, lease_token = NULL
WHERE id IN (SELECT value FROM json_each(:ids))
  AND status IN (SELECT value FROM json_each(:statuses))
  AND status IN ('QUEUED', 'WAITING', 'RUNNING')
RETURNING id, parent_run_id;

-- name: bulk_delete_waits
DELETE FROM event_waits WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: bulk_delete_cancel_keys
DELETE FROM run_cancel_keys WHERE run_id IN (SELECT value FROM json_each(:ids));

-- name: insert_bulk_replay
INSERT INTO bulk_replays (bulk_id, source_run_id, run_id)
VALUES (:bulk_id, :source_run_id, :run_id)
ON CONFLICT (bulk_id, source_run_id) DO NOTHING;

-- name: copy_steps
-- Replay from a step: the source run's steps before it, as they were recorded.
INSERT INTO steps (run_id, name, seq, kind, status, attempts, result, error,
                   started_at, finished_at, wake_at)
SELECT :run_id, name, seq, kind, status, attempts, result, error,
       started_at, finished_at, wake_at
FROM steps
WHERE run_id = :source_run_id AND name IN (SELECT value FROM json_each(:names));
