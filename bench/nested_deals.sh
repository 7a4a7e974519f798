#!/usr/bin/env bash
# First benchmark: a nested `deals(first: 50)` query (contacts, company, stage, assignee)
# against 100,000 seeded deals, driven by wrk at concurrency 32 for 20 s.
# Prints requests/s, p50/p99 latency, SQL statements per request and the server's peak RSS.
#
#   bench/nested_deals.sh            # seeds kontor_bench once, then measures
#   SCALE=10000 DURATION=10s bench/nested_deals.sh
#   AS_USER=rep@demo.kontor bench/nested_deals.sh   # as a non-admin user
#   TOTAL=1 bench/nested_deals.sh                   # with totalCount
#   AS_LEVEL=DEPARTMENT bench/nested_deals.sh       # as a non-admin whose role reads its department
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
. bench/lib.sh
if [ -n "${AS_LEVEL:-}" ]; then
  # A department of the first 10 demo users (a fifth of the deals) and a role that reads
  # every element type at AS_LEVEL, given to the first of them.
  psql -q "$DATABASE_URL" -v level="$AS_LEVEL" <<'SQL'
INSERT INTO departments (name) SELECT 'Bench department' WHERE NOT EXISTS (SELECT 1 FROM departments WHERE name = 'Bench department');
UPDATE users SET department_id = (SELECT min(id) FROM departments WHERE name = 'Bench department')
 WHERE id IN (SELECT id FROM users WHERE email LIKE 'user%@demo.kontor' ORDER BY id LIMIT 10);
INSERT INTO roles (name) SELECT 'Bench level' WHERE NOT EXISTS (SELECT 1 FROM roles WHERE name = 'Bench level');
DELETE FROM role_permissions WHERE role_id = (SELECT id FROM roles WHERE name = 'Bench level');
INSERT INTO role_permissions (role_id, element_type, action, level)
 SELECT (SELECT id FROM roles WHERE name = 'Bench level'), t, 'READ', :'level' FROM unnest(ARRAY['LEAD','CONTACT','COMPANY','DEAL']) t;
DELETE FROM user_roles WHERE user_id = (SELECT min(id) FROM users WHERE email LIKE 'user%@demo.kontor');
INSERT INTO user_roles SELECT (SELECT min(id) FROM users WHERE email LIKE 'user%@demo.kontor'), (SELECT id FROM roles WHERE name = 'Bench level');
SQL
  AS_USER=$(psql "$DATABASE_URL" -Atc "SELECT email FROM users WHERE email LIKE 'user%@demo.kontor' ORDER BY id LIMIT 1")
fi
if [ -n "${AS_USER:-}" ]; then
  TOKEN=$($BIN token create --user "$AS_USER")
else
  TOKEN=$($BIN token create --user bench@demo.kontor --admin)
fi

start_server

# TOTAL=1 adds totalCount, which costs a count over every visible deal per request.
QUERY='{ deals(first: 50, orderBy: [{field: CREATED_AT, direction: DESC}]) { '"${TOTAL:+totalCount }"'edges { cursor node { id title opportunity currency stage { name semantics } company { id title } contacts { id fullName } assignedTo { id name } } } pageInfo { hasNextPage endCursor } } }'
BODY=$(body "$QUERY")

# One request first: it must succeed and carry no errors (HTTP 200 can carry errors).
CHECK=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$PORT/graphql")
echo "$CHECK" | grep -q '"errors"' && { echo "query failed: ${CHECK:0:300}"; exit 1; }
echo "$CHECK" | grep -q '"edges"' || { echo "unexpected response: ${CHECK:0:300}"; exit 1; }

wrk_script

# Warm-up so pools and statement caches are filled.
wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s "$LUA" "http://127.0.0.1:$PORT/graphql" >/dev/null
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^kontor_sql_statements_total/ {print $2}'; }
BEFORE=$(metric)
OUT=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$LUA" "http://127.0.0.1:$PORT/graphql")
AFTER=$(metric)
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)

echo "$OUT"
REQS=$(echo "$OUT" | awk -F'requests=' '/requests=/ {print $2}')
RPS=$(echo "$OUT" | awk '/Requests\/sec/ {print $2}')
P50=$(echo "$OUT" | sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p')
P99=$(echo "$OUT" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p')
NON2XX=$(echo "$OUT" | awk '/Non-2xx/ {print $NF}')
echo
echo "requests/s:              $RPS"
echo "latency p50 / p99 (ms):  $P50 / $P99"
echo "SQL statements/request:  $(awk -v a="$BEFORE" -v b="$AFTER" -v r="$REQS" 'BEGIN { printf "%.2f", (b - a) / r }')"
echo "server peak RSS (MB):    $(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')"
echo "non-2xx responses:       ${NON2XX:-0}"
