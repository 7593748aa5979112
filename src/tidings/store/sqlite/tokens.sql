-- Wait tokens and questions (migration 0019).
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: insert_token
INSERT INTO wait_tokens (id, run_id, step, name, created_at, expires_at)
VALUES (:id, :run_id, :step, :name, :created_at, :expires_at)
ON CONFLICT DO NOTHING;

-- name: get_token
SELECT * FROM wait_tokens WHERE id = :id;

-- name: get_token_of_step
SELECT * FROM wait_tokens WHERE run_id = :run_id AND step = :step;

-- name: complete_token
-- the one conditional write: a token completes once, never after it expired
UPDATE wait_tokens SET completed_at = :now, data = :data, completed_by = :by
WHERE id = :id AND completed_at IS NULL AND expires_at > :now
RETURNING id;

-- name: token_is_question
SELECT id FROM questions WHERE token_id = :id;

-- name: insert_question
INSERT INTO questions (id, token_id, run_id, type_id, recipient_id, actions, data,
                       created_at, expires_at)
VALUES (:id, :token_id, :run_id, :type_id, :recipient_id, :actions, :data,
        :created_at, :expires_at)
ON CONFLICT DO NOTHING;

-- name: get_question
SELECT * FROM questions WHERE id = :id;

-- name: get_question_of_token
SELECT * FROM questions WHERE token_id = :token_id;

-- name: get_question_of_notification
SELECT * FROM questions WHERE notification_id = :notification_id;

-- name: set_question_notification
UPDATE questions SET notification_id = :notification_id WHERE id = :id;

-- name: answer_question
UPDATE questions SET answered_at = :now, action = :action, channel = :channel,
                     answered_by = :answered_by
WHERE id = :id AND answered_at IS NULL;

-- name: open_question_for_phone
SELECT q.* FROM questions q
JOIN recipients r ON r.id = q.recipient_id
WHERE r.phone = :phone AND q.answered_at IS NULL AND q.expires_at > :now
ORDER BY q.created_at DESC, q.id DESC
LIMIT 1;

-- name: latest_question_for_phone
SELECT q.* FROM questions q
JOIN recipients r ON r.id = q.recipient_id
WHERE r.phone = :phone
ORDER BY q.created_at DESC, q.id DESC
LIMIT 1;

-- name: open_tokens
SELECT * FROM wait_tokens WHERE completed_at IS NULL AND expires_at > :now
ORDER BY expires_at, id LIMIT :limit;

-- name: open_questions
SELECT * FROM questions WHERE answered_at IS NULL AND expires_at > :now
ORDER BY created_at DESC, id DESC LIMIT :limit;
