#!/usr/bin/env python3
"""Webhook receiver and checker for bench/webhooks.sh (Python 3.11, standard library only).

  webhook_receiver.py serve --port P --secret whsec_... --log FILE
      Answers 200 to every POST and appends one tab-separated line per request to FILE
      (flushed before the answer, so a receiver killed mid-request may log a message that
      Kontor then sends again, never the other way round):
          receipt time (time.time())  webhook-id  data.id  data.eventId  body timestamp  signature ok (1/0)
      The signature is checked with HMAC-SHA256 written here from the Standard Webhooks
      specification, not with Kontor's code.

  webhook_receiver.py check --log FILE --expected FILE [--load FILE] [--back T]
      Reads the log and the expected event ids (one a line: "<element id> <event id>") and
      prints the figures and the checks as `key=value` lines.

  webhook_receiver.py selftest
      Checks the signature code against the example of the specification.
"""

import argparse
import base64
import hashlib
import hmac
import json
import math
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def verify(secret: str, msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
    expected = sign(secret, msg_id, timestamp, body).encode()
    # Space-separated `v1,<sig>` entries (several while a secret is being rotated).
    return any(hmac.compare_digest(expected, s.encode()) for s in header.split() if s.startswith("v1,"))


def serve(args):
    lock = threading.Lock()
    log = open(args.log, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            received = time.time()
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            msg_id = self.headers.get("webhook-id", "")
            ok = verify(args.secret, msg_id, self.headers.get("webhook-timestamp", ""), body,
                        self.headers.get("webhook-signature", ""))
            try:
                doc = json.loads(body)
                data = doc.get("data") or {}
                fields = [str(data.get("id", "")), str(data.get("eventId", "")), str(doc.get("timestamp", ""))]
            except ValueError:
                fields = ["", "", ""]
            line = "\t".join([f"{received:.6f}", msg_id, *fields, "1" if ok else "0"]) + "\n"
            with lock:
                log.write(line)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    class Server(ThreadingHTTPServer):
        # socketserver listens with a backlog of 5: a batch of new connections (64 at once
        # after a restart) overflows it, and the dropped handshakes come back after TCP's
        # retransmission timeouts (0.2, 0.4, 0.8 … s). Real receivers listen with hundreds.
        request_queue_size = 1024

    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


def pct(values, p):
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def check(args):
    expected = {}  # event id -> element id
    for line in open(args.expected):
        if line.strip():
            element, event = line.split()
            expected[int(event)] = element
    rows = []
    for line in open(args.log):
        f = line.rstrip("\n").split("\t")
        if len(f) != 6:
            continue
        recv, msg_id, element, event, stamp, ok = f
        rows.append((float(recv), msg_id, element, int(event) if event.isdigit() else -1, stamp, ok == "1"))
    rows.sort(key=lambda r: r[0])  # the log is appended in receipt order already, near enough
    out = {}
    out["requests"] = len(rows)
    out["bad_signatures"] = sum(1 for r in rows if not r[5])
    got = {r[3] for r in rows}
    out["expected_events"] = len(expected)
    out["distinct_events_received"] = len(got & expected.keys())
    out["lost_events"] = len(expected.keys() - got)
    out["unexpected_events"] = len(got - expected.keys())
    out["distinct_webhook_ids"] = len({r[1] for r in rows})
    out["repeated_requests"] = len(rows) - len({(r[1], r[3]) for r in rows})
    # A webhook-id names one event: the same id with two event ids would be a bug.
    by_id = {}
    for r in rows:
        by_id.setdefault(r[1], set()).add(r[3])
    out["webhook_ids_with_several_events"] = sum(1 for v in by_id.values() if len(v) > 1)
    wrong_element = sum(1 for r in rows if r[3] in expected and expected[r[3]] != r[2])
    out["events_with_wrong_element"] = wrong_element
    # Order per element: each element's event ids arrive increasing; the same id again is a
    # retry (allowed), an older one after a newer one is a violation.
    last = {}
    violations = 0
    for r in rows:
        prev = last.get(r[2])
        if prev is not None and r[3] < prev:
            violations += 1
        else:
            last[r[2]] = r[3]
    out["order_violations"] = violations
    out["elements"] = len(last)
    # First receipt of each event: latency from the event's timestamp, throughput.
    first = {}
    for r in rows:
        if r[3] not in first:
            first[r[3]] = r
    lat_of = {e: (r[0] - datetime.fromisoformat(r[4].replace("Z", "+00:00")).timestamp()) * 1000
              for e, r in first.items()}
    lat = list(lat_of.values())
    if rows:
        t0, t1 = rows[0][0], rows[-1][0]
        out["first_receipt"] = f"{t0:.3f}"
        out["last_receipt"] = f"{t1:.3f}"
        out["receipt_span_s"] = f"{t1 - t0:.2f}"
        out["events_per_s_receipts"] = f"{len(first) / (t1 - t0):.0f}" if t1 > t0 else "nan"
        out["latency_p50_ms"] = f"{pct(lat, 50):.1f}"
        out["latency_p90_ms"] = f"{pct(lat, 90):.1f}"
        out["latency_p99_ms"] = f"{pct(lat, 99):.1f}"
        out["latency_max_ms"] = f"{max(lat):.1f}"
        # An element's first event against the ones queued behind it (delivered one at a time).
        heads = {}
        for e in sorted(first):
            heads.setdefault(first[e][2], e)
        head_set = set(heads.values())
        for label, group in (("first_of_element", [e for e in first if e in head_set]),
                             ("later_of_element", [e for e in first if e not in head_set])):
            g = [lat_of[e] for e in group]
            if g:
                out[f"latency_{label}_p50_ms"] = f"{pct(g, 50):.1f}"
                out[f"latency_{label}_p99_ms"] = f"{pct(g, 99):.1f}"
        if args.load:
            load = dict(l.split("=", 1) for l in open(args.load).read().split())
            start, end = float(load["start"]), float(load["end"])
            out["load_s"] = f"{end - start:.2f}"
            out["mutations_per_s"] = f"{int(load['mutations']) / (end - start):.0f}"
            out["first_mutation_to_last_receipt_s"] = f"{t1 - start:.2f}"
            out["events_per_s_end_to_end"] = f"{len(first) / (t1 - start):.0f}"
            out["last_receipt_after_load_end_s"] = f"{t1 - end:.2f}"
        if args.back:
            back = float(args.back)
            out["last_receipt_after_receiver_back_s"] = f"{t1 - back:.2f}"
            after = [r for r in rows if r[0] >= back]
            out["requests_after_receiver_back"] = len(after)
            if after:
                out["first_receipt_after_receiver_back_s"] = f"{after[0][0] - back:.2f}"
                span = after[-1][0] - after[0][0]
                if span > 0:
                    out["backlog_drain_requests_per_s"] = f"{len(after) / span:.0f}"
    for k, v in out.items():
        print(f"{k}={v}")
    ok = (out["lost_events"] == 0 and out["bad_signatures"] == 0 and out["order_violations"] == 0
          and out["unexpected_events"] == 0 and out["webhook_ids_with_several_events"] == 0
          and wrong_element == 0 and out["distinct_webhook_ids"] == out["distinct_events_received"])
    print(f"checks={'PASSED' if ok else 'FAILED'}")
    return 0 if ok else 1


def selftest(_args):
    # The example of the Standard Webhooks specification.
    got = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
               b'{"test": 2432232314}')
    want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert got == want, (got, want)
    assert verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                  b'{"test": 2432232314}', "v1,bm90IGl0 " + want)
    print("signature self-test passed")
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--secret", required=True)
    s.add_argument("--log", required=True)
    c = sub.add_parser("check")
    c.add_argument("--log", required=True)
    c.add_argument("--expected", required=True)
    c.add_argument("--load")
    c.add_argument("--back")
    sub.add_parser("selftest")
    args = p.parse_args()
    return {"serve": serve, "check": check, "selftest": selftest}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
