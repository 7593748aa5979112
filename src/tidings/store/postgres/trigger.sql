-- A trigger as ONE statement, sent on an autocommit connection: one round trip where
-- BEGIN, INSERT, COMMIT took three (PostgresStore.create_run). A run with cancel-on keys
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
