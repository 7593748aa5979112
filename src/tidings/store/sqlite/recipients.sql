-- Recipients: profiles, push tokens, preferences, suppressions.
-- Named queries of the SQLite store. Parameters are :named; lists are JSON arrays
-- expanded with json_each.

-- name: lock_recipient
SELECT * FROM recipients WHERE id = :id;

-- name: get_recipient
SELECT * FROM recipients WHERE id = :id;

-- name: upsert_recipient
INSERT INTO recipients (id, email, phone, locale, timezone, quiet_start, quiet_end, data,
                        created_at, updated_at)
VALUES (:id, :email, :phone, :locale, :timezone, :quiet_start, :quiet_end, :data, :now, :now)
ON CONFLICT (id) DO UPDATE
SET email = excluded.email, phone = excluded.phone, locale = excluded.locale,
    timezone = excluded.timezone, quiet_start = excluded.quiet_start,
    quiet_end = excluded.quiet_end, data = excluded.data, updated_at = excluded.updated_at
RETURNING *;

-- name: delete_recipient
DELETE FROM recipients WHERE id = :id;

-- name: delete_recipient_inbox
DELETE FROM inbox_items WHERE recipient_id = :id;

-- name: delete_recipient_changes
DELETE FROM inbox_changes WHERE recipient_id = :id;

-- name: delete_recipient_sequence
DELETE FROM inbox_sequences WHERE recipient_id = :id;

-- name: upsert_push_token
INSERT INTO push_tokens (token, recipient_id, platform, device_name, active, created_at,
                         updated_at)
VALUES (:token, :recipient_id, :platform, :device_name, :active, :now, :now)
ON CONFLICT (token) DO UPDATE
SET recipient_id = excluded.recipient_id, platform = excluded.platform,
    device_name = excluded.device_name, active = excluded.active,
    updated_at = excluded.updated_at
RETURNING *;

-- name: list_push_tokens
SELECT * FROM push_tokens
WHERE recipient_id = :recipient_id AND (NOT :active_only OR active)
ORDER BY updated_at DESC, token;

-- name: deactivate_push_token
UPDATE push_tokens SET active = :off, updated_at = :now WHERE token = :token AND active;

-- name: upsert_preference
INSERT INTO preferences (recipient_id, type_id, channel, enabled, updated_at)
VALUES (:recipient_id, :type_id, :channel, :enabled, :now)
ON CONFLICT (recipient_id, type_id, channel) DO UPDATE
SET enabled = excluded.enabled, updated_at = excluded.updated_at;

-- name: list_preferences
SELECT * FROM preferences WHERE recipient_id = :recipient_id ORDER BY type_id, channel;

-- name: insert_suppression
INSERT INTO suppressions (channel, address, reason, created_at)
VALUES (:channel, :address, :reason, :now)
ON CONFLICT (channel, address) DO NOTHING;

-- name: delete_suppression
DELETE FROM suppressions WHERE channel = :channel AND address = :address;

-- name: get_suppression
SELECT * FROM suppressions WHERE channel = :channel AND address = :address;

-- name: recipient_suppressions
SELECT channel, address FROM suppressions
WHERE (channel = 'email' AND address = :email)
   OR (channel = 'sms' AND address = :phone)
   OR (channel = 'push' AND address IN
        (SELECT token FROM push_tokens WHERE recipient_id = :id AND active));

-- name: insert_preference_change
INSERT INTO preference_changes (id, recipient_id, at, actor, origin, change)
VALUES (:id, :recipient_id, :now, :actor, :origin, :change);

-- name: list_preference_changes
SELECT * FROM preference_changes WHERE recipient_id = :recipient_id
ORDER BY at DESC, id DESC
LIMIT :limit;
