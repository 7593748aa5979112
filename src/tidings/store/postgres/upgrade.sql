-- Rolling upgrades: which applied migrations are backward compatible (migration 0014).

-- name: migrations_columns
SELECT column_name AS name FROM information_schema.columns
WHERE table_schema = %(schema)s AND table_name = 'tidings_migrations';

-- name: migrations_applied
SELECT name, compatible FROM tidings_migrations;

-- name: mark_migration_compatible
-- set once, by the release that knows the migration; never by one that does not
UPDATE tidings_migrations SET compatible = %(compatible)s
WHERE name = %(name)s AND compatible IS NULL;
