-- Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
-- One database per service: no service reads another's tables.
CREATE DATABASE intake;
CREATE DATABASE scheduling;
CREATE DATABASE fieldwork;
CREATE DATABASE billing;
CREATE DATABASE feedback;
