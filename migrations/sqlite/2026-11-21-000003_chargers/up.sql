-- Charge points of the hub's own OCPP gateway.
CREATE TABLE chargers (
    id TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT,
    location_id TEXT,
    enabled BOOLEAN NOT NULL,
    protocol TEXT,
    vendor TEXT,
    model TEXT,
    firmware TEXT,
    connected BOOLEAN NOT NULL,
    last_boot_at TIMESTAMP,
    last_heartbeat_at TIMESTAMP,
    last_seen_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);

-- Every state a charge point was in: connected, disconnected, booted, replaced.
CREATE TABLE charger_connection_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    charger_id TEXT NOT NULL,
    event TEXT NOT NULL,
    protocol TEXT,
    detail TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX charger_connection_log_charger ON charger_connection_log (charger_id, id);
