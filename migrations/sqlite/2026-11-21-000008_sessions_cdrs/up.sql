-- OCPI sessions: the hub's own (derived from OCPP transactions, `transaction_ref` set) and those
-- pushed by remote CPOs (`source_platform_id` set). Keyed `CC*PID*ID` of the CPO; `emsp_*` is
-- the owner of the cdr_token, the only party that may receive or read the session.
CREATE TABLE sessions (
    key TEXT PRIMARY KEY NOT NULL,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    id TEXT NOT NULL,
    emsp_country_code TEXT NOT NULL,
    emsp_party_id TEXT NOT NULL,
    status TEXT NOT NULL,
    object TEXT NOT NULL,
    transaction_ref BIGINT UNIQUE,
    source_platform_id TEXT,
    -- Charging periods already pushed to the eMSP (JSON array): later pushes append to them.
    pushed_periods TEXT,
    charging_preferences TEXT,
    -- What the session was priced and located by at its start (tariff, CDR location, zone).
    snapshot TEXT,
    last_updated TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_page ON sessions (last_updated, key);
CREATE INDEX sessions_emsp ON sessions (emsp_country_code, emsp_party_id, last_updated, key);

-- CDRs: immutable once stored. `emsp_location` is the URL the eMSP answered our POST with;
-- CDRs pushed by a remote CPO are served back to it at the hub's own URL.
CREATE TABLE cdrs (
    key TEXT PRIMARY KEY NOT NULL,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    id TEXT NOT NULL,
    emsp_country_code TEXT NOT NULL,
    emsp_party_id TEXT NOT NULL,
    session_key TEXT,
    object TEXT NOT NULL,
    credit_reference_id TEXT,
    source_platform_id TEXT,
    emsp_location TEXT,
    last_updated TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX cdrs_page ON cdrs (last_updated, key);
CREATE INDEX cdrs_emsp ON cdrs (emsp_country_code, emsp_party_id, last_updated, key);
CREATE INDEX cdrs_session ON cdrs (session_key);

-- A delivery addressed to one party of a platform (sessions and CDRs go to the token owner).
ALTER TABLE outbox ADD COLUMN to_country_code TEXT;
ALTER TABLE outbox ADD COLUMN to_party_id TEXT;

-- Whether the token's decision let the transaction charge (false: its session is INVALID).
ALTER TABLE ocpp_transactions ADD COLUMN authorized BOOLEAN;
