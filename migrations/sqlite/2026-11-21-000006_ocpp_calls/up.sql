-- Calls to charge points connected to another hub instance: the asking instance writes a row,
-- the instance holding the socket takes it, calls, and writes the answer back.
CREATE TABLE ocpp_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    charger_id TEXT NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    taken_by TEXT,
    response TEXT,
    error_kind TEXT,
    error TEXT,
    deadline TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ocpp_calls_pending ON ocpp_calls (state, charger_id);
