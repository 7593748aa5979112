-- compatible: yes
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
