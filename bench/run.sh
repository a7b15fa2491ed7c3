#!/usr/bin/env bash
# The search benchmark: bash bench/run.sh [SIZES...]   (default: 10000 100000 1000000)
#
# For each size: a fresh database on a private PostgreSQL cluster (bench/.cluster, removed at the
# end), migrated, filled by the generator (timed), then the release server under wrk (32
# connections, 30 s per query) for the fixed query mix, and the same SQL under pgbench for (a) and
# (b). Results: bench/results/<size>.txt and a Markdown table on standard output.
#
# Needs: PostgreSQL server binaries and pgbench, wrk (apt-get install wrk), python3.
# Only loopback is used. DURATION=30 CONNECTIONS=32 can be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-10000 100000 1000000}")
read -r -a SIZES <<<"${SIZES[*]}"
DURATION=${DURATION:-30}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18080}
ROOT=$PWD
CLUSTER=$ROOT/bench/.cluster
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
# shellcheck source=bench/cluster.sh
source "$ROOT/bench/cluster.sh"
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

echo "== building (release)"
cargo build --release --quiet --bin clinical-sites --example generate

start_cluster "$CLUSTER"

# The query mix. (e) is filled in per size: a page 50 pages deep, reached through cursors.
declare -A QUERY=(
  [a]="modality=CT&state=OH"
  [b]="modality=CT&near=43210&radius=60mi&payment=free&insurance_required=false"
  [c]="q=riverside%20radiolgy"
  [d]="modality=CT&state=OH&facets=modality,site_type,payment"
)
DESCRIBE_a="modality + state, first page"
DESCRIBE_b="modality + 60 mi around a ZIP + free + no insurance"
DESCRIBE_c="q with a typo"
DESCRIBE_d="(a) with facets"
DESCRIBE_e="(a) 50 pages deep via cursor"

TABLE=$RESULTS/table.md
echo "| sites | query | req/s | p50 ms | p99 ms | errors | pgbench tps | API ÷ pgbench | server peak RSS MB |" >"$TABLE"
echo "|---|---|---|---|---|---|---|---|---|" >>"$TABLE"

# How fast this machine is right now: on a shared host the same build varies by a third between
# hours. pgbench's `select 1` at the benchmark's concurrency, before and after, lets runs be compared.
calibrate() {
  echo "select 1;" >"$RESULTS/calibrate.sql"
  pgbench -h "$CLUSTER" -U postgres -n -M prepared -c "$CONNECTIONS" -j 2 -T 5 -f "$RESULTS/calibrate.sql" postgres 2>&1 |
    awk '/^tps/ {printf "%.0f", $3; exit}'
}
CALIBRATION_BEFORE=$(calibrate)
echo "calibration: pgbench select 1 at $CONNECTIONS connections: $CALIBRATION_BEFORE tps"

for SIZE in "${SIZES[@]}"; do
  OUT=$RESULTS/$SIZE.txt
  : >"$OUT"
  echo "== $SIZE sites"
  load_database "$SIZE"
  echo "load_seconds $LOAD" | tee -a "$OUT"

  : >"$RESULTS/server-$SIZE.log"
  start_server "$RESULTS/server-$SIZE.log"

  # (e): follow next_cursor 50 times (or to the last page, on small data).
  NEXT="/v1/sites?${QUERY[a]}&sort=name"
  for _ in $(seq 50); do
    CURSOR=$(curl -sf "http://127.0.0.1:$PORT$NEXT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")')
    [ -z "$CURSOR" ] && break
    NEXT="/v1/sites?${QUERY[a]}&sort=name&cursor=$CURSOR"
  done
  QUERY[e]="${NEXT#/v1/sites?}"

  for KEY in a b c d e; do
    TARGET="http://127.0.0.1:$PORT/v1/sites?${QUERY[$KEY]}"
    curl -sf "$TARGET" >/dev/null || { echo "query $KEY fails: $TARGET"; exit 1; }
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$TARGET" >"$RESULTS/wrk-$SIZE-$KEY.txt"
    read -r RPS P50 P99 ERRORS < <(wrk_figures "$RESULTS/wrk-$SIZE-$KEY.txt")
    echo "query_$KEY rps=$RPS p50_ms=$P50 p99_ms=$P99 errors=$ERRORS" | tee -a "$OUT"
    eval "RPS_$KEY=$RPS P50_$KEY=$P50 P99_$KEY=$P99 ERR_$KEY=$ERRORS"
  done
  RSS=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")
  echo "server_peak_rss_mb $RSS" | tee -a "$OUT"

  # The same SQL through pgbench: capture one request's statements from the server's own log.
  for KEY in a b; do
    $PSQL -d "$DB" -c "alter database $DB set log_min_duration_statement = 0"
    sleep 0.2
    MARK=$(wc -l <"$CLUSTER/postgres.log")
    # New connections pick up the setting: restart the pool by asking the server on a fresh one.
    stop_server
    start_server "$RESULTS/server-$SIZE.log" DATABASE_MAX_CONNECTIONS=1
    # Planned as the API plans both: on the pool that reuses generic plans (src/db.rs).
    export PGOPTIONS="-c plan_cache_mode=force_generic_plan -c max_parallel_workers_per_gather=0"
    # PostgreSQL writes a log line longer than a pipe's atomic write in pieces, so another backend's
    # line (the server's tally compaction, every 5 s) can land inside the statement's: a capture
    # that does not run once as it is gets taken again.
    for ATTEMPT in 1 2 3 4 5; do
      MARK=$(wc -l <"$CLUSTER/postgres.log")
      curl -sf "http://127.0.0.1:$PORT/v1/sites?${QUERY[$KEY]}" >/dev/null
      sleep 0.3
      tail -n +"$((MARK + 1))" "$CLUSTER/postgres.log" |
        python3 bench/capture_sql.py "$RESULTS/pgbench-$KEY.params" >"$RESULTS/pgbench-$KEY.sql"
      DEFINES=()
      while IFS= read -r DEFINITION; do DEFINES+=(-D "$DEFINITION"); done <"$RESULTS/pgbench-$KEY.params"
      pgbench -h "$CLUSTER" -U postgres -n -M prepared -t 1 "${DEFINES[@]}" -f "$RESULTS/pgbench-$KEY.sql" \
        "$DB" >/dev/null 2>&1 && break
      [ "$ATTEMPT" = 5 ] && { echo "could not capture the SQL of ($KEY)"; exit 1; }
    done
    $PSQL -d "$DB" -c "alter database $DB reset log_min_duration_statement"
    pgbench -h "$CLUSTER" -U postgres -n -M prepared -c "$CONNECTIONS" -j 2 -T "$DURATION" \
      "${DEFINES[@]}" -f "$RESULTS/pgbench-$KEY.sql" "$DB" >"$RESULTS/pgbench-$SIZE-$KEY.txt" 2>&1
    unset PGOPTIONS
    TPS=$(awk '/^tps/ {print $3; exit}' "$RESULTS/pgbench-$SIZE-$KEY.txt")
    echo "pgbench_$KEY tps=$TPS" | tee -a "$OUT"
    eval "TPS_$KEY=$TPS"
  done
  stop_server

  for KEY in a b c d e; do
    eval "RPS=\$RPS_$KEY P50=\$P50_$KEY P99=\$P99_$KEY ERR=\$ERR_$KEY"
    DESCRIBE=$(eval echo "\$DESCRIBE_$KEY")
    if [ "$KEY" = a ] || [ "$KEY" = b ]; then
      eval "TPS=\$TPS_$KEY"
      RATIO=$(python3 -c "print(f'{$RPS / $TPS:.0%}')")
    else
      TPS="—"; RATIO="—"
    fi
    echo "| $SIZE | ($KEY) $DESCRIBE | $RPS | $P50 | $P99 | $ERR | $TPS | $RATIO | $RSS |" >>"$TABLE"
  done
  echo "| $SIZE | load (generate + COPY + indexes + analyze) | $LOAD s | | | | | | |" >>"$TABLE"
  $PSQL -c "drop database $DB"
done

CALIBRATION_AFTER=$(calibrate)
echo >>"$TABLE"
echo "Machine speed (pgbench \`select 1\`, $CONNECTIONS connections): $CALIBRATION_BEFORE tps before, $CALIBRATION_AFTER tps after." >>"$TABLE"
echo
cat "$TABLE"
