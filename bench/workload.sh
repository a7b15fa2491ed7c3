#!/usr/bin/env bash
# The realistic workload: bash bench/workload.sh [SIZES...]   (default: 20000 100000 1000000)
#
# For each size: a fresh database on a private PostgreSQL cluster (bench/.workload/cluster, removed
# at the end), migrated and filled by the generator as bench/run.sh does; the release server; an
# administrator and an API key for the write stream; search URLs drawn from the loaded data
# (bench/workload_urls.py), a sample of each class checked for 200 with curl; then each class of
# reads under wrk (random URLs of the class per request, bench/workload.lua) while
# bench/workload_writer.py writes through the API beside it. Results: bench/results/workload-<size>.txt
# and the Markdown table bench/results/workload.md. See bench/README.md, "Realistic workload".
#
# Needs: PostgreSQL server binaries, wrk (apt-get install wrk), python3, curl. Only loopback is
# used. Settings: CLASSES="radius_filters ..." (a subset, in that order) DURATION=20 (seconds per class) CONNECTIONS=32 URLS=20000 (per class)
# DEEP_URLS=2000 WRITE_RATE=10 (writes/s) WRITE_CONNECTIONS=8 SAMPLE=100 (URLs checked per class) SEED=1 PORT=18081.
# PGBOUNCER=transaction|session: the service reaches PostgreSQL through PgBouncer in that mode
# (bench/pgbouncer.sh; PGBOUNCER_STATEMENT_CACHE=0|100, PGBOUNCER_POOL=8); results get the suffix
# -pgbouncer-<mode>.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-20000 100000 1000000}")
read -r -a SIZES <<<"${SIZES[*]}"
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-32}
URLS=${URLS:-20000}
DEEP_URLS=${DEEP_URLS:-2000}
WRITE_RATE=${WRITE_RATE:-10}
WRITE_CONNECTIONS=${WRITE_CONNECTIONS:-8}
SAMPLE=${SAMPLE:-100}
SEED=${SEED:-1}
PORT=${PORT:-18081}
ROOT=$PWD
WORK=$ROOT/bench/.workload
CLUSTER=$WORK/cluster
RESULTS=$ROOT/bench/results
BASE=http://127.0.0.1:$PORT
mkdir -p "$RESULTS" "$WORK"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
# shellcheck source=bench/cluster.sh
source "$ROOT/bench/cluster.sh"
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

echo "== building (release)"
cargo build --release --quiet --bin clinical-sites --example generate

start_cluster "$CLUSTER"
WRITER_PID=
stop_all() {
  [ -n "${WRITER_PID:-}" ] && kill "$WRITER_PID" 2>/dev/null && wait "$WRITER_PID" 2>/dev/null
  if [ -n "${PGBOUNCER_PID:-}" ]; then kill "$PGBOUNCER_PID" 2>/dev/null || true; fi
  stop_cluster
}
trap stop_all EXIT

read -r -a CLASSES <<<"${CLASSES:-radius_filters state_filters text state_filters_facets radius_filters_facets deep_pages}"
declare -A DESCRIBE=(
  [radius_filters]="radius + filters"
  [state_filters]="state + filters"
  [text]="text (q with a typo, half with a state)"
  [state_filters_facets]="state + filters + facets"
  [radius_filters_facets]="radius + filters + facets"
  [deep_pages]="deep pages (cursor URLs, pages 2-10)"
)

SUFFIX=
if [ -n "${PGBOUNCER:-}" ]; then
  # shellcheck source=bench/pgbouncer.sh
  source "$ROOT/bench/pgbouncer.sh"
  SUFFIX=-pgbouncer-$PGBOUNCER
fi
TABLE=$RESULTS/workload$SUFFIX.md
{
  echo "| sites | class | req/s | p50 ms | p99 ms | errors | writes p50 / p99 ms | write failures | mean response bytes | server RSS MB |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} >"$TABLE"

# One figure of a write stream's JSON summary: writer_field FILE KIND FIELD (KIND writes: all three).
writer_field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1]))['kinds'][sys.argv[2]][sys.argv[3]]; print('n/a' if v is None else (f'{v:.1f}' if isinstance(v, float) else v))" "$@"; }

for SIZE in "${SIZES[@]}"; do
  OUT=$RESULTS/workload-$SIZE$SUFFIX.txt
  DIR=$WORK/$SIZE
  rm -rf "$DIR"; mkdir -p "$DIR"
  : >"$OUT"
  echo "== $SIZE sites"
  load_database "$SIZE"
  echo "load_seconds $LOAD" | tee -a "$OUT"

  # The write stream's credential: an administrator (it may change and archive what it creates),
  # signed in once, and an API key made with that session.
  PASSWORD=$(DATABASE_URL=$URL ./target/release/clinical-sites admin create --email workload@example.org \
    --display-name "Workload writer" | awk '/one-time password/ {print $NF}')
  if [ -n "$SUFFIX" ]; then start_pgbouncer "$DIR/pgbouncer"; fi
  start_server "$DIR/server.log"
  echo "startup_seconds $STARTUP" | tee -a "$OUT"
  TOKEN=$(curl -sf "$BASE/v1/sessions" -H 'Content-Type: application/json' \
    -d "{\"email\":\"workload@example.org\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  KEY=$(curl -sf "$BASE/v1/api-keys" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"name":"workload write stream"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

  echo "== drawing $URLS URLs per class from the data"
  python3 bench/workload_urls.py --psql "$PSQL -d $DB" --base "$BASE" --out "$DIR" \
    --count "$URLS" --deep-urls "$DEEP_URLS" --seed "$SEED" | tee -a "$OUT"

  # Every class's URLs, sampled evenly: each must answer 200 (a 400 is a bug in the generator).
  # The sample also gives the mean body size and how many pages come back empty.
  for CLASS in "${CLASSES[@]}"; do
    FILE=$DIR/$CLASS.urls
    LINES=$(wc -l <"$FILE")
    STEP=$(( LINES > SAMPLE ? LINES / SAMPLE : 1 ))
    BYTES=0; CHECKED=0; EMPTY=0
    while IFS= read -r PATHQ; do
      STATUS=$(curl -s -o "$DIR/check.json" -w '%{http_code} %{size_download}' "$BASE$PATHQ")
      if [ "${STATUS%% *}" != 200 ]; then
        echo "$CLASS: $BASE$PATHQ answers ${STATUS%% *}:"; cat "$DIR/check.json"; echo; exit 1
      fi
      BYTES=$((BYTES + ${STATUS##* })); CHECKED=$((CHECKED + 1))
      grep -q '"items":\[\]' "$DIR/check.json" && EMPTY=$((EMPTY + 1))
    done < <(awk -v step="$STEP" 'NR % step == 1 || step == 1' "$FILE" | head -n "$SAMPLE")
    echo "check_$CLASS sampled=$CHECKED all_200=yes mean_body_bytes=$((BYTES / CHECKED)) empty_pages=$EMPTY" | tee -a "$OUT"
  done

  for I in "${!CLASSES[@]}"; do
    CLASS=${CLASSES[$I]}
    echo "== $SIZE sites: ${DESCRIBE[$CLASS]}"
    python3 bench/workload_writer.py --base "$BASE" --key "$KEY" --places "$DIR/places.json" \
      --tag "$I" --seed "$SEED" --rate "$WRITE_RATE" --connections "$WRITE_CONNECTIONS" --json "$DIR/writes-$CLASS.json" \
      >"$DIR/writes-$CLASS.txt" 2>&1 &
    WRITER_PID=$!
    sleep 0.5
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency -s bench/workload.lua "$BASE" \
      -- "$DIR/$CLASS.urls" "$SEED" >"$DIR/wrk-$CLASS.txt"
    kill -TERM "$WRITER_PID" 2>/dev/null || true
    wait "$WRITER_PID" || { echo "the write stream failed:"; cat "$DIR/writes-$CLASS.txt"; exit 1; }
    WRITER_PID=
    RSS=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")
    read -r RPS P50 P99 ERRORS < <(wrk_figures "$DIR/wrk-$CLASS.txt")
    BYTES=$(awk '/^mean_response_bytes/ {print $2}' "$DIR/wrk-$CLASS.txt")
    W="$DIR/writes-$CLASS.json"
    W50=$(writer_field "$W" writes p50_ms); W99=$(writer_field "$W" writes p99_ms)
    WFAIL=$(writer_field "$W" writes failures); WREFUSED=$(writer_field "$W" writes refused_409)
    WCOUNT=$(writer_field "$W" writes count)
    WRATE=$(python3 -c "import json; print(f\"{json.load(open('$W'))['writes_per_second']:.1f}\")")
    echo "class_$CLASS rps=$RPS p50_ms=$P50 p99_ms=$P99 errors=$ERRORS mean_response_bytes=$BYTES" \
      "writes=$WCOUNT writes_per_s=$WRATE writes_p50_ms=$W50 writes_p99_ms=$W99 write_failures=$WFAIL" \
      "refused_409=$WREFUSED server_rss_mb=$RSS" | tee -a "$OUT"
    FAILURES=$WFAIL; [ "$WREFUSED" != 0 ] && FAILURES="$WFAIL (+$WREFUSED refused, 409)"
    echo "| $SIZE | ${DESCRIBE[$CLASS]} | $RPS | $P50 | $P99 | $ERRORS | $W50 / $W99 | $FAILURES | $BYTES | $RSS |" >>"$TABLE"
  done
  HWM=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")
  RSS=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")
  echo "server_rss_mb_end $RSS server_peak_rss_mb $HWM" | tee -a "$OUT"
  stop_server
  if [ -n "$SUFFIX" ]; then stop_pgbouncer; fi
  {
    echo "| $SIZE | load (generate + COPY + indexes + analyze) | $LOAD s | | | | | | | |"
    echo "| $SIZE | server start-up (launch to first 200 of /readyz) | $STARTUP s | | | | | | | |"
    echo "| $SIZE | server memory: VmRSS at the end, VmHWM peak | $RSS MB, $HWM MB | | | | | | | |"
  } >>"$TABLE"

  # The raw outputs, after the figures.
  for CLASS in "${CLASSES[@]}"; do
    { echo; echo "---- $CLASS: wrk"; cat "$DIR/wrk-$CLASS.txt"; echo "---- $CLASS: writes"; cat "$DIR/writes-$CLASS.txt"; } >>"$OUT"
  done
  $PSQL -c "drop database $DB"
done

{
  echo
  echo "Each class: wrk -t2 -c$CONNECTIONS -d${DURATION}s --timeout 10s over $URLS URLs drawn from the data (seed $SEED), beside a write stream of $WRITE_RATE writes/s (creates, patches, archives) through the API; writes p50 / p99 over the writes during that class. Errors: non-2xx responses and socket errors."
} >>"$TABLE"
echo
cat "$TABLE"
