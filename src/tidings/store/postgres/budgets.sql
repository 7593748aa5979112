-- Provider send budgets shared by every worker (tables from migration 0011).
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: lock_provider_budget
-- takes the budget's row lock (PostgreSQL) for the rest of the transaction; on SQLite
-- BEGIN IMMEDIATE already serialises writers
INSERT INTO provider_budgets (key) VALUES (%(key)s)
ON CONFLICT (key) DO UPDATE SET key = excluded.key
RETURNING key;

-- name: forget_provider_sends
DELETE FROM provider_sends WHERE key = %(key)s AND until <= %(horizon)s;

-- name: provider_sends_counting
SELECT until FROM provider_sends WHERE key = %(key)s AND until > %(horizon)s ORDER BY until;

-- name: admit_provider_send
INSERT INTO provider_sends (key, id, until) VALUES (%(key)s, %(id)s, %(until)s);

-- name: finish_provider_send
UPDATE provider_sends SET until = %(until)s WHERE key = %(key)s AND id = %(id)s;
