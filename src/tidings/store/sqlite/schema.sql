-- The current tidings schema for SQLite, written out in full. Every change is also a
-- numbered file in migrations/; tests/unit/test_sqlite_store.py proves they agree.


CREATE TABLE tidings_migrations (
    name       TEXT PRIMARY KEY,
    applied_at INTEGER NOT NULL,
    compatible INTEGER  -- 0014: the migration's "-- compatible:" header; NULL unknown
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
    replay_of       TEXT,
    parent_run_id   TEXT,
    -- flow control: what the task's concurrency / rate limit counts per (NULL: unlimited)
    concurrency_key TEXT,
    rate_key        TEXT
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

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    data        TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    -- the runs it started, so a repeated id returns the first receipt
    run_ids     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX events_name_received ON events (name, received_at);
-- the event log over all names, newest first (migration 0018)
CREATE INDEX events_received ON events (received_at, id);

-- A run waiting for an event. Lookup is by (event, which paths it matches on, the
-- expected values at those paths): an index probe, whatever the number of waiters.
CREATE TABLE event_waits (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        TEXT NOT NULL,
    event_name  TEXT NOT NULL,
    match_paths TEXT NOT NULL,
    match_key   TEXT NOT NULL,
    since       INTEGER NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE INDEX event_waits_lookup ON event_waits (event_name, match_paths, match_key);

-- The distinct match shapes per event name, so an event knows which keys to probe.
CREATE TABLE event_wait_shapes (
    event_name  TEXT NOT NULL,
    match_paths TEXT NOT NULL,
    PRIMARY KEY (event_name, match_paths)
);

-- Per active run, the key a CancelOn of its task matches events against.
CREATE TABLE run_cancel_keys (
    event_name TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    PRIMARY KEY (event_name, task_id, key, run_id)
);
CREATE INDEX run_cancel_keys_run ON run_cancel_keys (run_id);

-- Cron schedules (migration 0003).

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
    updated_at  INTEGER NOT NULL,
    -- a paused schedule fires no tick until resumed (migration 0010)
    paused      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX schedules_key ON schedules (key) WHERE key IS NOT NULL;
CREATE INDEX schedules_due ON schedules (next_run_at);

-- flow control (migration 0004): active runs of limited tasks (claim candidates and
-- the RUNNING ones holding slots; unlimited runs never enter it), and starts of
-- rate-limited runs counted over the sliding window
CREATE INDEX runs_flow ON runs (task_id, concurrency_key)
    WHERE status IN ('QUEUED', 'WAITING', 'RUNNING')
      AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL);
CREATE INDEX runs_rate_starts ON runs (task_id, rate_key, started_at)
    WHERE rate_key IS NOT NULL;

-- Notifications (migration 0005): recipients and their push tokens, preferences, suppressed addresses,
-- the delivery log, the in-app inbox and its change feed, the outbox, digests, and
-- per-environment settings (the generated signing secret).

CREATE TABLE recipients (
    id          TEXT PRIMARY KEY,
    email       TEXT,
    phone       TEXT,
    locale      TEXT,
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    quiet_start TEXT,
    quiet_end   TEXT,
    data        TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- One row per device token; registering a known token moves it to the new owner.
CREATE TABLE push_tokens (
    token        TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    platform     TEXT,
    device_name  TEXT,
    active       INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX push_tokens_recipient ON push_tokens (recipient_id);

-- type_id '*' is the per-channel global setting; a type's own row overrides it.
CREATE TABLE preferences (
    recipient_id TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    type_id      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (recipient_id, type_id, channel)
);

-- Addresses nothing may be sent to (hard bounce, complaint, invalid number).
CREATE TABLE suppressions (
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
);

CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,
    type_id      TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    dedup_key    TEXT NOT NULL,
    data         TEXT NOT NULL,
    run_id       TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX notifications_recipient ON notifications (recipient_id, created_at);

-- A dedup key holds its notification until it expires (the idempotency window).
CREATE TABLE notify_dedup (
    key             TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL,
    expires_at      INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id                  TEXT PRIMARY KEY,
    notification_id     TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel             TEXT NOT NULL,
    type_id             TEXT NOT NULL,
    recipient_id        TEXT NOT NULL,
    -- JSON list: the email address, the phone number, the push tokens, the recipient id
    addresses           TEXT NOT NULL DEFAULT '[]',
    locale              TEXT NOT NULL,
    critical            INTEGER NOT NULL DEFAULT 0,
    status              TEXT NOT NULL CHECK (status IN ('pending', 'deferred', 'sent',
                            'delivered', 'failed', 'bounced', 'complained', 'suppressed',
                            'skipped')),
    reason              TEXT,
    provider            TEXT,
    provider_message_id TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    error               TEXT,
    subject             TEXT,
    html                TEXT,
    text                TEXT,
    title               TEXT,
    body                TEXT,
    sms                 TEXT,
    data                TEXT NOT NULL DEFAULT '{}',
    -- JSON list of send attempts: provider, outcome, error, at
    history             TEXT NOT NULL DEFAULT '[]',
    send_at             INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    -- sent to the outbox by the sandbox (migration 0006)
    sandboxed           INTEGER NOT NULL DEFAULT 0,
    -- the broadcast it belongs to (migration 0015)
    broadcast_id        TEXT,
    UNIQUE (notification_id, channel)
);
CREATE INDEX deliveries_recipient ON deliveries (recipient_id, created_at);
CREATE INDEX deliveries_type ON deliveries (type_id, created_at);
CREATE INDEX deliveries_created ON deliveries (created_at);
CREATE INDEX deliveries_status ON deliveries (channel, status);
CREATE INDEX deliveries_provider_message ON deliveries (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

CREATE TABLE inbox_items (
    id           TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL,
    delivery_id  TEXT NOT NULL UNIQUE,
    type_id      TEXT NOT NULL,
    title        TEXT,
    body         TEXT,
    data         TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    read_at      INTEGER,
    archived_at  INTEGER,
    -- inbox v2 (migration 0017): the badge counts the unseen; a snoozed item is hidden
    -- until snoozed_until, then back as unread; tags: JSON list of the notification's
    seen_at      INTEGER,
    snoozed_until INTEGER,
    tags         TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX inbox_items_recipient ON inbox_items (recipient_id, created_at, id);
CREATE INDEX inbox_items_unread ON inbox_items (recipient_id)
    WHERE read_at IS NULL AND archived_at IS NULL;
CREATE INDEX inbox_items_unseen ON inbox_items (recipient_id)
    WHERE seen_at IS NULL AND archived_at IS NULL;
CREATE INDEX inbox_items_archived ON inbox_items (recipient_id, archived_at)
    WHERE archived_at IS NOT NULL;
CREATE INDEX inbox_items_snoozed ON inbox_items (recipient_id, snoozed_until)
    WHERE snoozed_until IS NOT NULL;

-- The change feed: per recipient, a gapless sequence taken under the row lock of
-- inbox_sequences, so sequence order is commit order (a resumed stream misses nothing).
CREATE TABLE inbox_sequences (
    recipient_id TEXT PRIMARY KEY,
    seq          INTEGER NOT NULL
);
CREATE TABLE inbox_changes (
    recipient_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('created', 'seen', 'read', 'unread',
                     'archived', 'unarchived', 'snoozed', 'unsnoozed')),
    item_id      TEXT NOT NULL,
    at           INTEGER NOT NULL,
    PRIMARY KEY (recipient_id, seq)
);

CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,
    delivery_id  TEXT NOT NULL,
    channel      TEXT NOT NULL,
    to_address   TEXT NOT NULL,
    type_id      TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    locale       TEXT NOT NULL,
    subject      TEXT,
    html         TEXT,
    text         TEXT,
    title        TEXT,
    body         TEXT,
    data         TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    -- a send repeated after a crash is captured once
    UNIQUE (delivery_id, to_address)
);
CREATE INDEX outbox_created ON outbox (created_at);
CREATE INDEX outbox_recipient ON outbox (recipient_id, created_at);

-- Digests: the first item of a key opens a window held by its run; later items join it.
CREATE TABLE digests (
    id        TEXT PRIMARY KEY,
    key       TEXT NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    run_id    TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    closes_at INTEGER NOT NULL,
    closed_at INTEGER
);
CREATE UNIQUE INDEX digests_open_key ON digests (key) WHERE status = 'open';
CREATE TABLE digest_items (
    -- run id and step name of the add: adding again on replay is a no-op
    source    TEXT PRIMARY KEY,
    digest_id TEXT NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    item      TEXT NOT NULL,
    added_at  INTEGER NOT NULL
);
CREATE INDEX digest_items_digest ON digest_items (digest_id, added_at);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- HTTP API (migration 0006): API keys per environment, and events delivered later.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('admin', 'publish')),
    key_hash    TEXT NOT NULL UNIQUE,
    -- the first characters of the key, enough to recognise it in a list
    hint        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_environment ON api_keys (environment, created_at);

-- An event whose delivery is due later; the scheduler delivers it once, deleting the
-- row in the transaction that records the event.
CREATE TABLE scheduled_events (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    data       TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    deliver_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX scheduled_events_due ON scheduled_events (deliver_at);

-- trace context (migration 0008): the W3C traceparent of what created the run
ALTER TABLE runs ADD COLUMN traceparent TEXT;

CREATE TABLE webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX webhook_events_received ON webhook_events (received_at);

-- Dashboard (migration 0010): indexes for its run list, run detail and overview, and
-- which waits each event resumed (schedules.paused is in the table above).

-- the run list pages newest first, filtered by status, or by task and status
CREATE INDEX runs_status_created ON runs (status, created_at);
CREATE INDEX runs_task_status_created ON runs (task_id, status, created_at);
-- the idempotency-key filter, and the overview's windows over finished runs
CREATE INDEX runs_idempotency_key ON runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
-- a run's replays, shown on its detail page
CREATE INDEX runs_replay_of ON runs (replay_of) WHERE replay_of IS NOT NULL;
-- the notifications a run sent, shown on its detail page
CREATE INDEX notifications_run ON notifications (run_id) WHERE run_id IS NOT NULL;

-- the waits an event resumed, for the event log
CREATE TABLE event_resumes (
    event_id TEXT NOT NULL,
    run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (event_id, run_id, step)
);
CREATE INDEX event_resumes_run ON event_resumes (run_id);

-- Provider send budgets shared by every worker (migration 0011). One row per budget key
-- (ProviderRateLimit.key), locked while a send is admitted, and one row per admitted
-- send: "until" is when it stopped counting as in flight (the end of its request), or,
-- while it is in flight, a bound past which a crashed sender's send no longer holds room.

CREATE TABLE provider_budgets (
    key TEXT PRIMARY KEY
);
CREATE TABLE provider_sends (
    key   TEXT NOT NULL,
    id    TEXT NOT NULL,
    until INTEGER NOT NULL,
    PRIMARY KEY (key, id)
);
CREATE INDEX provider_sends_until ON provider_sends (key, until);

-- Broadcasts (migration 0015): topics a recipient subscribes to, and notifications to a
-- whole audience (a topic or a list) routed a page at a time by one durable run.
-- topic_subscribers: one row per (topic, recipient); a topic exists while it has any.
-- broadcasts: one row per broadcast; "cursor" is the last recipient id routed (pages
-- walk broadcast_audience in id order), advanced in the transaction that records the
-- page, so a page is recorded once whatever the run re-executes.
-- broadcast_audience: the audience as it was when the broadcast was made.
-- deliveries.broadcast_id: which broadcast a delivery belongs to (NULL: a single notify).

CREATE TABLE topic_subscribers (
    topic        TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (topic, recipient_id)
);
CREATE INDEX topic_subscribers_recipient ON topic_subscribers (recipient_id);

CREATE TABLE broadcasts (
    id          TEXT PRIMARY KEY,
    type_id     TEXT NOT NULL,
    topic       TEXT,
    data        TEXT NOT NULL,
    channels    TEXT,
    -- JSON list: the notification's tags, kept on each inbox item
    tags        TEXT NOT NULL DEFAULT '[]',
    dedup_key   TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    total       INTEGER NOT NULL,
    routed      INTEGER NOT NULL DEFAULT 0,
    cursor      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX broadcasts_run ON broadcasts (run_id);
CREATE INDEX broadcasts_created ON broadcasts (created_at);

CREATE TABLE broadcast_audience (
    broadcast_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    PRIMARY KEY (broadcast_id, recipient_id)
);

CREATE INDEX deliveries_broadcast ON deliveries (broadcast_id, status)
    WHERE broadcast_id IS NOT NULL;

-- debounce, batch and singleton (migration 0016): see migrations/0016_coalescing.sql
CREATE TABLE flow_gates (
    task_id TEXT NOT NULL,
    key     TEXT NOT NULL,
    run_id  TEXT NOT NULL,
    PRIMARY KEY (task_id, key)
);
CREATE TABLE run_sources (
    run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
);
ALTER TABLE runs ADD COLUMN coalesced INTEGER;

-- Every change of a recipient's preferences: who, when, from where (migration 0017).
CREATE TABLE preference_changes (
    id           TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    -- who: "app", "api key <name>", "recipient"
    actor        TEXT NOT NULL,
    -- from where: "python", "preference centre", "one-click unsubscribe", an IP address...
    origin       TEXT,
    -- JSON: {"type", "channel", "enabled"} or {"field", "value"}
    change       TEXT NOT NULL
);
CREATE INDEX preference_changes_recipient ON preference_changes (recipient_id, at);

-- Wait tokens and the questions tied to them (migration 0019): see
-- migrations/0019_answers.sql
CREATE TABLE wait_tokens (
    id           TEXT PRIMARY KEY,
    run_id       TEXT,
    -- the run's step that created it (memoized: the same token on replay)
    step         TEXT,
    name         TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    completed_at INTEGER,
    -- JSON given on completion
    data         TEXT,
    -- who completed it: "app", "api key <name>", "link", "operator <who>"...
    completed_by TEXT
);
CREATE UNIQUE INDEX wait_tokens_step ON wait_tokens (run_id, step);
CREATE INDEX wait_tokens_open ON wait_tokens (expires_at) WHERE completed_at IS NULL;

CREATE TABLE questions (
    id              TEXT PRIMARY KEY,
    token_id        TEXT NOT NULL UNIQUE REFERENCES wait_tokens (id) ON DELETE CASCADE,
    run_id          TEXT,
    type_id         TEXT NOT NULL,
    recipient_id    TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    -- JSON list of action names, in order
    actions         TEXT NOT NULL,
    -- JSON: the notification's data
    data            TEXT NOT NULL DEFAULT '{}',
    notification_id TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    answered_at     INTEGER,
    action          TEXT,
    channel         TEXT,
    -- who answered: the recipient's id, or "operator <who>"
    answered_by     TEXT
);
CREATE INDEX questions_recipient ON questions (recipient_id, created_at);
CREATE INDEX questions_open ON questions (expires_at) WHERE answered_at IS NULL;

-- Retention (migration 0020): see migrations/0020_retention.sql
CREATE TABLE prunes (
    id          TEXT PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    counts      TEXT NOT NULL,
    batches     INTEGER NOT NULL,
    complete    INTEGER NOT NULL
);
CREATE INDEX prunes_started ON prunes (started_at);

CREATE INDEX runs_prune ON runs (finished_at, id) WHERE finished_at IS NOT NULL;
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX flow_gates_run ON flow_gates (run_id);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
CREATE INDEX notify_dedup_expires ON notify_dedup (expires_at);
CREATE INDEX notifications_created ON notifications (created_at, id);
CREATE INDEX inbox_items_created ON inbox_items (created_at, id);
CREATE INDEX inbox_changes_at ON inbox_changes (at);
CREATE INDEX digests_closed ON digests (closed_at) WHERE status = 'closed';
CREATE INDEX broadcasts_finished ON broadcasts (finished_at, id) WHERE finished_at IS NOT NULL;

-- bulk actions and replay from a step (migration 0021): see migrations/0021_bulk_actions.sql
CREATE TABLE bulk_actions (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('cancel', 'replay')),
    tasks          TEXT,
    statuses       TEXT,
    tags           TEXT,
    created_after  INTEGER,
    created_before INTEGER,
    upto           INTEGER NOT NULL,
    run_id         TEXT,
    page_size      INTEGER NOT NULL,
    total          INTEGER NOT NULL,
    done           INTEGER NOT NULL DEFAULT 0,
    changed        INTEGER NOT NULL DEFAULT 0,
    pages          INTEGER NOT NULL DEFAULT 0,
    cursor_at      INTEGER,
    cursor_id      TEXT,
    created_at     INTEGER NOT NULL,
    finished_at    INTEGER
);
CREATE INDEX bulk_actions_created ON bulk_actions (created_at);

CREATE TABLE bulk_replays (
    bulk_id       TEXT NOT NULL,
    source_run_id TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    PRIMARY KEY (bulk_id, source_run_id)
);
CREATE INDEX bulk_replays_run ON bulk_replays (run_id);

-- Alerts and timer lateness (migration 0022): see migrations/0022_alerts.sql
ALTER TABLE runs ADD COLUMN timer_due_at INTEGER;
CREATE INDEX runs_failed ON runs (finished_at) WHERE status = 'FAILED';

CREATE TABLE timer_lateness (
    minute    INTEGER NOT NULL,
    worker_id TEXT NOT NULL,
    bucket    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    total     REAL NOT NULL,
    PRIMARY KEY (minute, worker_id, bucket)
);

CREATE TABLE alert_windows (
    key          TEXT PRIMARY KEY,
    fired_window INTEGER NOT NULL DEFAULT -1,
    seen_until   INTEGER,
    fired_at     INTEGER,
    -- the run of tidings.alerts that fired it, and what it found (JSON): the same run
    -- run again after a crash gets the same figures back instead of a refusal
    fired_by     TEXT,
    figures      TEXT
);

-- Erase and export (migration 0023): the audit of erasures (no personal data) and the
-- marker of an erased recipient (the SHA-256 of its id).
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

-- Retention of bulk actions (migration 0024): see migrations/0024_prune_answers_and_bulk.sql
CREATE INDEX bulk_actions_run ON bulk_actions (run_id);
