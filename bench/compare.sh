#!/usr/bin/env bash
# Compares two revisions on one search, interleaved, on the same data: the way to tell a change's
# effect from this shared host's drift (which moves whole runs by a third between hours).
#
#   bash bench/compare.sh BEFORE AFTER [SIZE]      e.g. bash bench/compare.sh 0602a66 HEAD 1000000
#
# Builds both revisions (release) in worktrees under bench/.compare, starts a private PostgreSQL,
# loads SIZE sites (default 1,000,000) with BEFORE's generator into one database migrated by
# BEFORE, copies it (`create database ... template`) once for each side, each copy migrated by its
# own binary (AFTER's applies its newer migrations), then runs PAIRS rounds (default 4) of `wrk -t2 -c32 -d$DURATION` on QUERY (default the
# benchmark's (b), the radius search), each round running both servers in turn, alternating which
# goes first. Prints one line per run (name, req/s, p50, p99, errors, the server's CPU
# microseconds per request) and the medians; then, with valgrind, the server's instructions per
# request under callgrind (INSTRUCTIONS requests, default 300; 0 skips it). Needs what bench/run.sh needs.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?usage: bench/compare.sh BEFORE AFTER [SIZE]}
AFTER=${2:?usage: bench/compare.sh BEFORE AFTER [SIZE]}
SIZE=${3:-1000000}
PAIRS=${PAIRS:-4}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18090}
QUERY=${QUERY:-modality=CT&near=43210&radius=60mi&payment=free&insurance_required=false}
ROOT=$PWD
WORK=$ROOT/bench/.compare
CLUSTER=$WORK/cluster
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
# shellcheck source=bench/cluster.sh
source "$ROOT/bench/cluster.sh"

mkdir -p "$WORK"
build() { # rev name: builds rev into $WORK/name/{clinical-sites,generate}
  local rev=$1 name=$2 tree=$WORK/tree-$2
  git worktree remove --force "$tree" 2>/dev/null || true
  git worktree add --detach -q "$tree" "$rev"
  # One target folder for both: the dependencies are built once.
  (cd "$tree" && CARGO_TARGET_DIR=$WORK/target cargo build --release --quiet --bin clinical-sites --example generate)
  mkdir -p "$WORK/$name"
  cp "$WORK/target/release/clinical-sites" "$WORK/target/release/examples/generate" "$WORK/$name/"
  git worktree remove --force "$tree"
}
echo "== building $BEFORE and $AFTER (release)"
build "$BEFORE" before
build "$AFTER" after

start_cluster "$CLUSTER"
url() { echo "postgres://postgres@localhost/$1?host=$CLUSTER"; }

echo "== loading $SIZE sites"
$PSQL -c "create database cmp_base"
DATABASE_URL=$(url cmp_base) "$WORK/before/clinical-sites" migrate >/dev/null
DATABASE_URL=$(url cmp_base) "$WORK/before/generate" "$SIZE" >/dev/null
# Both sides get a copy made the same way, each migrated by its own binary.
for NAME in before after; do
  $PSQL -c "create database cmp_$NAME template cmp_base"
  DATABASE_URL=$(url "cmp_$NAME") "$WORK/$NAME/clinical-sites" migrate >/dev/null
  $PSQL -d "cmp_$NAME" -c "vacuum analyze"
done
$PSQL -c "drop database cmp_base"

run() { # name: one wrk run against that side's server; prints "name rps p50 p99 errors"
  local name=$1
  DATABASE_URL=$(url "cmp_$name") BIND_ADDR=127.0.0.1:$PORT RATE_LIMIT_PER_MINUTE=0 DATABASE_MAX_CONNECTIONS=4 \
    RUST_LOG=warn "$WORK/$name/clinical-sites" serve >>"$WORK/server-$name.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  local target="http://127.0.0.1:$PORT/v1/sites?$QUERY"
  curl -sf "$target" >/dev/null || { echo "the query fails on $name: $target"; exit 1; }
  wrk -t2 -c"$CONNECTIONS" -d3s "$target" >/dev/null # warm the caches and the pools
  local ticks_before ticks_after
  ticks_before=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$target" >"$WORK/wrk.txt"
  ticks_after=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  p50=$(python3 bench/latency.py 50 <"$WORK/wrk.txt")
  p99=$(python3 bench/latency.py 99 <"$WORK/wrk.txt")
  errors=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",",""); n+=$4+$6+$8+$10} END {print n+0}' "$WORK/wrk.txt")
  # The server's own CPU (user + system) per request, in microseconds: PostgreSQL's is not in it.
  local requests cpu_us
  requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
  cpu_us=$(python3 -c "print(round(($ticks_after - $ticks_before) / $(getconf CLK_TCK) * 1e6 / max($requests, 1)))")
  echo "$name $rps $p50 $p99 $errors $cpu_us"
}

echo "== $PAIRS interleaved rounds of $DURATION s: $QUERY"
: >"$WORK/runs.txt"; : >"$WORK/instructions.txt"
for ROUND in $(seq "$PAIRS"); do
  if [ $((ROUND % 2)) = 1 ]; then ORDER="before after"; else ORDER="after before"; fi
  for NAME in $ORDER; do run "$NAME" | tee -a "$WORK/runs.txt"; done
done
# The server's instructions per request under callgrind (valgrind), sequential requests after a
# warm-up: repeatable to a fraction of a percent whatever the host is doing, unlike req/s.
if [ "${INSTRUCTIONS:-300}" -gt 0 ] && command -v valgrind >/dev/null; then
  echo "== server instructions per request (callgrind, ${INSTRUCTIONS:-300} requests)"
  for NAME in before after; do
    rm -f "$WORK"/callgrind.out.*
    DATABASE_URL=$(url "cmp_$NAME") BIND_ADDR=127.0.0.1:$PORT RATE_LIMIT_PER_MINUTE=0 DATABASE_MAX_CONNECTIONS=2 \
      RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out.%p" \
      "$WORK/$NAME/clinical-sites" serve >>"$WORK/server-$NAME.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
    for _ in $(seq 30); do curl -sf "http://127.0.0.1:$PORT/v1/sites?$QUERY" >/dev/null; done
    callgrind_control -i on "$SERVER_PID" >/dev/null 2>&1
    for _ in $(seq "${INSTRUCTIONS:-300}"); do curl -sf "http://127.0.0.1:$PORT/v1/sites?$QUERY" >/dev/null; done
    callgrind_control -i off "$SERVER_PID" >/dev/null 2>&1
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    TOTAL=$(grep -h "^totals:" "$WORK"/callgrind.out.* | awk '{s += $2} END {print s}')
    echo "$NAME instructions per request: $((TOTAL / ${INSTRUCTIONS:-300}))" | tee -a "$WORK/instructions.txt"
  done
fi
python3 - "$WORK/runs.txt" "$BEFORE" "$AFTER" "$SIZE" <<'EOF'
import statistics, sys
runs, before, after, size = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [line.split() for line in open(runs) if line.strip()]
print(f"\n| {size} sites | req/s (median) | p50 ms | p99 ms | errors | server CPU µs/request | runs (req/s) |")
print("|---|---|---|---|---|---|---|")
for name, rev in (("before", before), ("after", after)):
    mine = [r for r in rows if r[0] == name]
    med = lambda i: statistics.median(float(r[i]) for r in mine)
    print(f"| {name} ({rev}) | {med(1):.0f} | {med(2):.1f} | {med(3):.1f} | {sum(int(r[4]) for r in mine)} | {med(5):.0f} | "
          + ", ".join(f"{float(r[1]):.0f}" for r in mine) + " |")
EOF
