-- Transactions reported by charge points, every transaction message as received, and the
-- meter values normalised (energy in Wh, power in W). The sessions module derives OCPI
-- sessions and CDRs from these.
CREATE TABLE ocpp_transactions (
    id BIGSERIAL PRIMARY KEY,
    charger_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    evse_id BIGINT,
    connector_id BIGINT,
    id_token TEXT,
    id_token_type TEXT,
    state TEXT NOT NULL,
    started_at TIMESTAMP,
    stopped_at TIMESTAMP,
    meter_start_wh TEXT,
    meter_stop_wh TEXT,
    stop_reason TEXT,
    last_seq_no BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX ocpp_transactions_key ON ocpp_transactions (charger_id, transaction_id);

CREATE TABLE ocpp_transaction_events (
    id BIGSERIAL PRIMARY KEY,
    transaction_ref BIGINT NOT NULL REFERENCES ocpp_transactions(id),
    action TEXT NOT NULL,
    event_type TEXT,
    seq_no BIGINT,
    occurred_at TIMESTAMP NOT NULL,
    payload TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX ocpp_transaction_events_tx ON ocpp_transaction_events (transaction_ref, id);

CREATE TABLE ocpp_meter_values (
    id BIGSERIAL PRIMARY KEY,
    transaction_ref BIGINT REFERENCES ocpp_transactions(id),
    charger_id TEXT NOT NULL,
    evse_id BIGINT,
    sampled_at TIMESTAMP NOT NULL,
    measurand TEXT NOT NULL,
    phase TEXT,
    context TEXT,
    location TEXT,
    value TEXT NOT NULL,
    unit TEXT NOT NULL
);
CREATE INDEX ocpp_meter_values_tx ON ocpp_meter_values (transaction_ref, sampled_at);
