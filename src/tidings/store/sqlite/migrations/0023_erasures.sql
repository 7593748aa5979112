-- compatible: yes
-- Erase and export (migration 0023): one audit row per erasure of a recipient (when,
-- who asked, how many rows of each table were removed or anonymised; nothing about the
-- person), and the marker that keeps an erased recipient erased: the SHA-256 of the
-- recipient id, so a run still in flight that notifies them records the delivery as
-- skipped (reason "erased") instead of failing on an unknown recipient.
-- Compatible: new tables only; the release before never reads them.
CREATE TABLE erasures (
    id        TEXT PRIMARY KEY,
    erased_at INTEGER NOT NULL,
    -- who asked: "app", "cli", "api key <name>", "dashboard <user>", "mcp"
    actor     TEXT NOT NULL,
    -- JSON object: table -> rows removed or anonymised
    counts    TEXT NOT NULL
);
CREATE INDEX erasures_erased ON erasures (erased_at);

CREATE TABLE erased_recipients (
    digest     TEXT PRIMARY KEY,
    erasure_id TEXT NOT NULL,
    erased_at  INTEGER NOT NULL
);
