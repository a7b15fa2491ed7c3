#!/usr/bin/env python3
"""Writes experience reports through the API at a steady rate and reports their latencies.

    python3 bench/report_writer.py --base URL --tokens FILE --sites FILE [--rate 20] [--seconds 20]
                                   [--warmup 2] [--json OUT] [--seed 1]

Each write is a POST /v1/sites/{site_id}/reports by one of the members whose session tokens are in
FILE (one per line), for a CT rotation at one of the sites in --sites (ids of sites offering CT,
one per line) in a random year: the same member, site and year twice is a 409, counted apart.
One connection (keep-alive), requests paced to --rate per second. The first --warmup seconds are
written the same way but not counted: each of the server's pooled connections prepares a statement
the first time it runs it, which is not what a running service's writes cost. Prints and writes
(--json) the count, p50, p99 and max latency in milliseconds, the 409s and the failures (anything
else).
"""

import argparse
import http.client
import json
import random
import sys
import time
import urllib.parse


def percentile(values, share):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--sites", required=True)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--json")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    tokens = [line.strip() for line in open(args.tokens) if line.strip()]
    sites = [line.strip() for line in open(args.sites) if line.strip()]
    rng = random.Random(args.seed)
    url = urllib.parse.urlparse(args.base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    latencies, conflicts, failures = [], 0, []
    routes = ["employer", "educational_program", "non_employer_provider", "other"]
    sources = ["employer", "clinical_facility", "educational_program", "online", "unspecified"]
    started = time.monotonic()
    next_at = started
    counting = args.warmup <= 0
    measured_from = started
    while time.monotonic() - started < args.warmup + args.seconds:
        if not counting and time.monotonic() - started >= args.warmup:
            counting = True
            latencies, conflicts, failures = [], 0, []
            measured_from = time.monotonic()
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += 1.0 / args.rate
        paid = rng.random() < 0.15
        body = {
            "modality": "ct",
            "year": rng.randint(1970, 2025),
            "route": [rng.choice(routes)],
            "paid": paid,
            "hipaa_source": rng.choice(sources),
            "insurance_needed": rng.random() < 0.2,
            "accepted_independent": rng.random() < 0.3,
            "would_recommend": rng.random() < 0.8,
        }
        if paid:
            body["paid_usd"] = rng.randint(50, 2000)
        headers = {
            "Authorization": "Bearer " + rng.choice(tokens),
            "Content-Type": "application/json",
        }
        path = "/v1/sites/%s/reports" % rng.choice(sites)
        sent = time.monotonic()
        try:
            connection.request("POST", path, json.dumps(body), headers)
            response = connection.getresponse()
            text = response.read()
        except (OSError, http.client.HTTPException) as error:
            failures.append(str(error))
            connection.close()
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
            continue
        elapsed = (time.monotonic() - sent) * 1000.0
        if response.status == 201:
            latencies.append(elapsed)
        elif response.status == 409:
            conflicts += 1
        else:
            failures.append("%d %s" % (response.status, text[:200]))
    summary = {
        "count": len(latencies),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies) if latencies else None,
        "refused_409": conflicts,
        "failures": len(failures),
        "failure_samples": failures[:5],
        "writes_per_second": len(latencies) / max(time.monotonic() - measured_from, 1e-9),
    }
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out)
    print(json.dumps(summary))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
