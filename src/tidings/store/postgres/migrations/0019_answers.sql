-- compatible: yes
-- Answers that resume durable runs (migration 0019): wait tokens and questions.
-- A wait token is a row a run waits on (ctx.wait_for_token) until something completes
-- it (app.complete_token, its signed URL) or it expires; completing it is one
-- conditional UPDATE (completed_at IS NULL AND expires_at > now), so it completes once
-- whatever races, and the same transaction records the internal event
-- tidings/token.completed that resumes the waiting run. A question (ctx.ask) is a
-- notification sent with actions, tied to one wait token: the first answer, on any
-- channel, completes the token and fills in the question's answer.
CREATE TABLE wait_tokens (
    id           TEXT PRIMARY KEY,
    run_id       TEXT,
    -- the run's step that created it (memoized: the same token on replay)
    step         TEXT,
    name         TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
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
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    answered_at     TIMESTAMPTZ,
    action          TEXT,
    channel         TEXT,
    -- who answered: the recipient's id, or "operator <who>"
    answered_by     TEXT
);
CREATE INDEX questions_recipient ON questions (recipient_id, created_at);
CREATE INDEX questions_open ON questions (expires_at) WHERE answered_at IS NULL;
