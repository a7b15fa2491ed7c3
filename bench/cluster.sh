# Sourced by bench/run.sh and bench/compare.sh: the benchmark's private PostgreSQL.
#   start_cluster DIR   initdb in DIR/data with the benchmark's settings, start it (socket in DIR),
#                       and stop and remove it when the script exits (a server in SERVER_PID too).
# Sets BIN (the server binaries), PSQL (a superuser psql on it), and defines as_pg.
BIN=$(dirname "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

start_cluster() {
  CLUSTER=$1
  echo "== starting a private PostgreSQL in $CLUSTER"
  rm -rf "$CLUSTER"; mkdir -p "$CLUSTER"
  [ "$(id -u)" = 0 ] && chown postgres "$CLUSTER"
  as_pg "$BIN/initdb -A trust -U postgres -E UTF8 --locale=C.UTF-8 -D $CLUSTER/data >/dev/null"
  cat >>"$CLUSTER/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$CLUSTER'
shared_buffers = 2GB
effective_cache_size = 8GB
work_mem = 16MB
maintenance_work_mem = 1GB
max_wal_size = 8GB
synchronous_commit = off
max_connections = 100
jit = off
CONF
  as_pg "$BIN/pg_ctl -D $CLUSTER/data -l $CLUSTER/postgres.log -w start >/dev/null"
  SERVER_PID=
  trap stop_cluster EXIT
  PSQL="psql -h $CLUSTER -U postgres -X -q -v ON_ERROR_STOP=1"
}

stop_cluster() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  as_pg "$BIN/pg_ctl -D $CLUSTER/data -m fast -w stop >/dev/null" || true
  rm -rf "$CLUSTER"
}
