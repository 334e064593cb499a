ALTER TABLE ocpp_transactions DROP COLUMN authorized;
ALTER TABLE outbox DROP COLUMN to_party_id;
ALTER TABLE outbox DROP COLUMN to_country_code;
DROP TABLE cdrs;
DROP TABLE sessions;
