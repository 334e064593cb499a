DROP TABLE ocpp_calls;
