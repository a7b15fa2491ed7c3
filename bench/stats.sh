#!/usr/bin/env bash
# The statistics benchmark: bash bench/stats.sh [REPORTS] [RESPONDENTS] [SITES]
#   (default: 1000000 reports from 300000 members over 20000 sites)
#
# A fresh database on a private PostgreSQL cluster (bench/.stats/cluster, removed at the end):
# SITES generated sites (made non-demo: demo sites' reports never count), RESPONDENTS respondents
# and REPORTS reports loaded with SQL in the survey's rough proportions, then
# `clinical-sites recount-reports` (timed) counts them into the running counts and the sites'
# summaries. Then the release server, and under wrk at concurrency 8:
#   - one class per `group_by` (none, state, modality, year), each request with one random filter
#     of the six kinds (none, modality, state, site_type, since, until) and random values;
#   - two filters together (modality and state, or since and until), counted afresh;
# and report writes through the API (bench/report_writer.py), alone and beside the reads.
# Results: bench/results/stats.txt and the Markdown table bench/results/stats.md.
#
# Needs: PostgreSQL server binaries, wrk, python3, curl. Settings: DURATION=15 (seconds per class)
# CONNECTIONS=8 WRITE_RATE=20 (reports/s) MEMBERS=200 (members writing, each a few reports, as members do)
# SEED=1 PORT=18082.
set -euo pipefail
cd "$(dirname "$0")/.."
REPORTS=${1:-1000000}
RESPONDENTS=${2:-300000}
SITES=${3:-20000}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-8}
WRITE_RATE=${WRITE_RATE:-20}
MEMBERS=${MEMBERS:-200}
SEED=${SEED:-1}
PORT=${PORT:-18082}
ROOT=$PWD
WORK=$ROOT/bench/.stats
CLUSTER=$WORK/cluster
RESULTS=$ROOT/bench/results
BASE=http://127.0.0.1:$PORT
OUT=$RESULTS/stats.txt
TABLE=$RESULTS/stats.md
mkdir -p "$RESULTS" "$WORK"
: >"$OUT"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
# shellcheck source=bench/cluster.sh
source "$ROOT/bench/cluster.sh"
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

echo "== building (release)"
cargo build --release --quiet --bin clinical-sites --example generate
start_cluster "$CLUSTER"

echo "== $SITES sites, $RESPONDENTS respondents, $REPORTS reports"
load_database "$SITES"
STARTED=$(date +%s.%N)
$PSQL -d "$DB" <<SQL
update site set source = 'import' where source = 'demo';
select setseed(0.$SEED);
insert into respondent (respondent_id) select gen_random_uuid() from generate_series(1, $RESPONDENTS);
create temp table r as select respondent_id, row_number() over (order by respondent_id) as n from respondent;
create temp table s as select site_id, row_number() over (order by site_id) as n from site;
create index on r (n);
create index on s (n);
insert into site_report (site_report_id, site_id, respondent_id, modality, year, route, paid, paid_usd,
                         hipaa_source, insurance_needed, accepted_independent, would_recommend)
select gen_random_uuid(), s.site_id, r.respondent_id,
       (array['ct','ct','ct','mri','mri','mammography','nuclear_medicine','radiation_therapy','sonography',
              'vascular_interventional','bone_densitometry'])[1 + floor(random() * 11)::int],
       2005 + floor(random() * 21)::int,
       case when x < 0.66 then array['employer'] when x < 0.88 then array['educational_program']
            when x < 0.94 then array['non_employer_provider'] when x < 0.97 then array['other']
            else array['employer', 'non_employer_provider'] end,
       paid, case when paid then 50 + floor(random() * 2000)::int end,
       (array['employer','employer','employer','employer','employer','employer','employer','employer','employer',
              'employer','employer','employer','employer','clinical_facility','clinical_facility',
              'clinical_facility','educational_program','educational_program','educational_program',
              'unspecified'])[1 + floor(random() * 20)::int],
       random() < 0.21, random() < 0.3, random() < 0.8
  from (select g, random() as x, random() < 0.15 as paid,
               -- Every respondent reports at least once; the rest are drawn at random.
               case when g <= $RESPONDENTS then g else 1 + floor(random() * $RESPONDENTS)::int end as rn,
               1 + floor(random() * $SITES)::int as sn
          from generate_series(1, ($REPORTS * 1.01)::int) g) v
  join r on r.n = v.rn
  join s on s.n = v.sn
on conflict do nothing;
delete from site_report where site_report_id in (
    select site_report_id from site_report offset $REPORTS);
vacuum analyze;
SQL
LOAD=$(python3 -c "import time; print(f'{time.time() - $STARTED:.1f}')")
COUNTED=$($PSQL -d "$DB" -At -c "select count(*) || ' reports from ' || count(distinct respondent_id) || ' respondents' from site_report")
echo "loaded $COUNTED in $LOAD s" | tee -a "$OUT"
RECOUNT_STARTED=$(date +%s.%N)
DATABASE_URL=$URL ./target/release/clinical-sites recount-reports | tee -a "$OUT"
RECOUNT=$(python3 -c "import time; print(f'{time.time() - $RECOUNT_STARTED:.1f}')")
TALLY_ROWS=$($PSQL -d "$DB" -At -c "select count(*) from report_tally")
echo "recount_seconds $RECOUNT tally_rows $TALLY_ROWS" | tee -a "$OUT"
$PSQL -d "$DB" -c "vacuum analyze report_tally"

# The writers' sign-ins all come from this one address.
start_server "$WORK/server.log" SIGN_IN_ATTEMPTS_PER_MINUTE=10000
echo "startup_seconds $STARTUP" | tee -a "$OUT"

echo "== URLs and members"
python3 - "$PSQL -d $DB" "$WORK" "$SEED" <<'PY'
import random, subprocess, sys
psql, work, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
def column(sql):
    return [l for l in subprocess.run(psql.split() + ["-At", "-c", sql], capture_output=True, text=True, check=True).stdout.split("\n") if l]
states = column("select distinct state from site")
modalities = ["ct", "mri", "mammography", "nuclear_medicine", "radiation_therapy", "sonography"]
types = ["hospital", "imaging_center", "clinic", "critical_access_hospital"]
def one_filter():
    kind = rng.choice(["", "modality", "state", "site_type", "since", "until"])
    value = {"": None, "modality": rng.choice(modalities), "state": rng.choice(states),
             "site_type": rng.choice(types), "since": rng.randint(2005, 2025), "until": rng.randint(2005, 2025)}[kind]
    return [] if not kind else [f"{kind}={value}"]
for group in ["none", "state", "modality", "year"]:
    with open(f"{work}/stats-{group}.urls", "w") as out:
        for _ in range(5000):
            params = one_filter() + ([] if group == "none" else [f"group_by={group}"])
            out.write("/v1/stats" + ("?" + "&".join(params) if params else "") + "\n")
with open(f"{work}/stats-two.urls", "w") as out:
    for _ in range(5000):
        if rng.random() < 0.5:
            params = [f"modality={rng.choice(modalities)}", f"state={rng.choice(states)}"]
        else:
            since = rng.randint(2005, 2025)
            params = [f"since={since}", f"until={min(2025, since + rng.randint(0, 3))}"]
        out.write("/v1/stats?" + "&".join(params) + "\n")
with open(f"{work}/ct-sites.txt", "w") as out:
    out.write("\n".join(column("select site_id from site_offer where modality = 'ct' limit 5000")) + "\n")
PY
: >"$WORK/tokens.txt"
for I in $(seq 1 "$MEMBERS"); do
  EMAIL="bench-writer-$I@example.org"; PASS="bench writer password $I $SEED"
  curl -sf "$BASE/v1/accounts" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"display_name\":\"Writer $I\",\"password\":\"$PASS\"}" >/dev/null
  curl -sf "$BASE/v1/sessions" -H 'Content-Type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"$PASS\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >>"$WORK/tokens.txt"
done
for CLASS in none state modality year two; do
  PATHQ=$(head -1 "$WORK/stats-$CLASS.urls")
  STATUS=$(curl -s -o "$WORK/check.json" -w '%{http_code}' "$BASE$PATHQ")
  [ "$STATUS" = 200 ] || { echo "$PATHQ answers $STATUS"; cat "$WORK/check.json"; exit 1; }
done

{
  echo "| class | req/s | p50 ms | p99 ms | errors |"
  echo "|---|---|---|---|---|"
} >"$TABLE"
declare -A DESCRIBE=([none]="one filter, no group_by" [state]="one filter, group_by=state"
  [modality]="one filter, group_by=modality" [year]="one filter, group_by=year"
  [two]="two filters (counted afresh)")

echo "== report writes alone"
python3 bench/report_writer.py --base "$BASE" --tokens "$WORK/tokens.txt" --sites "$WORK/ct-sites.txt" \
  --rate "$WRITE_RATE" --seconds "$DURATION" --seed "$SEED" --json "$WORK/writes-alone.json" | tee -a "$OUT"

for CLASS in none state modality year two; do
  echo "== ${DESCRIBE[$CLASS]}"
  WRITER=
  if [ "$CLASS" = none ]; then
    python3 bench/report_writer.py --base "$BASE" --tokens "$WORK/tokens.txt" --sites "$WORK/ct-sites.txt" \
      --rate "$WRITE_RATE" --seconds "$DURATION" --seed "$((SEED + 1))" --json "$WORK/writes-reads.json" \
      >"$WORK/writes-reads.txt" 2>&1 &
    WRITER=$!
  fi
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency -s bench/workload.lua "$BASE" \
    -- "$WORK/stats-$CLASS.urls" "$SEED" >"$WORK/wrk-$CLASS.txt"
  [ -n "$WRITER" ] && { wait "$WRITER" || { echo "the writer failed:"; cat "$WORK/writes-reads.txt"; exit 1; }; }
  read -r RPS P50 P99 ERRORS < <(wrk_figures "$WORK/wrk-$CLASS.txt")
  echo "class_$CLASS rps=$RPS p50_ms=$P50 p99_ms=$P99 errors=$ERRORS" | tee -a "$OUT"
  echo "| ${DESCRIBE[$CLASS]} | $RPS | $P50 | $P99 | $ERRORS |" >>"$TABLE"
done
cat "$WORK/writes-reads.txt" >>"$OUT"
field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print('n/a' if v is None else (f'{v:.1f}' if isinstance(v, float) else v))" "$@"; }
RSS=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")
stop_server
{
  echo
  echo "| report writes (POST, $WRITE_RATE/s, one connection) | count | p50 ms | p99 ms | max ms | 409 | failures |"
  echo "|---|---|---|---|---|---|---|"
  for RUN in alone reads; do
    W=$WORK/writes-$RUN.json
    LABEL=$([ "$RUN" = alone ] && echo "alone" || echo "beside the reads (first class)")
    echo "| $LABEL | $(field "$W" count) | $(field "$W" p50_ms) | $(field "$W" p99_ms) | $(field "$W" max_ms) | $(field "$W" refused_409) | $(field "$W" failures) |"
  done
  echo
  echo "$COUNTED over $SITES sites; loaded in $LOAD s; \`clinical-sites recount-reports\` $RECOUNT s ($TALLY_ROWS running-count rows); server start-up $STARTUP s, RSS $RSS MB at the end."
  echo "Each class: wrk -t2 -c$CONNECTIONS -d${DURATION}s over 5,000 random URLs of the class (seed $SEED)."
} >>"$TABLE"
for CLASS in none state modality year two; do
  { echo; echo "---- $CLASS: wrk"; cat "$WORK/wrk-$CLASS.txt"; } >>"$OUT"
done
echo
cat "$TABLE"
