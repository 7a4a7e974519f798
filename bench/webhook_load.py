#!/usr/bin/env python3
"""Load for bench/webhooks.sh (Python 3.11, standard library only): LEADS leads, each created
and then updated UPDATES times back to back (so an element's events are close together and
its deliveries queue behind each other), by THREADS threads with one keep-alive connection
each. RATE (mutations/s, 0 = as fast as the server takes them) paces the whole run.

  webhook_load.py --url http://127.0.0.1:18181/graphql --token kontor_... \
      --leads 2000 --updates 4 --threads 8 --out /tmp/load.txt --ids /tmp/lead_ids.txt

Writes `start=… end=… mutations=… errors=…` (time.time()) to --out and the leads' ids, one a
line, to --ids. Exits 1 if any mutation failed.
"""

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse

CREATE = "mutation($i: LeadInput!) { createLead(input: $i) { id } }"
UPDATE = "mutation($id: ID!, $i: LeadInput!) { updateLead(id: $id, input: $i) { id } }"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--leads", type=int, default=2000)
    p.add_argument("--updates", type=int, default=4)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--tag", default=str(int(time.time())))
    p.add_argument("--out", required=True)
    p.add_argument("--ids", required=True)
    a = p.parse_args()
    url = urllib.parse.urlsplit(a.url)

    lock = threading.Lock()
    state = {"next": 0, "sent": 0, "errors": 0, "first_error": None}
    ids = []
    start = time.time()

    def pace():
        if a.rate <= 0:
            return
        with lock:
            k = state["sent"]
            state["sent"] += 1
        delay = start + k / a.rate - time.time()
        if delay > 0:
            time.sleep(delay)

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {a.token}"}

        def call(query, variables):
            pace()
            body = json.dumps({"query": query, "variables": variables})
            for attempt in range(3):
                try:
                    conn.request("POST", url.path, body, headers)
                    r = conn.getresponse()
                    doc = json.loads(r.read())
                    break
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    if attempt == 2:
                        raise
            if r.status != 200 or doc.get("errors"):
                raise RuntimeError(f"HTTP {r.status}: {json.dumps(doc)[:300]}")
            return doc["data"]

        while True:
            with lock:
                n = state["next"]
                if n >= a.leads:
                    return
                state["next"] += 1
            try:
                title = f"Webhook bench {a.tag} #{n}"
                lead = call(CREATE, {"i": {"title": title, "firstName": "Bench", "lastName": f"N{n}"}})["createLead"]["id"]
                with lock:
                    ids.append(lead)
                for u in range(1, a.updates + 1):
                    call(UPDATE, {"id": lead, "i": {"title": f"{title} v{u}", "comments": f"update {u}"}})
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    state["errors"] += 1
                    state["first_error"] = state["first_error"] or str(e)

    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end = time.time()
    with open(a.ids, "w") as f:
        f.write("".join(f"{i}\n" for i in ids))
    with open(a.out, "w") as f:
        f.write(f"start={start:.6f} end={end:.6f} mutations={len(ids) * (1 + a.updates)} errors={state['errors']}\n")
    if state["errors"]:
        print(f"{state['errors']} leads failed; first: {state['first_error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
