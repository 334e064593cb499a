-- Foundation: the hub's keys, partner platforms, their roles and credentials tokens.
CREATE TABLE hub_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE platforms (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    initiated_by TEXT NOT NULL,
    expected_role TEXT,
    expected_country_code TEXT,
    expected_party_id TEXT,
    versions_url TEXT,
    version TEXT,
    endpoints TEXT,
    their_token TEXT,
    auth_base64 BOOLEAN NOT NULL DEFAULT 1,
    store_and_forward BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE platform_roles (
    id TEXT PRIMARY KEY NOT NULL,
    platform_id TEXT NOT NULL REFERENCES platforms(id),
    role TEXT NOT NULL,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    business_details TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    last_updated TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX platform_roles_active_unique
    ON platform_roles (role, country_code, party_id) WHERE active;
CREATE INDEX platform_roles_page ON platform_roles (last_updated, id);
CREATE INDEX platform_roles_platform ON platform_roles (platform_id);

CREATE TABLE credentials_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    platform_id TEXT NOT NULL REFERENCES platforms(id),
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX credentials_tokens_platform ON credentials_tokens (platform_id);
