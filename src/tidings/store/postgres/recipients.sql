-- Recipients: profiles, push tokens, preferences, suppressions.
-- Named queries of the PostgreSQL store. Parameters are %(name)s (psycopg); lists are
-- text[] matched with = ANY(...). A parameter that may be NULL is cast, since the
-- server cannot infer the type of a bare NULL.

-- name: lock_recipient
SELECT * FROM recipients WHERE id = %(id)s FOR UPDATE;

-- name: get_recipient
SELECT * FROM recipients WHERE id = %(id)s;

-- name: upsert_recipient
INSERT INTO recipients (id, email, phone, locale, timezone, quiet_start, quiet_end, data,
                        created_at, updated_at)
VALUES (%(id)s, %(email)s, %(phone)s, %(locale)s, %(timezone)s, %(quiet_start)s, %(quiet_end)s, %(data)s, %(now)s, %(now)s)
ON CONFLICT (id) DO UPDATE
SET email = excluded.email, phone = excluded.phone, locale = excluded.locale,
    timezone = excluded.timezone, quiet_start = excluded.quiet_start,
    quiet_end = excluded.quiet_end, data = excluded.data, updated_at = excluded.updated_at
RETURNING *;

-- name: delete_recipient
DELETE FROM recipients WHERE id = %(id)s;

-- name: delete_recipient_inbox
DELETE FROM inbox_items WHERE recipient_id = %(id)s;

-- name: delete_recipient_changes
DELETE FROM inbox_changes WHERE recipient_id = %(id)s;

-- name: delete_recipient_sequence
DELETE FROM inbox_sequences WHERE recipient_id = %(id)s;

-- name: upsert_push_token
INSERT INTO push_tokens (token, recipient_id, platform, device_name, active, created_at,
                         updated_at)
VALUES (%(token)s, %(recipient_id)s, %(platform)s, %(device_name)s, %(active)s, %(now)s, %(now)s)
ON CONFLICT (token) DO UPDATE
SET recipient_id = excluded.recipient_id, platform = excluded.platform,
    device_name = excluded.device_name, active = excluded.active,
    updated_at = excluded.updated_at
RETURNING *;

-- name: list_push_tokens
SELECT * FROM push_tokens
WHERE recipient_id = %(recipient_id)s AND (NOT %(active_only)s::boolean OR active)
ORDER BY updated_at DESC, token;

-- name: deactivate_push_token
UPDATE push_tokens SET active = %(off)s, updated_at = %(now)s WHERE token = %(token)s AND active;

-- name: upsert_preference
INSERT INTO preferences (recipient_id, type_id, channel, enabled, updated_at)
VALUES (%(recipient_id)s, %(type_id)s, %(channel)s, %(enabled)s, %(now)s)
ON CONFLICT (recipient_id, type_id, channel) DO UPDATE
SET enabled = excluded.enabled, updated_at = excluded.updated_at;

-- name: list_preferences
SELECT * FROM preferences WHERE recipient_id = %(recipient_id)s ORDER BY type_id, channel;

-- name: insert_suppression
INSERT INTO suppressions (channel, address, reason, created_at)
VALUES (%(channel)s, %(address)s, %(reason)s, %(now)s)
ON CONFLICT (channel, address) DO NOTHING;

-- name: delete_suppression
DELETE FROM suppressions WHERE channel = %(channel)s AND address = %(address)s;

-- name: get_suppression
SELECT * FROM suppressions WHERE channel = %(channel)s AND address = %(address)s;

-- name: recipient_suppressions
SELECT channel, address FROM suppressions
WHERE (channel = 'email' AND address = %(email)s::text)
   OR (channel = 'sms' AND address = %(phone)s::text)
   OR (channel = 'push' AND address IN
        (SELECT token FROM push_tokens WHERE recipient_id = %(id)s AND active));

-- name: insert_preference_change
INSERT INTO preference_changes (id, recipient_id, at, actor, origin, change)
VALUES (%(id)s, %(recipient_id)s, %(now)s, %(actor)s, %(origin)s, %(change)s);

-- name: list_preference_changes
SELECT * FROM preference_changes WHERE recipient_id = %(recipient_id)s
ORDER BY at DESC, id DESC
LIMIT %(limit)s;
