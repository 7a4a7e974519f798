#!/usr/bin/env bash
# Webhook delivery benchmark: one endpoint on `lead.*` (FULL payload) pointing at
# bench/webhook_receiver.py on 127.0.0.1, then LEADS leads each created and updated UPDATES
# times back to back by THREADS client threads (bench/webhook_load.py), 2,000 x 5 = 10,000
# events by default.
#   steady: the receiver answers throughout. Prints events/s delivered, commit-to-receipt
#           latency (receipt time minus the body's `timestamp`), and the checks.
#   outage: the receiver is killed (SIGKILL) once a third of the events have arrived, stays
#           down OUTAGE_S seconds while the load goes on (or finishes), then starts again on
#           the same port and log. Prints how long after its return the last event arrived,
#           and the attempts recorded in `webhook_deliveries`.
# Checks (both): every event delivered (the events table is the truth), one webhook-id per
# event, each element's events in order (a repeat of the same event is a retry, allowed),
# no bad signature (the receiver checks them with its own HMAC code), every delivery
# SUCCEEDED in the end, nothing logged at warn or above by the server.
#
#   bench/webhooks.sh                        # both scenarios
#   SCENARIO=outage OUTAGE_S=60 bench/webhooks.sh
#   RATE=100 SCENARIO=outage bench/webhooks.sh   # paced load (mutations/s) that outlasts the outage
#
# Files (receiver logs, server log, figures) go to OUT (/tmp/kontor-webhook-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
export SCALE=${SCALE:-1000}
export BENCH_DB=${BENCH_DB:-kontor_webhook_bench}
export PORT=${PORT:-18191}
SCENARIO=${SCENARIO:-both}
LEADS=${LEADS:-2000}
UPDATES=${UPDATES:-4}
THREADS=${THREADS:-8}
RATE=${RATE:-0}
OUTAGE_S=${OUTAGE_S:-60}
WAIT_MAX=${WAIT_MAX:-900}
RPORT=${RECEIVER_PORT:-18292}
OUT=${OUT:-/tmp/kontor-webhook-bench}
# The receiver is on 127.0.0.1, which webhooks may reach only with this.
export KONTOR_WEBHOOK_ALLOW_PRIVATE=true
. bench/lib.sh
mkdir -p "$OUT"
SERVER_LOG=$OUT/server.log
python3 bench/webhook_receiver.py selftest >/dev/null

# As start_server in bench/lib.sh, but keeping the server's warnings and errors.
PID='' RPID='' LPID='' FAILED=0
cleanup() { for p in $LPID $RPID $PID; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
KONTOR_LISTEN=127.0.0.1:$PORT RUST_LOG=kontor=warn $BIN serve $SERVE_ARGS >>"$SERVER_LOG" 2>&1 &
PID=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
SERVER_LOG_FROM=$(wc -l < "$SERVER_LOG")
TOKEN=$($BIN token create --user bench@demo.kontor --admin)
EVENTS=$((LEADS * (1 + UPDATES)))

gql() { # query, variables (JSON)
  local body
  body=$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2])}))' "$1" "$2")
  curl -s "http://127.0.0.1:$PORT/graphql" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$body"
}
sql() { psql "$DATABASE_URL" -Atc "$1"; }
now() { date +%s.%N; }
# Connections the kernel dropped because a listen queue was full (machine-wide counter).
listen_overflows() { awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "ListenOverflows") c = i; h = 1 } else print $c }' /proc/net/netstat; }

start_receiver() {
  python3 bench/webhook_receiver.py serve --port "$RPORT" --secret "$SECRET" --log "$LOG" >/dev/null 2>&1 &
  RPID=$!
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$RPORT/" && break; sleep 0.1; done
}

scenario() {
  local name=$1
  LOG=$OUT/$name.log
  : > "$LOG"
  # Earlier runs' endpoints go, with their deliveries.
  sql "DELETE FROM webhooks" >/dev/null
  local r
  r=$(gql 'mutation($i: WebhookInput!) { createWebhook(input: $i) { webhook { id } secret } }' \
    '{"i": {"url": "http://127.0.0.1:'"$RPORT"'/hook", "events": ["lead.*"], "payload": "FULL", "name": "bench"}}')
  SECRET=$(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createWebhook"]["secret"])') \
    || { echo "createWebhook failed: $r"; exit 1; }
  local hook
  hook=$(echo "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createWebhook"]["webhook"]["id"].split(":")[1])')
  start_receiver
  local overflows; overflows=$(listen_overflows)

  echo "== $name: $LEADS leads x $((1 + UPDATES)) mutations, $THREADS threads, rate ${RATE:-0}/s (0 = unpaced)"
  python3 bench/webhook_load.py --url "http://127.0.0.1:$PORT/graphql" --token "$TOKEN" --leads "$LEADS" \
    --updates "$UPDATES" --threads "$THREADS" --rate "$RATE" --out "$OUT/$name.load" --ids "$OUT/$name.ids" &
  LPID=$!
  local back=''
  if [ "$name" = outage ]; then
    local t0=$SECONDS
    while [ "$(wc -l < "$LOG")" -lt $((EVENTS / 3)) ]; do
      [ $((SECONDS - t0)) -lt "$WAIT_MAX" ] || { echo "a third of the events never arrived"; exit 1; }
      sleep 0.05
    done
    kill -9 "$RPID"; wait "$RPID" 2>/dev/null || true
    local down; down=$(now)
    echo "receiver killed at $(wc -l < "$LOG") requests received; load still running: $(kill -0 $LPID 2>/dev/null && echo yes || echo no)"
    sleep "$OUTAGE_S"
    start_receiver
    back=$(now)
    echo "receiver back after $(awk -v a="$down" -v b="$back" 'BEGIN { printf "%.1f", b - a }') s; load still running: $(kill -0 $LPID 2>/dev/null && echo yes || echo no)"
  fi
  wait "$LPID" || { echo "the load failed"; exit 1; }
  LPID=''
  cat "$OUT/$name.load"

  # Done when every lead event after the endpoint's start has a delivery and none is open.
  local started=$SECONDS expected_q
  expected_q="FROM events WHERE element_type = 'LEAD' AND action IN ('CREATED','UPDATED','DELETED','CONVERTED','MERGED')
      AND published_seq > (SELECT start_seq FROM webhooks WHERE id = $hook)"
  while :; do
    local state
    state=$(sql "SELECT (SELECT count(*) FROM events WHERE published_seq IS NULL),
        (SELECT count(*) $expected_q),
        (SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $hook),
        (SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $hook AND status IN ('PENDING','RETRYING'))")
    IFS='|' read -r unpublished evs deliveries open <<< "$state"
    [ "$unpublished" = 0 ] && [ "$evs" -ge "$EVENTS" ] && [ "$deliveries" = "$evs" ] && [ "$open" = 0 ] && break
    if [ $((SECONDS - started)) -gt "$WAIT_MAX" ]; then
      echo "gave up waiting after $WAIT_MAX s: $state (unpublished|events|deliveries|open)"; break
    fi
    sleep 0.5
  done
  sleep 1  # answers in flight reach the log
  sql "SELECT 'lead:' || element_id || ' ' || published_seq $expected_q" > "$OUT/$name.expected"

  if ! python3 bench/webhook_receiver.py check --log "$LOG" --expected "$OUT/$name.expected" \
    --load "$OUT/$name.load" ${back:+--back "$back"} | tee "$OUT/$name.figures"; then FAILED=1; fi
  [ "$(sql "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $hook AND status <> 'SUCCEEDED'")" = 0 ] || FAILED=1
  echo "deliveries by status: $(sql "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n
      FROM webhook_deliveries WHERE webhook_id = $hook GROUP BY 1 ORDER BY 1) s")"
  echo "attempts: $(sql "SELECT 'sum=' || sum(attempts) || ' max=' || max(attempts) || ' deliveries_with_retries='
      || count(*) FILTER (WHERE attempts > 1) || ' by_attempts=' || (SELECT string_agg(a || ':' || n, ',')
      FROM (SELECT attempts a, count(*) n FROM webhook_deliveries WHERE webhook_id = $hook GROUP BY 1 ORDER BY 1) x)
      FROM webhook_deliveries WHERE webhook_id = $hook")"
  echo "delivery duration (ms, last attempt): $(sql "SELECT 'p50=' || percentile_disc(0.5) WITHIN GROUP (ORDER BY last_duration_ms)
      || ' p99=' || percentile_disc(0.99) WITHIN GROUP (ORDER BY last_duration_ms) FROM webhook_deliveries WHERE webhook_id = $hook")"
  # Where the time goes, by the server's clock: event written -> relayed (published_seq) ->
  # delivery row written by the fan-out -> recorded as delivered (after its batch's answers).
  echo "stages p50/p99 (ms): $(sql "WITH x AS (SELECT extract(epoch FROM e.published_at - e.created_at) * 1000 a,
        extract(epoch FROM d.created_at - e.published_at) * 1000 b, extract(epoch FROM d.delivered_at - d.created_at) * 1000 c
      FROM webhook_deliveries d JOIN events e ON e.published_seq = d.event_seq WHERE d.webhook_id = $hook)
    SELECT string_agg(k || '=' || round(p50::numeric) || '/' || round(p99::numeric), ' ' ORDER BY o) FROM (
      SELECT 1 o, 'relay' k, percentile_cont(0.5) WITHIN GROUP (ORDER BY a) p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY a) p99 FROM x
      UNION ALL SELECT 2, 'fanout', percentile_cont(0.5) WITHIN GROUP (ORDER BY b), percentile_cont(0.99) WITHIN GROUP (ORDER BY b) FROM x
      UNION ALL SELECT 3, 'row_to_delivered', percentile_cont(0.5) WITHIN GROUP (ORDER BY c), percentile_cont(0.99) WITHIN GROUP (ORDER BY c) FROM x
      ) s")"
  echo "listen queue overflows on the machine during the run: $(($(listen_overflows) - overflows))"
  kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true
  RPID=''
}

case $SCENARIO in
  steady | outage) scenario "$SCENARIO" ;;
  both) scenario steady; scenario outage ;;
  *) echo "SCENARIO is steady, outage or both"; exit 1 ;;
esac
RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
echo "server peak RSS (MB): $(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')"
echo "server log lines at warn or above during the runs: $(tail -n +$((SERVER_LOG_FROM + 1)) "$SERVER_LOG" | grep -c -E 'WARN|ERROR' || true) ($SERVER_LOG)"
[ "$FAILED" = 0 ] || { echo "CHECKS FAILED"; exit 1; }
