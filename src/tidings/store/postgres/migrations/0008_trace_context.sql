-- compatible: yes
-- Operations (migration 0008): the W3C traceparent of the trigger or event that created
-- a run, so each attempt's span is a child of it. Nullable and additive: a worker of the
-- previous release never reads or writes it.

ALTER TABLE runs ADD COLUMN traceparent TEXT;
