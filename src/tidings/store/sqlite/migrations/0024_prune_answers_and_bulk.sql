-- compatible: yes
-- Retention meets wait tokens and bulk actions (migration 0024): a pruned run takes the
-- bulk actions it carried out with it, found by the run that did the work.
CREATE INDEX bulk_actions_run ON bulk_actions (run_id);
