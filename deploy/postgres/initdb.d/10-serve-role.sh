#!/bin/sh
# Run once by the postgres image, as user postgres, when it initializes an empty
# data volume (deploy/compose.yaml).  Creates the login role `serve` uses: a
# member of shelfcast_reader, the read-only group role of
# migrations/0002_roles.sql (which then grants it SELECT on the registry), with
# the password the compose `secrets` service generated.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$(cat /run/shelfcast-secrets/serve_password)" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE shelfcast_reader NOLOGIN;
CREATE ROLE shelfcast_serve LOGIN PASSWORD :'pw' IN ROLE shelfcast_reader;
SQL
