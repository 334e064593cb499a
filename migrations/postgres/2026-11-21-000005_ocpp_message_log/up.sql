-- Every OCPP message in both directions, kept for HUB_OCPP_MESSAGE_LOG_DAYS.
CREATE TABLE ocpp_messages (
    id BIGSERIAL PRIMARY KEY,
    charger_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    message_type BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    action TEXT,
    payload TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX ocpp_messages_charger ON ocpp_messages (charger_id, at, id);
CREATE INDEX ocpp_messages_at ON ocpp_messages (at);
