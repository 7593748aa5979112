-- Bulk actions (cancel or replay the runs a filter matches, a page at a time) and
-- replay from a step. Named queries of the PostgreSQL store. Lists are text[]; a NULL
-- list matches anything. A run matches the tags when it carries every one of them: each tag's JSON string ("needles", quotes included) is found in the
-- run's JSON list of tags, where only that very tag can hold it (a quote inside a
-- JSON string is escaped). The bulk task's own runs never match.

-- name: insert_bulk_action
INSERT INTO bulk_actions (id, kind, tasks, statuses, tags, created_after, created_before,
                          upto, run_id, page_size, total, created_at, finished_at)
VALUES (%(id)s, %(kind)s, %(tasks_json)s::text, %(statuses_json)s::text, %(tags)s::text,
        %(created_after)s::timestamptz, %(created_before)s::timestamptz, %(upto)s, %(run_id)s::text, %(page_size)s, %(total)s, %(now)s, %(finished_at)s::timestamptz);

-- name: count_bulk_matches
SELECT COUNT(*) AS n FROM runs
WHERE created_at <= %(upto)s AND task_id <> %(bulk_task)s
  -- tidings' own runs (deliveries, prunes, alerts) only when a filter names their task
  AND (%(tasks)s::text[] IS NOT NULL OR task_id NOT LIKE 'tidings.%%')
  AND (%(tasks)s::text[] IS NULL OR task_id = ANY(%(tasks)s::text[]))
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(needles)s::text[] IS NULL OR NOT EXISTS (
        SELECT 1 FROM unnest(%(needles)s::text[]) AS wanted(t) WHERE strpos(runs.tags, wanted.t) = 0))
  AND (%(created_after)s::timestamptz IS NULL OR created_at > %(created_after)s)
  AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s);

-- name: bulk_page
-- The next page after the keyset cursor (created_at, id), oldest first.
SELECT id, task_id, status, payload, priority, queue, tags, created_at FROM runs
WHERE created_at <= %(upto)s AND task_id <> %(bulk_task)s
  -- tidings' own runs (deliveries, prunes, alerts) only when a filter names their task
  AND (%(tasks)s::text[] IS NOT NULL OR task_id NOT LIKE 'tidings.%%')
  AND (%(tasks)s::text[] IS NULL OR task_id = ANY(%(tasks)s::text[]))
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(needles)s::text[] IS NULL OR NOT EXISTS (
        SELECT 1 FROM unnest(%(needles)s::text[]) AS wanted(t) WHERE strpos(runs.tags, wanted.t) = 0))
  AND (%(created_after)s::timestamptz IS NULL OR created_at > %(created_after)s)
  AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s)
  AND (%(cursor_at)s::timestamptz IS NULL OR created_at > %(cursor_at)s
       OR (created_at = %(cursor_at)s AND id > %(cursor_id)s::text))
  AND NOT EXISTS (SELECT 1 FROM bulk_replays WHERE bulk_replays.run_id = runs.id)
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: get_bulk_action
SELECT b.*, r.status AS run_status FROM bulk_actions AS b
LEFT JOIN runs AS r ON r.id = b.run_id
WHERE b.id = %(id)s;

-- name: list_bulk_actions
SELECT b.*, r.status AS run_status FROM bulk_actions AS b
LEFT JOIN runs AS r ON r.id = b.run_id
ORDER BY b.created_at DESC, b.id DESC
LIMIT %(limit)s;

-- name: advance_bulk_action
-- Only from the page count the page started at: a page is acted on once. The last page
-- makes the total what was found.
UPDATE bulk_actions
SET pages = pages + 1,
    cursor_at = COALESCE(%(cursor_at)s::timestamptz, cursor_at),
    cursor_id = COALESCE(%(cursor_id)s::text, cursor_id),
    done = done + %(n)s,
    total = CASE WHEN %(finished_at)s::timestamptz IS NULL THEN total ELSE done + %(n)s END,
    finished_at = %(finished_at)s::timestamptz
WHERE id = %(id)s AND pages = %(pages)s AND finished_at IS NULL;

-- name: add_bulk_changed
UPDATE bulk_actions SET changed = changed + %(changed)s WHERE id = %(id)s;

-- name: bulk_cancel_runs
-- A page's runs that still have one of the action's statuses (active ones), cancelled
-- as cancel_run cancels one; their waits and cancel keys go next, as for one.
UPDATE runs
SET status = 'CANCELLED', finished_at = %(now)s, due_at = NULL,
    worker_id = NULL, lease_token = NULL
WHERE id = ANY(%(ids)s::text[])
  AND status = ANY(%(statuses)s::text[])
  AND status IN ('QUEUED', 'WAITING', 'RUNNING')
RETURNING id, parent_run_id;

-- name: bulk_delete_waits
DELETE FROM event_waits WHERE run_id = ANY(%(ids)s::text[]);

-- name: bulk_delete_cancel_keys
DELETE FROM run_cancel_keys WHERE run_id = ANY(%(ids)s::text[]);

-- name: insert_bulk_replay
INSERT INTO bulk_replays (bulk_id, source_run_id, run_id)
VALUES (%(bulk_id)s, %(source_run_id)s, %(run_id)s)
ON CONFLICT (bulk_id, source_run_id) DO NOTHING;

-- name: copy_steps
-- Replay from a step: the source run's steps before it, as they were recorded.
INSERT INTO steps (run_id, name, seq, kind, status, attempts, result, error,
                   started_at, finished_at, wake_at)
SELECT %(run_id)s, name, seq, kind, status, attempts, result, error,
       started_at, finished_at, wake_at
FROM steps
WHERE run_id = %(source_run_id)s AND name = ANY(%(names)s::text[]);
