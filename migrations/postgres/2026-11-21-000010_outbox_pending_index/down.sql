DROP INDEX outbox_pending_id;
DROP INDEX outbox_pending_group;
