DROP TABLE outbox;
DROP TABLE tariffs;
DROP TABLE location_visibility;
DROP TABLE locations;
