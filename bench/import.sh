#!/usr/bin/env bash
# Import benchmark: a ROWS-row CSV of leads (names, e-mail, phone, company title; a fifth of
# the rows match existing leads by e-mail or phone) uploaded to a running server into a
# database that already holds SCALE/2 leads, `duplicates: MERGE`, matched by e-mail and phone.
# Prints rows/s end to end (upload to DONE), the server's peak RSS, how far the outbox relay
# was behind when the import finished, and the nested deals query's p99 while the import ran.
#
#   bench/import.sh                         # 100,000 rows into 100,000 leads
#   ROWS=10000 SCALE=20000 bench/import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-100000}
export SCALE=${SCALE:-200000}
export BENCH_DB=${BENCH_DB:-kontor_import_bench}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
. bench/lib.sh
TOKEN=$($BIN token create --user bench@demo.kontor --admin)
start_server

# Earlier runs' leads go, so that every run imports into the same 100,000 leads.
psql -q "$DATABASE_URL" -c "DELETE FROM communications WHERE element_type = 'LEAD' AND element_id IN
    (SELECT element_id FROM import_rows WHERE verdict = 'CREATE');
  DELETE FROM leads WHERE id IN (SELECT element_id FROM import_rows WHERE verdict = 'CREATE');
  DELETE FROM import_jobs;" 2>/dev/null || true

CSV=$(mktemp --suffix=.csv)
trap 'kill $PID 2>/dev/null || true; rm -f "$CSV"' EXIT
MATCH=$((ROWS / 5))
# The demo data gives leads phones only, written by SQL (not normalised the way the server
# does); MATCH leads get an e-mail address here (once), and the file's first MATCH rows carry
# those addresses.
psql -q "$DATABASE_URL" -c "INSERT INTO communications (element_type, element_id, kind, value_type, value, normalized, sort)
  SELECT 'LEAD', id, 'EMAIL', 'WORK', 'lead' || id || '@bench.example', 'lead' || id || '@bench.example', 0
    FROM (SELECT id FROM leads ORDER BY id LIMIT $MATCH) l
   WHERE NOT EXISTS (SELECT 1 FROM communications c WHERE c.element_type = 'LEAD' AND c.element_id = l.id AND c.kind = 'EMAIL')"
# With more rows than the database has leads, every lead is matched once.
MATCH=$(psql "$DATABASE_URL" -Atc "SELECT least($MATCH, count(*)) FROM communications
  WHERE element_type = 'LEAD' AND kind = 'EMAIL' AND normalized LIKE '%@bench.example'")
psql "$DATABASE_URL" -Atc "COPY (
  SELECT 'firstName,lastName,email,phone,companyTitle'
  UNION ALL SELECT * FROM (
    SELECT format('Match%s,Import,%s,+49 30 %s,Firma %s', n, c.normalized, 5000000 + n, n % 997)
      FROM (SELECT normalized, row_number() OVER (ORDER BY element_id) AS n FROM communications
             WHERE element_type = 'LEAD' AND kind = 'EMAIL' AND normalized LIKE '%@bench.example' LIMIT $MATCH) c
    UNION ALL
    SELECT format('New%s,Person%s,new%s@import.example,+49 40 %s,Firma %s', n, n, n, 6000000 + n, n % 997)
      FROM generate_series(1, $ROWS - $MATCH) n) r
) TO STDOUT" > "$CSV"
echo "file: $(($(wc -l < "$CSV") - 1)) rows, $MATCH of them matching, $(du -h "$CSV" | cut -f1)"

QUERY='{ deals(first: 50, orderBy: [{field: CREATED_AT, direction: DESC}]) { edges { node { id title stage { name } company { title } contacts { fullName } assignedTo { name } } } } }'
BODY=$(body "$QUERY")
wrk_script

START=$(date +%s.%N)
RESP=$(curl -s "http://127.0.0.1:$PORT/graphql" -H "Authorization: Bearer $TOKEN" \
  -F operations='{"query":"mutation($f: Upload!, $i: ImportInput!) { startImport(file: $f, input: $i) { id } }","variables":{"f":null,"i":{"elementType":"LEAD","duplicates":"MERGE","matchBy":["EMAIL","PHONE"]}}}' \
  -F map='{"0":["variables.f"]}' -F 0=@"$CSV")
JOB=$(echo "$RESP" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$JOB" ] || { echo "startImport failed: $RESP"; exit 1; }

# The nested deals query beside the import, one connection, until the import ends.
wrk -t1 -c1 -d600s --latency -s "$LUA" "http://127.0.0.1:$PORT/graphql" > /tmp/import-bench-wrk.txt &
WRK=$!
STATE='{"query":"query($id: ID!) { importJob(id: $id) { status processed created updated skipped failed } }","variables":{"id":"'"$JOB"'"}}'
while :; do
  J=$(curl -s "http://127.0.0.1:$PORT/graphql" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$STATE")
  echo "$J" | grep -q '"status":"\(DONE\|FAILED\|CANCELLED\)"' && break
  sleep 1
done
END=$(date +%s.%N)
LAG=$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM events WHERE published_seq IS NULL" 2>/dev/null || echo "?")
kill -INT $WRK 2>/dev/null || true
wait $WRK 2>/dev/null || true
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)

echo "job: $J"
echo "rows/s end to end:        $(awk -v r="$ROWS" -v a="$START" -v b="$END" 'BEGIN { printf "%.0f (%.1f s)", r / (b - a), b - a }')"
echo "server peak RSS (MB):     $(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')"
echo "events not yet relayed:   $LAG"
echo "nested deals beside it:   $(sed -n 's/.*p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\).*/p50 \1 ms, p99 \2 ms/p' /tmp/import-bench-wrk.txt)"
