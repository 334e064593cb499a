-- Locations and tariffs: the canonical OCPI JSON plus the columns queries need.
CREATE TABLE locations (
    key TEXT PRIMARY KEY NOT NULL,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    id TEXT NOT NULL,
    object TEXT NOT NULL,
    publish BOOLEAN NOT NULL,
    lat_e7 BIGINT NOT NULL,
    lon_e7 BIGINT NOT NULL,
    source_platform_id TEXT,
    last_updated TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX locations_page ON locations (last_updated, key);
CREATE INDEX locations_geo ON locations (lat_e7, lon_e7);

-- Parties allowed to see an unpublished location.
CREATE TABLE location_visibility (
    location_key TEXT NOT NULL REFERENCES locations(key),
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    PRIMARY KEY (location_key, country_code, party_id)
);

CREATE TABLE tariffs (
    key TEXT PRIMARY KEY NOT NULL,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    id TEXT NOT NULL,
    object TEXT NOT NULL,
    source_platform_id TEXT,
    last_updated TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX tariffs_page ON tariffs (last_updated, key);

-- The push outbox: one row per delivery to one partner, FIFO per (platform, object_group).
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    platform_id TEXT NOT NULL,
    module TEXT NOT NULL,
    object_group TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT,
    from_country_code TEXT NOT NULL,
    from_party_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    leased_until TIMESTAMP,
    lease_owner TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_group ON outbox (platform_id, object_group, id);
