DROP INDEX outbox_group_state;
CREATE INDEX outbox_group ON outbox (platform_id, object_group, id);
CREATE INDEX outbox_pending_group ON outbox (platform_id, object_group, id) WHERE state = 'PENDING';
CREATE INDEX outbox_pending_id ON outbox (id) WHERE state = 'PENDING';
