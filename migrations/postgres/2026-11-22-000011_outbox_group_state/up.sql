-- The push worker's statements are prepared once per connection, and PostgreSQL may keep one
-- plan for them whatever the parameters. Partial `state = 'PENDING'` indexes make such plans
-- fragile: when the statistics were taken with few PENDING rows, the planner believes those
-- indexes are nearly empty and scans them whole with a filter (measured at 10,000 pending
-- rows: 17 ms per lease by id, against 0.3 ms by key). One full index on the group and
-- state serves every lookup of the worker (a group's pending deliveries, its head, the
-- earlier pending ones of a delivery) by its key alone, whatever the statistics say.
DROP INDEX outbox_pending_group;
DROP INDEX outbox_pending_id;
DROP INDEX outbox_group;
CREATE INDEX outbox_group_state ON outbox (platform_id, object_group, state, id);
