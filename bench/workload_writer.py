"""The realistic workload's write stream (Python 3 standard library only).

    python3 bench/workload_writer.py --base http://127.0.0.1:PORT --key csk_... --places places.json \
        --tag N [--rate 10] [--connections 8] [--seed 1] [--json OUT.json]

Writes through the API at RATE writes per second, authenticated with the API key, until SIGTERM
or SIGINT; then prints per write kind the count, the statuses, p50 and p99 latency and the
failures, and writes the same as JSON to OUT.json. Open loop: write i is due at i/RATE seconds
whatever the server's pace, and goes to the first free of CONNECTIONS keep-alive HTTP/1.1
connections (one worker thread each); a write's latency runs from the moment it was due to the end
of its response, so time spent waiting for a free connection counts (the service time alone is
printed beside it). Writes still waiting when the stream is stopped are sent before it exits.

The mix, drawn in order from random.Random(seed, tag):
  create   (50%)  POST /v1/sites: a new site in a real ZIP code (drawn from places.json by how many
                  sites it has) with realistic fields and 1-3 offers (modalities drawn by how many
                  sites offer each), and an Idempotency-Key. Names are unique (a number no other
                  site has), so the duplicate guard has no reason to refuse them; a 409 is counted
                  as refused, not as a failure.
  patch    (35%)  GET /v1/sites/{id} of a site this stream created (for its ETag; timed as `get`,
                  not a write), then PATCH it (application/merge-patch+json) with If-Match: 1-3
                  fields (payment, housing, schedule, lead time, an offer's capacity or accepting).
                  The PATCH's latency runs from the GET's answer.
  archive  (15%)  DELETE /v1/sites/{id} of a site this stream created, with If-Match.
A patch or an archive finding none of the stream's sites free (none created yet, or all being
changed) is a create instead. The draws are the same in every run; which of its sites a patch or
an archive gets depends on which creates have finished by then.

Failures: any status other than the expected one (201 for a create, 200 otherwise; 409 for a
create is "refused"), timeouts (--timeout seconds) and broken connections (reopened).
"""

import argparse
import http.client
import json
import math
import random
import queue
import signal
import socket
import sys
import threading
import time
import urllib.parse
from bisect import bisect
from itertools import accumulate

FIRST = ["Riverside", "Lakeview", "Mercy", "Memorial", "Regional", "Community", "Valley", "Summit",
         "Grace", "Providence", "Baptist", "Methodist", "University", "County", "Northside", "Pioneer",
         "Cedar", "Harbor", "Prairie", "Highland", "Trinity", "Bayview", "Unity", "Sacred Heart"]
SECOND = ["Medical Center", "Health", "Imaging", "Radiology", "Diagnostics", "Hospital", "Clinic"]
STREETS = ["Main", "Oak", "Maple", "Park", "Washington", "Lake", "Hill", "Church", "Elm", "Pine", "Broad"]
SUFFIXES = ["St", "Ave", "Blvd", "Rd", "Dr", "Way"]
SITE_TYPES = [("hospital", 60), ("critical_access_hospital", 9), ("imaging_center", 13),
              ("breast_center", 4), ("clinic", 9), ("mobile_imaging", 2), ("other", 3)]
PAYMENTS = [("free", 5), ("fee", 2), ("program_tuition", 1), ("unknown", 2)]
HIPAA = ["provided_by_site", "bring_own_certificate", "either", "provided_by_site"]
HOUSING = ["none", "none", "none", "free", "paid", "help_finding"]
SCHEDULES = [["weekday"], ["weekday", "evening"], ["weekday", "weekend"], ["evening", "weekend"], ["weekday"]]
ACCEPTS = [["program_students"], ["program_students", "independent"], ["independent"],
           ["employees", "program_students"]]
KINDS = [("create", 50), ("patch", 35), ("archive", 15)]
WRITES = ("create", "patch", "archive")


class Weighted:
    def __init__(self, pairs):
        self.items = [item for item, _ in pairs]
        self.cumulative = list(accumulate(weight for _, weight in pairs))

    def draw(self, rng):
        return self.items[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


def percentile(values, p):
    """Nearest-rank percentile, or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Client:
    """One keep-alive connection, opened again after an error."""

    def __init__(self, base, key, timeout):
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port, self.timeout = parsed.hostname, parsed.port, timeout
        self.auth = f"Bearer {key}"
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """(status or an error name, headers, body bytes, seconds)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        all_headers = {"Authorization": self.auth, "Accept": "application/json"}
        all_headers.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=all_headers)
            response = self.conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, response, payload, elapsed
        except (socket.timeout, TimeoutError):
            self.close()
            return "timeout", None, b"", time.perf_counter() - started
        except (OSError, http.client.HTTPException) as error:
            self.close()
            return type(error).__name__, None, b"", time.perf_counter() - started

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Stream:
    """Draws the writes (in order, from one seeded generator) and runs them on worker threads."""

    def __init__(self, args):
        self.rng = random.Random(args.seed * 7919 + args.tag)
        self.args = args
        data = json.load(open(args.places))
        self.places = Weighted([((p["zip"], p["state"], p["city"]), p["sites"]) for p in data["places"]])
        self.modalities = Weighted(list(data["modalities"].items()))
        self.site_types = Weighted(SITE_TYPES)
        self.payments = Weighted(PAYMENTS)
        self.kinds = Weighted(KINDS)
        # Unique names: numbers past any the generator gives (it numbers sites 0..size-1).
        self.next_number = 100_000_000 + args.tag * 1_000_000
        self.tag = args.tag
        # Sites this stream created, not archived, and not being changed right now, in creation
        # order, with their ETag and modalities.
        self.lock = threading.Lock()
        self.available = []
        self.records = []  # (kind, status, latency ms, ok, wait ms, service ms)
        self.complaints = 0

    def record(self, kind, status, seconds, ok, delay):
        """A request's outcome; its latency counts its wait for a free connection (`delay`, from
        the time it was due), so a slow server cannot hide behind a backed-up queue."""
        with self.lock:
            self.records.append((kind, status, (delay + seconds) * 1000, ok, delay * 1000, seconds * 1000))

    def new_site(self):
        rng = self.rng
        zip5, state, city = self.places.draw(rng)
        self.next_number += 1
        site = {
            "name": f"{rng.choice(FIRST)} {rng.choice(SECOND)} {self.next_number}",
            "site_type": self.site_types.draw(rng),
            "street": f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}",
            "city": city,
            "state": state,
            "postal_code": zip5,
            "phone": f"({rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}) 555-{rng.randint(0, 9999):04d}",
            "payment": self.payments.draw(rng),
            "hipaa_training": rng.choice(HIPAA),
            "liability_insurance": "not_required" if rng.random() < 0.786 else "required",
            "housing": rng.choice(HOUSING),
            "schedule": rng.choice(SCHEDULES),
            "background_check": rng.random() < 0.9,
            "drug_screen": rng.random() < 0.6,
            "immunizations": rng.sample(["tb", "mmr", "tdap", "varicella", "hep_b", "influenza"], rng.randint(0, 4)),
            "lead_time_days": rng.choice([14, 30, 30, 60, 90]),
        }
        if site["payment"] == "fee":
            site["fee_usd"] = rng.randrange(50, 2000, 50)
        if rng.random() < 0.5:
            low = rng.randint(2, 8)
            site["rotation_weeks_min"], site["rotation_weeks_max"] = low, low + rng.randint(0, 8)
        offers, wanted = {}, rng.randint(1, 3)
        while len(offers) < wanted:
            modality = self.modalities.draw(rng)
            offers[modality] = {
                "accepting": rng.random() < 0.8,
                "capacity": rng.randint(1, 4),
                "verifier_on_site": rng.random() < 0.75,
                "accepts": rng.choice(ACCEPTS),
            }
        site["offers"] = offers
        key = f"workload-{self.tag}-{self.next_number}-{rng.getrandbits(64):016x}"
        return site, key

    def new_patch(self):
        """A patch, with a fraction that picks which of the site's offers it changes."""
        rng = self.rng
        patch, offer_fields = {}, {}
        for field in rng.sample(["payment", "housing", "schedule", "lead_time_days", "capacity", "accepting"],
                                rng.randint(1, 3)):
            if field == "payment":
                payment = self.payments.draw(rng)
                patch["payment"] = payment
                patch["fee_usd"] = rng.randrange(50, 2000, 50) if payment == "fee" else None
            elif field == "housing":
                patch["housing"] = rng.choice(HOUSING)
            elif field == "schedule":
                patch["schedule"] = rng.choice(SCHEDULES)
            elif field == "lead_time_days":
                patch["lead_time_days"] = rng.choice([7, 14, 30, 45, 60, 90])
            else:
                offer_fields[field] = rng.randint(0, 6) if field == "capacity" else rng.random() < 0.7
        return patch, offer_fields, rng.random()

    def draw(self):
        """The next write: its kind and everything it needs, drawn whatever the pool of sites holds
        (a patch or an archive also draws the create it becomes when the stream has no site free),
        so the sequence of draws is the same in every run."""
        kind = self.kinds.draw(self.rng)
        create = self.new_site()
        if kind == "create":
            return kind, create, None
        return kind, create, (self.rng.random(), self.new_patch() if kind == "patch" else None)

    def take(self, position):
        with self.lock:
            if not self.available:
                return None
            return self.available.pop(int(position * len(self.available)))

    def give_back(self, site):
        with self.lock:
            self.available.append(site)

    def run(self, client, write, due):
        kind, (site, key), extra = write
        mine = self.take(extra[0]) if extra else None
        if mine is None:
            kind = "create"
        delay = max(0.0, time.monotonic() - due)
        if kind == "create":
            status, response, body, seconds = client.request("POST", "/v1/sites", site, {"Idempotency-Key": key})
            self.record("create", status, seconds, status in (201, 409), delay)
            if status == 201:
                self.give_back((json.loads(body)["site_id"], response.getheader("ETag"), sorted(site["offers"])))
            elif status != 409:
                self.complain("create", status, body)
            return
        site_id, etag, modalities = mine
        if kind == "archive":
            status, _, body, seconds = client.request("DELETE", f"/v1/sites/{site_id}", None, {"If-Match": etag})
            self.record("archive", status, seconds, status == 200, delay)
            if status != 200:
                self.give_back(mine)
                self.complain("archive", status, body)
            return
        patch, offer_fields, which = extra[1]
        status, response, body, seconds = client.request("GET", f"/v1/sites/{site_id}")
        self.record("get", status, seconds, status == 200, delay)
        delay = 0.0  # the PATCH's own latency: from the GET's answer
        if status != 200:
            self.give_back(mine)
            return self.complain("get", status, body)
        etag = response.getheader("ETag")
        patch = dict(patch)
        if offer_fields:
            patch["offers"] = {modalities[int(which * len(modalities))]: offer_fields}
        status, response, body, seconds = client.request(
            "PATCH", f"/v1/sites/{site_id}", patch, {"If-Match": etag, "Content-Type": "application/merge-patch+json"}
        )
        self.record("patch", status, seconds, status == 200, delay)
        if status == 200:
            etag = response.getheader("ETag")
        else:
            self.complain("patch", status, body)
        self.give_back((site_id, etag, modalities))

    def complain(self, kind, status, body):
        with self.lock:
            self.complaints += 1
            if self.complaints > 5:
                return
        print(f"{kind} failed: {status} {body[:300]!r}", file=sys.stderr, flush=True)

    def summary(self, elapsed):
        kinds = {}
        for kind in ("create", "patch", "archive", "get", "writes"):
            rows = [r for r in self.records if (r[0] in WRITES if kind == "writes" else r[0] == kind)]
            statuses = {}
            for r in rows:
                statuses[str(r[1])] = statuses.get(str(r[1]), 0) + 1
            kinds[kind] = {
                "count": len(rows),
                "statuses": statuses,
                "p50_ms": percentile([r[2] for r in rows], 50),
                "p99_ms": percentile([r[2] for r in rows], 99),
                "service_p50_ms": percentile([r[5] for r in rows], 50),
                "service_p99_ms": percentile([r[5] for r in rows], 99),
                "failures": sum(1 for r in rows if not r[3]),
                "refused_409": sum(1 for r in rows if r[0] == "create" and r[1] == 409),
            }
        delays = [r[4] for r in self.records if r[0] in WRITES]
        return {
            "seconds": elapsed,
            "writes_per_second": kinds["writes"]["count"] / elapsed if elapsed else 0,
            "start_delay_p99_ms": percentile(delays, 99),
            "start_delay_max_ms": max(delays) if delays else None,
            "kinds": kinds,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True)
    parser.add_argument("--key", required=True, help="API key (or session token) of an administrator")
    parser.add_argument("--places", required=True)
    parser.add_argument("--tag", type=int, required=True, help="this stream's number: keeps names unique")
    parser.add_argument("--rate", type=float, default=10.0, help="writes per second")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (one per worker)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a write is a timeout")
    parser.add_argument("--json", help="where to write the summary as JSON")
    args = parser.parse_args()

    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    stream = Stream(args)
    writes = queue.Queue()

    def worker():
        client = Client(args.base, args.key, args.timeout)
        while (item := writes.get()) is not None:
            stream.run(client, *item)
        client.close()

    workers = [threading.Thread(target=worker) for _ in range(args.connections)]
    for w in workers:
        w.start()
    started = time.monotonic()
    i = 0
    while not stopping:
        due = started + i / args.rate
        write = stream.draw()
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
            if stopping:
                break
        writes.put((write, due))
        i += 1
    for _ in workers:
        writes.put(None)
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started

    summary = stream.summary(elapsed)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)

    def ms(value):
        return "n/a" if value is None else f"{value:.1f}"

    print(
        f"writes {summary['kinds']['writes']['count']} in {elapsed:.1f} s ({summary['writes_per_second']:.1f}/s);"
        f" start delay p99 {ms(summary['start_delay_p99_ms'])} ms, max {ms(summary['start_delay_max_ms'])} ms"
    )
    for kind, k in summary["kinds"].items():
        print(
            f"{kind:8} count={k['count']} p50_ms={ms(k['p50_ms'])} p99_ms={ms(k['p99_ms'])} "
            f"(service alone {ms(k['service_p50_ms'])} / {ms(k['service_p99_ms'])}) "
            f"failures={k['failures']} refused_409={k['refused_409']} statuses={k['statuses']}"
        )


if __name__ == "__main__":
    main()
