# Sourced by bench/workload.sh when PGBOUNCER=transaction or session: PgBouncer in that pool mode
# between the service and the benchmark's cluster, to measure what it costs and what it needs.
#   start_pgbouncer DIR   PgBouncer (Debian's `pgbouncer`, installed when missing and root) on
#                         127.0.0.1:PGBOUNCER_PORT (16432), pooling DB in PGBOUNCER mode with
#                         PGBOUNCER_POOL (8) server connections; rewrites URL to go through it.
#                         The service's statement cache is PGBOUNCER_STATEMENT_CACHE (0: sqlx's
#                         `statement-cache-capacity=0`, unnamed statements; 100, sqlx's default,
#                         shows what named prepared statements do through PgBouncer 1.18).
#   stop_pgbouncer
PGBOUNCER_PORT=${PGBOUNCER_PORT:-16432}
PGBOUNCER_POOL=${PGBOUNCER_POOL:-8}
PGBOUNCER_STATEMENT_CACHE=${PGBOUNCER_STATEMENT_CACHE:-0}
PGBOUNCER_PID=

start_pgbouncer() {
  local dir=$1
  if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
    [ "$(id -u)" = 0 ] || { echo "pgbouncer is needed: apt-get install pgbouncer"; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer >/dev/null
  fi
  local binary
  binary=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  echo '"postgres" ""' >"$dir/userlist.txt"
  # `options` (the service's statement_timeout and parallel-worker settings) is a startup
  # parameter PgBouncer cannot pass on per transaction: it must be ignored, and the settings given
  # to the role instead (docs/deployment.md).
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
$DB = host=$CLUSTER dbname=$DB user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = $PGBOUNCER
default_pool_size = $PGBOUNCER_POOL
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  [ "$(id -u)" = 0 ] && chown -R postgres "$dir"
  $PSQL -c "alter role postgres in database $DB set statement_timeout = '30s'" \
    -c "alter role postgres in database $DB set max_parallel_workers_per_gather = 0"
  as_pg "$binary -d $dir/pgbouncer.ini"
  for _ in $(seq 50); do [ -s "$dir/pgbouncer.pid" ] && break; sleep 0.1; done
  PGBOUNCER_PID=$(cat "$dir/pgbouncer.pid")
  URL="postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/$DB?statement-cache-capacity=$PGBOUNCER_STATEMENT_CACHE"
  echo "== PgBouncer $($binary --version | head -1 | awk '{print $2}') in $PGBOUNCER mode, pool $PGBOUNCER_POOL, statement cache $PGBOUNCER_STATEMENT_CACHE"
}

stop_pgbouncer() {
  [ -n "${PGBOUNCER_PID:-}" ] || return 0
  kill "$PGBOUNCER_PID" 2>/dev/null || true
  PGBOUNCER_PID=
}
