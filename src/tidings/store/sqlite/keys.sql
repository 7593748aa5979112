-- API keys of the HTTP API.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: insert_api_key
INSERT INTO api_keys (id, environment, name, scope, key_hash, hint, created_at)
VALUES (:id, :environment, :name, :scope, :key_hash, :hint, :now);

-- name: list_api_keys
SELECT * FROM api_keys WHERE environment = :environment ORDER BY created_at, id;

-- name: find_api_key
SELECT * FROM api_keys WHERE key_hash = :key_hash;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = :now
WHERE environment = :environment AND (id = :ref OR hint = :ref) AND revoked_at IS NULL
RETURNING id;
