-- compatible: yes
-- Cost flat in the backlog (migration 0018): the dashboard's event log pages newest
-- first over all events; without an index on the receive time it read and sorted every
-- event for each page. (received_at, id) is the page order and its cursor.
CREATE INDEX events_received ON events (received_at, id);
