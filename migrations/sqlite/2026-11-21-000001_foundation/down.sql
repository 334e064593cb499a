DROP TABLE credentials_tokens;
DROP TABLE platform_roles;
DROP TABLE platforms;
DROP TABLE hub_keys;
