#!/usr/bin/env bash
# Search benchmark: 20 typical search-box queries (name prefixes, misspellings, e-mail parts,
# phone parts, company titles) against about 1,000,000 elements (seed --demo --scale 435000:
# 435,000 deals, 87,000 companies, 261,000 contacts, 217,500 leads), each run REPEAT times
# one after another over one keep-alive connection, as the admin and as a user whose role
# reads at DEPARTMENT level (a department of 20 of the 200 seeded users). Prints p50 and p95
# per user over all runs, and per query.
#
#   bench/search.sh
#   SCALE=100000 REPEAT=10 bench/search.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SCALE=${SCALE:-435000}
export BENCH_DB=${BENCH_DB:-kontor_search_bench}
REPEAT=${REPEAT:-20}
. bench/lib.sh
echo "elements: $(psql "$DATABASE_URL" -Atc "SELECT (SELECT count(*) FROM leads) + (SELECT count(*) FROM contacts)
  + (SELECT count(*) FROM companies) + (SELECT count(*) FROM deals)")"
for t in leads contacts companies deals communications; do psql "$DATABASE_URL" -qc "VACUUM ANALYZE $t"; done
ADMIN=$($BIN token create --user bench@demo.kontor --admin)
start_server
URL="http://127.0.0.1:$PORT/graphql"

gql() {
  curl -fs "$URL" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2])}))' "$1" "$2")"
}
# The DEPARTMENT-level user: user1 of the seed, in a department with 19 colleagues.
REP=$(psql "$DATABASE_URL" -Atc "SELECT email FROM users WHERE email LIKE 'user1.%@demo.kontor' ORDER BY id LIMIT 1")
if [ "$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM departments WHERE name = 'Search bench'")" = 0 ]; then
  DEPT=$(gql 'mutation { createDepartment(input: { name: "Search bench" }) { id } }' '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createDepartment"]["id"])')
  psql "$DATABASE_URL" -qc "UPDATE users SET department_id = ${DEPT#department:} WHERE id IN
    (SELECT id FROM users WHERE email LIKE 'user%.%@demo.kontor' ORDER BY id LIMIT 20)"
  ROLE=$(gql 'mutation { createRole(name: "Search bench") { id } }' '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createRole"]["id"])')
  gql 'mutation($r: ID!) { setRolePermissions(roleId: $r, permissions: [
        { elementType: LEAD, action: READ, level: DEPARTMENT }, { elementType: CONTACT, action: READ, level: DEPARTMENT },
        { elementType: COMPANY, action: READ, level: DEPARTMENT }, { elementType: DEAL, action: READ, level: DEPARTMENT }]) { id } }' \
    "{\"r\": \"$ROLE\"}" >/dev/null
  REP_ID=$(psql "$DATABASE_URL" -Atc "SELECT id FROM users WHERE email = '$REP'")
  gql 'mutation($u: ID!, $r: [ID!]!) { assignRoles(userId: $u, roleIds: $r) { id } }' "{\"u\": \"user:$REP_ID\", \"r\": [\"$ROLE\"]}" >/dev/null
fi
REP_TOKEN=$($BIN token create --user "$REP")
echo "department user $REP reads $(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM deals WHERE assigned_to_id IN
  (SELECT id FROM users WHERE department_id = (SELECT department_id FROM users WHERE email = '$REP'))") deals"

python3 - "$URL" "$REPEAT" "$ADMIN" "$REP_TOKEN" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
url, repeat, tokens = sys.argv[1], int(sys.argv[2]), {"admin": sys.argv[3], "department": sys.argv[4]}
queries = [
    ("name prefix", "fisch"), ("name prefix", "Anna Sch"), ("name prefix", "kowal"), ("name prefix", "nov"),
    ("full name", "Greta Berg"), ("name prefix", "yilm"),
    ("misspelling", "Fischr"), ("misspelling", "Kowalsky"), ("misspelling", "Dubios"), ("misspelling", "Ivanowa"),
    ("e-mail part", "anna.schmidt"), ("e-mail part", "berg1234@"), ("e-mail whole", "greta.berg2407@example.com"),
    ("e-mail part", "@example.com"),
    ("phone part", "+49 30 1001"), ("phone part", "151 1000 12"), ("phone whole", "+49 30 1012345"),
    ("phone part", "10005"),
    ("company title", "Initech"), ("company title", "Vandelay Group"),
]
doc = "query($q: String!) { search(query: $q, first: 20) { elementType score matchedOn snippet element { __typename } } }"
u = urllib.parse.urlparse(url)
for who, token in tokens.items():
    conn = http.client.HTTPConnection(u.hostname, u.port)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    def run(q):
        body = json.dumps({"query": doc, "variables": {"q": q}})
        t = time.perf_counter()
        conn.request("POST", u.path, body, headers)
        r = conn.getresponse()
        data = json.loads(r.read())
        ms = (time.perf_counter() - t) * 1000
        if "errors" in data:
            sys.exit(f"{q!r}: {data['errors']}")
        return ms, len(data["data"]["search"])
    for _, q in queries:  # warm-up
        run(q)
    every = []
    rows = []
    for kind, q in queries:
        times = []
        for _ in range(repeat):
            ms, hits = run(q)
            times.append(ms)
        every += times
        times.sort()
        rows.append((kind, q, hits, statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]))
    every.sort()
    p50, p95 = statistics.median(every), every[int(len(every) * 0.95) - 1]
    print(f"\n{who}: {len(every)} searches, p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    for kind, q, hits, m, p in rows:
        print(f"  {kind:14} {q!r:32} hits {hits:2}  p50 {m:6.1f} ms  p95 {p:6.1f} ms")
PY
