DROP TABLE ocpp_messages;
