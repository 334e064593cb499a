-- OCPI commands received from eMSPs: what was asked, where its result goes, and its outcome.
-- `response_url` is the eMSP's (never shown to another partner); for commands forwarded to a
-- remote CPO the CPO answers at the hub's own result URL, keyed by `id`.
CREATE TABLE commands (
    id TEXT PRIMARY KEY NOT NULL,
    command TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    emsp_country_code TEXT NOT NULL,
    emsp_party_id TEXT NOT NULL,
    response_url TEXT NOT NULL,
    request TEXT NOT NULL,
    charger_id TEXT,
    evse_id BIGINT,
    connector_id BIGINT,
    token_uid TEXT,
    remote_start_id BIGINT,
    forwarded_to TEXT,
    state TEXT NOT NULL,
    result TEXT,
    transaction_ref BIGINT,
    deadline TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX commands_start ON commands (charger_id, token_uid, created_at);

-- Reservations of the hub's own EVSEs. `id` is the reservation id sent to the charge point
-- (unique across eMSPs); `reservation_id` the eMSP's own.
CREATE TABLE reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    emsp_country_code TEXT NOT NULL,
    emsp_party_id TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    evse_uid TEXT NOT NULL,
    charger_id TEXT NOT NULL,
    evse_id BIGINT NOT NULL,
    token TEXT NOT NULL,
    token_uid TEXT NOT NULL,
    response_url TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- The OCPI session (RESERVATION) shown to the eMSP while the reservation lasts.
    session_key TEXT
);
CREATE INDEX reservations_owner ON reservations (emsp_country_code, emsp_party_id, reservation_id);
CREATE INDEX reservations_evse ON reservations (charger_id, evse_id, state);

-- The token of a transaction started by a command (it need not be in the tokens store).
ALTER TABLE ocpp_transactions ADD COLUMN token_object TEXT;
