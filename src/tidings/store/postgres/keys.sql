-- API keys of the HTTP API.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: insert_api_key
INSERT INTO api_keys (id, environment, name, scope, key_hash, hint, created_at)
VALUES (%(id)s, %(environment)s, %(name)s, %(scope)s, %(key_hash)s, %(hint)s, %(now)s);

-- name: list_api_keys
SELECT * FROM api_keys WHERE environment = %(environment)s ORDER BY created_at, id;

-- name: find_api_key
SELECT * FROM api_keys WHERE key_hash = %(key_hash)s;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = %(now)s
WHERE environment = %(environment)s AND (id = %(ref)s OR hint = %(ref)s) AND revoked_at IS NULL
RETURNING id;
