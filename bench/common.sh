# Sourced by bench/run.sh and bench/workload.sh (after bench/cluster.sh's start_cluster): the steps
# both benchmarks take per size. Expects ROOT, CLUSTER, PSQL and PORT.
#   load_database SIZE          a fresh database bench_SIZE, migrated, SIZE generated sites, vacuum
#                               analyzed; sets DB, URL and LOAD (seconds the generator took).
#   start_server LOG [VAR=...]  the release server on 127.0.0.1:PORT with the benchmark's settings
#                               (extra VAR=VALUE settings override them), waits for /readyz; sets
#                               SERVER_PID and STARTUP (seconds from launch to the first 200 of /readyz).
#   stop_server                 stops it.
#   wrk_figures FILE            "req/s p50_ms p99_ms errors" of a `wrk --latency` output (errors:
#                               non-2xx responses and socket errors).

load_database() {
  local size=$1
  DB="bench_$size"
  URL="postgres://postgres@localhost/$DB?host=$CLUSTER"
  $PSQL -c "drop database if exists $DB" -c "create database $DB"
  DATABASE_URL=$URL "$ROOT/target/release/clinical-sites" migrate >/dev/null
  LOAD=$( { /usr/bin/time -f "%e" env DATABASE_URL="$URL" "$ROOT/target/release/examples/generate" "$size" >/dev/null; } 2>&1 | tail -1)
  $PSQL -d "$DB" -c "vacuum analyze"
}

start_server() {
  local log=$1
  shift
  local started
  started=$(date +%s.%N)
  # Pools of 4: about twice the database's cores, PostgreSQL's own rule of thumb. With 8, the p99 of
  # every query was 10-40% higher in interleaved runs (more backends time-sliced on 2 cores).
  env DATABASE_URL="$URL" BIND_ADDR="127.0.0.1:$PORT" RATE_LIMIT_PER_MINUTE=0 DATABASE_MAX_CONNECTIONS=4 RUST_LOG=warn \
    "$@" "$ROOT/target/release/clinical-sites" serve >>"$log" 2>&1 &
  SERVER_PID=$!
  # Ready once the search index is built (about 20 s at a million sites): wait up to two minutes.
  local deadline=$(($(date +%s) + 120))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; then
      STARTUP=$(python3 -c "import time; print(f'{time.time() - $started:.2f}')")
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server exited; see $log"; tail -5 "$log"; return 1; }
    sleep 0.02
  done
  echo "the server was not ready within two minutes; see $log"
  return 1
}

stop_server() {
  [ -n "${SERVER_PID:-}" ] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

wrk_figures() {
  local file=$1 rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$file")
  p50=$(python3 "$ROOT/bench/latency.py" 50 <"$file")
  p99=$(python3 "$ROOT/bench/latency.py" 99 <"$file")
  errors=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",",""); n+=$4+$6+$8+$10} END {print n+0}' "$file")
  echo "$rps $p50 $p99 $errors"
}
