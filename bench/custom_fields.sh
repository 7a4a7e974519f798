#!/usr/bin/env bash
# Custom-field filters on 100,000 deals (seed --demo --scale 100000): a single INTEGER field
# UF_SEATS (0..999) and a multiple STRING field UF_TAGS (two tags out of 500 and 77) on every
# deal. For each filter, `deals(first: 50, filter: {customField: …})` over HTTP: rows returned,
# requests/s and latency (wrk, 8 connections). tests/api/custom_fields.rs checks the plans' indexes.
#
#   bench/custom_fields.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-8}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
. bench/lib.sh
TOKEN=$($BIN token create --user bench@demo.kontor --admin)
start_server

gql() {
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$1" "http://127.0.0.1:$PORT/graphql"
}
# The fields come through the API (that creates their indexes); an existing field is a CONFLICT.
gql "$(body 'mutation { createCustomField(elementType: DEAL, input: {code: "UF_SEATS", label: "Seats", type: INTEGER}) { id } }')" >/dev/null
gql "$(body 'mutation { createCustomField(elementType: DEAL, input: {code: "UF_TAGS", label: "Tags", type: STRING, multiple: true}) { id } }')" >/dev/null
# Values are written in one statement rather than 100,000 mutations.
psql -q "$DATABASE_URL" <<'SQL'
UPDATE deals SET custom = custom || jsonb_build_object('UF_SEATS', id % 1000, 'UF_TAGS', jsonb_build_array('t' || (id % 500), 'u' || (id % 77)))
 WHERE NOT custom ? 'UF_SEATS';
VACUUM ANALYZE deals;
SQL

run() {
  local name=$1 filter=$2
  BODY=$(body "{ deals(first: 50, filter: {customField: $filter}) { edges { node { id title customField(code: \"UF_SEATS\") } } } }")
  local check
  check=$(gql "$BODY")
  echo "$check" | grep -q '"errors"' && { echo "query failed: ${check:0:300}"; exit 1; }
  wrk_script
  wrk -t2 -c"$CONNECTIONS" -d2s -s "$LUA" "http://127.0.0.1:$PORT/graphql" >/dev/null
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$LUA" "http://127.0.0.1:$PORT/graphql")
  printf '%-18s %5s rows  %8s req/s  %s\n' "$name" "$(echo "$check" | grep -o '"node"' | wc -l)" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "$out" | grep -o 'p50_ms=[0-9.]* p99_ms=[0-9.]*')"
}

run "UF_SEATS eq 7" '{code: "UF_SEATS", eq: 7}'
run "UF_TAGS eq t7" '{code: "UF_TAGS", eq: "t7"}'
run "UF_SEATS in 7, 8" '{code: "UF_SEATS", in: [7, 8]}'
run "UF_SEATS gt 990" '{code: "UF_SEATS", gt: 990}'
run "UF_TAGS lt t1" '{code: "UF_TAGS", lt: "t1"}'
