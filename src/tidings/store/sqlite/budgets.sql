-- Provider send budgets shared by every worker (tables from migration 0011).
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: lock_provider_budget
-- takes the budget's row lock (PostgreSQL) for the rest of the transaction; on SQLite
-- BEGIN IMMEDIATE already serialises writers
INSERT INTO provider_budgets (key) VALUES (:key)
ON CONFLICT (key) DO UPDATE SET key = excluded.key
RETURNING key;

-- name: forget_provider_sends
DELETE FROM provider_sends WHERE key = :key AND until <= :horizon;

-- name: provider_sends_counting
SELECT until FROM provider_sends WHERE key = :key AND until > :horizon ORDER BY until;

-- name: admit_provider_send
INSERT INTO provider_sends (key, id, until) VALUES (:key, :id, :until);

-- name: finish_provider_send
UPDATE provider_sends SET until = :until WHERE key = :key AND id = :id;
