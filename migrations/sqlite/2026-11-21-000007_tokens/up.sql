-- Tokens pushed by eMSPs (never deleted: `valid=false` instead), keyed by owner, uid (upper
-- case: a CiString) and type. `object` is the Token as stored and served.
CREATE TABLE tokens (
    key TEXT PRIMARY KEY NOT NULL,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    uid_key TEXT NOT NULL,
    token_type TEXT NOT NULL,
    valid BOOLEAN NOT NULL,
    whitelist TEXT NOT NULL,
    object TEXT NOT NULL,
    source_platform_id TEXT,
    last_updated TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX tokens_uid ON tokens (uid_key, token_type);
CREATE INDEX tokens_page ON tokens (last_updated, key);

-- How a transaction was authorised: the token it ran on (tokens.key), OCPI auth_method and the
-- eMSP's authorization_reference, carried into the session and CDR.
ALTER TABLE ocpp_transactions ADD COLUMN token_key TEXT;
ALTER TABLE ocpp_transactions ADD COLUMN auth_method TEXT;
ALTER TABLE ocpp_transactions ADD COLUMN authorization_reference TEXT;
