DROP TABLE ocpp_meter_values;
DROP TABLE ocpp_transaction_events;
DROP TABLE ocpp_transactions;
