-- compatible: yes
-- Cron schedules: a task's static cron= and dynamic app.schedules.create(...).

CREATE TABLE schedules (
    id          TEXT PRIMARY KEY,
    task_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('static', 'dynamic')),
    cron        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    key         TEXT,
    payload     TEXT NOT NULL DEFAULT 'null',
    catch_up    TEXT NOT NULL CHECK (catch_up IN ('latest', 'all', 'none')),
    -- the next tick not yet fired; schedulers claim a tick by moving it forward with a
    -- compare-and-set, so each tick fires once however many schedulers run
    next_run_at INTEGER NOT NULL,
    last_run_at INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX schedules_key ON schedules (key) WHERE key IS NOT NULL;
CREATE INDEX schedules_due ON schedules (next_run_at);
