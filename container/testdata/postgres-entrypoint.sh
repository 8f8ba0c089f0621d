#!/bin/sh
# Entrypoint of the test's stand-in for the postgres image: Debian's
# PostgreSQL, set up from the variables the official image reads
# (POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD, each also as *_FILE).
set -eu
file_env() {
	eval "f=\${$1_FILE:-}"
	if [ -n "$f" ]; then
		v=$(cat "$f")
		export "$1=$v"
	fi
}
file_env POSTGRES_PASSWORD
file_env POSTGRES_USER
file_env POSTGRES_DB
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
	echo "POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required" >&2
	exit 1
fi
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pw=$(mktemp)
	printf '%s' "$POSTGRES_PASSWORD" > "$pw"
	chown postgres "$pw"
	as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" --encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pw"
	echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
	if [ "$POSTGRES_DB" != postgres ]; then
		echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" |
			as_postgres postgres --single -D "$PGDATA" -j postgres >/dev/null
	fi
	echo "database $POSTGRES_DB created"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*'
