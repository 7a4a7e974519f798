# Shared set-up of the benchmarks (sourced): a release build (or BIN=), the kontor_bench
# database seeded at SCALE deals, and `start_server` to serve it on PORT.
SCALE=${SCALE:-100000}
SERVE_ARGS=${SERVE_ARGS:-}
PORT=${PORT:-18181}
DB=${BENCH_DB:-kontor_bench}
BASE=${BENCH_PG:-postgres://127.0.0.1:5432}
export DATABASE_URL="$BASE/$DB"

# BIN=path/to/kontor measures another build (e.g. an older commit) on the same data.
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -q
  BIN=target/release/kontor
fi

if [ "$(psql "$DATABASE_URL" -Atc 'SELECT count(*) FROM deals' 2>/dev/null || echo 0)" -lt "$SCALE" ]; then
  echo "seeding $SCALE deals into $DB"
  psql "$BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  $BIN seed --demo --scale "$SCALE"
fi
$BIN migrate >/dev/null

start_server() {
  KONTOR_LISTEN=127.0.0.1:$PORT RUST_LOG=warn $BIN serve $SERVE_ARGS >/dev/null 2>&1 &
  PID=$!
  trap 'kill $PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
}

# A wrk script that POSTs $BODY with $TOKEN and prints "p50_ms=… p99_ms=… requests=…".
wrk_script() {
  LUA=$(mktemp --suffix=.lua)
  cat > "$LUA" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = [[$BODY]]
done = function(summary, latency, requests)
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f requests=%d\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests))
end
LUA
}

# The GraphQL request body for a query.
body() {
  jq -cn --arg q "$1" '{query: $q}' 2>/dev/null || python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1"
}
