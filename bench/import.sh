#!/usr/bin/env bash
# The import benchmark: `bash bench/import.sh [ROWS]` (default 100000). In a private PostgreSQL
# (bench/cluster.sh), a fresh migrated database, an import file of ROWS synthetic sites
# (bench/import_file.py: CSV, every row valid and distinct), then, timed with the release binary:
#   1. `clinical-sites import FILE` into the empty database (every row created);
#   2. the same file again with `--upsert-by npi` (every row matched, none changed);
#   3. the file with every fee changed, `--upsert-by external_id` (every row updated);
#   4. the file with one bad row at the end (everything checked, nothing written).
# Prints seconds and rows per second for each; writes bench/results/import-ROWS.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${1:-100000}
source "$ROOT/bench/cluster.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cs-import-XXXXXX")
chmod 755 "$WORK"
start_cluster "$WORK/pg"
(cd "$ROOT" && cargo build --release --quiet)
DB=bench_import
URL="postgres://postgres@localhost/$DB?host=$WORK/pg"
$PSQL -c "drop database if exists $DB" -c "create database $DB"
DATABASE_URL=$URL "$ROOT/target/release/clinical-sites" migrate >/dev/null

python3 "$ROOT/bench/import_file.py" "$ROWS" >"$WORK/sites.csv"
python3 - "$WORK/sites.csv" "$WORK/changed.csv" <<'PY'
import csv, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w", newline="") as out:
    rows = csv.reader(f); writer = csv.writer(out, lineterminator="\n")
    header = next(rows); writer.writerow(header)
    payment, fee = header.index("payment"), header.index("fee_usd")
    for row in rows:
        row[payment], row[fee] = "fee", "75"
        writer.writerow(row)
PY
{ cat "$WORK/sites.csv"; echo "Broken Row,spaceship,,Nowhere,ZZ,00000,,,,,,,,,,,,"; } >"$WORK/broken.csv"
echo "== $ROWS rows, $(du -h "$WORK/sites.csv" | cut -f1) of CSV"

timed() {
  local label=$1; shift
  local started ended status=0
  started=$(date +%s.%N)
  DATABASE_URL=$URL "$ROOT/target/release/clinical-sites" import "$@" >"$WORK/out.txt" 2>&1 || status=$?
  ended=$(date +%s.%N)
  python3 -c "s=$ended-$started; print(f'$label: {s:.1f} s, {$ROWS/s:,.0f} rows/s (exit $status)')" | tee -a "$WORK/figures.txt"
  tail -1 "$WORK/out.txt" | tee -a "$WORK/figures.txt"
}
: >"$WORK/figures.txt"
timed "1. import into an empty database" "$WORK/sites.csv"
timed "2. again, --upsert-by npi (all unchanged)" "$WORK/sites.csv" --upsert-by npi
timed "3. every fee changed, --upsert-by external_id (all updated)" "$WORK/changed.csv" --upsert-by external_id
timed "4. one bad row at the end (nothing written)" "$WORK/broken.csv" --upsert-by npi
$PSQL -d "$DB" -t -c "select count(*) || ' sites, ' || (select count(*) from site_change) || ' history entries' from site"
mkdir -p "$ROOT/bench/results"
cp "$WORK/figures.txt" "$ROOT/bench/results/import-$ROWS.txt"
rm -rf "$WORK/sites.csv" "$WORK/changed.csv" "$WORK/broken.csv"
