#!/bin/sh
# Runs once in the database container, when it initialises an empty data directory
# (docker-entrypoint-initdb.d): the login roles the services use, with the passwords from the
# container's environment (deploy/compose.yaml). `elflow db roles` (the roles job) then sets
# every role's attributes, creates the rest and the database. psql reads each password with
# \getenv, so it is never on a command line.
set -eu

create_role() { # role, name of the variable holding its password
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
        -v role="$1" <<SQL
\\getenv password $2
CREATE ROLE :"role" LOGIN PASSWORD :'password';
SQL
}

create_role elflow DB_OWNER_PASSWORD
create_role elflow_ingest DB_INGEST_PASSWORD
create_role elflow_grafana DB_GRAFANA_PASSWORD
if [ -n "${DB_DATAHUB_PASSWORD:-}" ]; then
    create_role elflow_datahub DB_DATAHUB_PASSWORD
fi
