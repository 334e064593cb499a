ALTER TABLE ocpp_transactions DROP COLUMN authorization_reference;
ALTER TABLE ocpp_transactions DROP COLUMN auth_method;
ALTER TABLE ocpp_transactions DROP COLUMN token_key;
DROP TABLE tokens;
