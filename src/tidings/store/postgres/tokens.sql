-- Wait tokens and questions (migration 0019).
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); a parameter
-- that may be NULL is cast, since the server cannot infer the type of a bare NULL.

-- name: insert_token
INSERT INTO wait_tokens (id, run_id, step, name, created_at, expires_at)
VALUES (%(id)s, %(run_id)s, %(step)s, %(name)s, %(created_at)s, %(expires_at)s)
ON CONFLICT DO NOTHING;

-- name: get_token
SELECT * FROM wait_tokens WHERE id = %(id)s;

-- name: get_token_of_step
SELECT * FROM wait_tokens WHERE run_id = %(run_id)s AND step = %(step)s;

-- name: complete_token
-- the one conditional write: a token completes once, never after it expired
UPDATE wait_tokens SET completed_at = %(now)s, data = %(data)s, completed_by = %(by)s
WHERE id = %(id)s AND completed_at IS NULL AND expires_at > %(now)s
RETURNING id;

-- name: token_is_question
SELECT id FROM questions WHERE token_id = %(id)s;

-- name: insert_question
INSERT INTO questions (id, token_id, run_id, type_id, recipient_id, actions, data,
                       created_at, expires_at)
VALUES (%(id)s, %(token_id)s, %(run_id)s, %(type_id)s, %(recipient_id)s, %(actions)s, %(data)s,
        %(created_at)s, %(expires_at)s)
ON CONFLICT DO NOTHING;

-- name: get_question
SELECT * FROM questions WHERE id = %(id)s;

-- name: get_question_of_token
SELECT * FROM questions WHERE token_id = %(token_id)s;

-- name: get_question_of_notification
SELECT * FROM questions WHERE notification_id = %(notification_id)s;

-- name: set_question_notification
UPDATE questions SET notification_id = %(notification_id)s WHERE id = %(id)s;

-- name: answer_question
UPDATE questions SET answered_at = %(now)s, action = %(action)s, channel = %(channel)s,
                     answered_by = %(answered_by)s
WHERE id = %(id)s AND answered_at IS NULL;

-- name: open_question_for_phone
SELECT q.* FROM questions q
JOIN recipients r ON r.id = q.recipient_id
WHERE r.phone = %(phone)s AND q.answered_at IS NULL AND q.expires_at > %(now)s
ORDER BY q.created_at DESC, q.id DESC
LIMIT 1;

-- name: latest_question_for_phone
SELECT q.* FROM questions q
JOIN recipients r ON r.id = q.recipient_id
WHERE r.phone = %(phone)s
ORDER BY q.created_at DESC, q.id DESC
LIMIT 1;

-- name: open_tokens
SELECT * FROM wait_tokens WHERE completed_at IS NULL AND expires_at > %(now)s
ORDER BY expires_at, id LIMIT %(limit)s;

-- name: open_questions
SELECT * FROM questions WHERE answered_at IS NULL AND expires_at > %(now)s
ORDER BY created_at DESC, id DESC LIMIT %(limit)s;
