-- compatible: no
-- (the first schema: there is no earlier release for it to be compatible with)
-- tidings schema, version 1: runs, their steps and log lines, idempotency keys.
-- Times are integer microseconds since the Unix epoch (UTC).

CREATE TABLE tidings_migrations (
    name       TEXT PRIMARY KEY,
    applied_at INTEGER NOT NULL
);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    task_id         TEXT NOT NULL,
    queue           TEXT NOT NULL DEFAULT 'default',
    priority        INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL CHECK (status IN
                        ('QUEUED', 'RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    payload         TEXT NOT NULL,
    result          TEXT,
    error           TEXT,
    attempt         INTEGER NOT NULL DEFAULT 1,
    body_attempts   INTEGER NOT NULL DEFAULT 0,
    -- claims of this run after its worker vanished (lease expired), since an attempt
    -- last ended; bounds a run that kills every worker that runs it
    reclaims        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    run_at          INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    -- when a worker should next look at the run: run_at while QUEUED, the wake time
    -- while WAITING, the lease expiry while RUNNING; NULL once finished
    due_at          INTEGER,
    idempotency_key TEXT,
    tags            TEXT NOT NULL DEFAULT '[]',
    worker_id       TEXT,
    lease_token     TEXT,
    replay_of       TEXT
);

-- claiming walks due runs in (priority, due time) order; next_due needs the earliest
CREATE INDEX runs_claim ON runs (priority DESC, due_at)
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING');
CREATE INDEX runs_due ON runs (due_at)
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING');
CREATE INDEX runs_worker ON runs (worker_id) WHERE status = 'RUNNING';
CREATE INDEX runs_task_created ON runs (task_id, created_at);
CREATE INDEX runs_created ON runs (created_at);

CREATE TABLE steps (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    result      TEXT,
    error       TEXT,
    started_at  INTEGER,
    finished_at INTEGER,
    wake_at     INTEGER,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE run_logs (
    run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    attempt INTEGER NOT NULL
);
CREATE INDEX run_logs_run ON run_logs (run_id);

CREATE TABLE idempotency_keys (
    task_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, key)
);
