#!/usr/bin/env bash
# Counters benchmark: the cost of one user's `counters` with a million activities in the
# database (seed --demo --scale 100000), for the user with the most counted elements.
# Prints the statement's execution time in PostgreSQL (median of 50 EXPLAIN ANALYZE runs)
# and the end-to-end latency of the `counters` query over HTTP (wrk, one connection).
#
#   bench/counters.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
. bench/lib.sh
TOKEN=$($BIN token create --user bench@demo.kontor --admin)
start_server

psql "$DATABASE_URL" -qc "VACUUM ANALYZE counter_items" >/dev/null
read -r USER_ID ROWS <<<"$(psql "$DATABASE_URL" -AtF' ' -c \
  'SELECT user_id, count(*) FROM counter_items GROUP BY 1 ORDER BY 2 DESC LIMIT 1')"
echo "activities in the database: $(psql "$DATABASE_URL" -Atc 'SELECT count(*) FROM activities')"
echo "user $USER_ID: $ROWS counted elements, $(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM activities WHERE responsible_id = $USER_ID") activities"

# The statement of src/activity/counters.rs::compute.
STMT="SELECT element_type, pipeline_id, earliest, incoming, idle FROM counter_items WHERE user_id = $USER_ID"
for _ in $(seq 1 50); do
  psql "$DATABASE_URL" -Atc "SET jit = off; EXPLAIN (ANALYZE) $STMT" | sed -n 's/Execution Time: \([0-9.]*\) ms/\1/p'
done | sort -n | awk '{ a[NR] = $1 } END { printf "statement execution (ms): median %.3f, max %.3f\n", a[int((NR + 1) / 2)], a[NR] }'
psql "$DATABASE_URL" -Atc "SET jit = off; EXPLAIN (ANALYZE) $STMT" | head -3

QUERY='{ counters(userId: "user:'"$USER_ID"'") { total { overdue pending idle incoming total } leads { total } deals { total } contacts { total } companies { total } dealsByPipeline { pipeline { id } counters { total } } computedAt } }'
BODY=$(body "$QUERY")
CHECK=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$PORT/graphql")
echo "$CHECK" | grep -q '"errors"' && { echo "query failed: ${CHECK:0:300}"; exit 1; }
echo "counters: ${CHECK:0:200}"
wrk_script
wrk -t1 -c1 -d2s -s "$LUA" "http://127.0.0.1:$PORT/graphql" >/dev/null
echo "end to end over HTTP: $(wrk -t1 -c1 -d"$DURATION" -s "$LUA" "http://127.0.0.1:$PORT/graphql" | grep p50_ms=)"
