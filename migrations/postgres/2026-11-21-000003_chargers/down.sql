DROP TABLE charger_connection_log;
DROP TABLE chargers;
