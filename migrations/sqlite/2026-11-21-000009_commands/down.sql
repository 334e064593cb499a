ALTER TABLE ocpp_transactions DROP COLUMN token_object;
DROP TABLE reservations;
DROP TABLE commands;
