-- Rolling upgrades: which applied migrations are backward compatible (migration 0014).

-- name: migrations_columns
SELECT name FROM pragma_table_info('tidings_migrations');

-- name: migrations_applied
SELECT name, compatible FROM tidings_migrations;

-- name: mark_migration_compatible
-- set once, by the release that knows the migration; never by one that does not
UPDATE tidings_migrations SET compatible = :compatible WHERE name = :name AND compatible IS NULL;
