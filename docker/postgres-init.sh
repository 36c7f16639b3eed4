#!/bin/bash
# One PostgreSQL server, three databases, each owned by a login role of its own that may do
# nothing else (stack/postgres.py does the same for `make stack`). Runs once, on an empty volume.
set -euo pipefail
for pair in airflow:AIRFLOW_DB_PASSWORD mlflow:MLFLOW_DB_PASSWORD mlmd:MLMD_DB_PASSWORD; do
  name=${pair%%:*}
  secret=${pair#*:}
  password=${!secret}
  psql -v ON_ERROR_STOP=1 -U postgres -d postgres \
    -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
