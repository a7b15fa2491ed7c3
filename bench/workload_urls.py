"""Draws the realistic workload's search URLs from the loaded data (Python 3 standard library only).

    python3 bench/workload_urls.py --psql "psql -h DIR -U postgres -d DB" --base http://127.0.0.1:PORT \
        --out DIR [--count 20000] [--seed 1] [--deep-urls 2000]

Reads from the database (with psql, listed sites only): how many sites offer each modality, the
5-digit ZIP codes (of sites with coordinates) and states with their site counts, and site names.
Every draw is weighted by sites: a modality among the common ones (offered by at least 10% of
sites) by how many offer it, a ZIP code or a state by how many sites are there, a name by how many
sites have it (numbers left out). Filters: 0 to 3 (as likely each) of payment=free,
insurance_required=false, accepts=independent, verifier_on_site=true,
hipaa_training=provided_by_site, housing=true, schedule=evening or weekend. Radii: 10 to 200 miles,
log-uniform (as many within 10-45 as within 45-200). Text: one or two words (4 letters or more) of
a drawn name, lower case, one of them with one typo (a letter dropped or two neighbours swapped,
never the first letter). Writes into DIR, one URL path per line (`/v1/sites?...`), COUNT per class:

  radius_filters.urls          modality, near=ZIP, radius, 0-3 filters
  state_filters.urls           modality, state, 0-3 filters
  text.urls                    q, half of them with a state
  state_filters_facets.urls    state_filters.urls, each with facets=modality,site_type,payment
  radius_filters_facets.urls   radius_filters.urls, each with the same facets
  deep_pages.urls              DEEP_URLS cursor URLs: state_filters queries (in order, 200 at a time)
                               each walked 3 to 10 pages deep over HTTP through next_cursor (the
                               server must be running), pages 2 and on kept

and places.json (ZIP codes with state, city and site count, and the modality weights) for the write
stream. Every draw comes from one random.Random(seed): the same data and seed give the same URLs
(the cursors of deep_pages are signed with the installation's key, so they differ per database).
"""

import argparse
import http.client
import json
import random
import shlex
import subprocess
import sys
import threading
import urllib.parse
from bisect import bisect
from itertools import accumulate
from pathlib import Path

FACETS = "modality,site_type,payment"
# The filters a request draws 0 to 3 of (one value each; schedule is evening or weekend).
FILTERS = [
    ("payment", ["free"]),
    ("insurance_required", ["false"]),
    ("accepts", ["independent"]),
    ("verifier_on_site", ["true"]),
    ("hipaa_training", ["provided_by_site"]),
    ("housing", ["true"]),
    ("schedule", ["evening", "weekend"]),
]
# A modality is "common" when at least this share of listed sites offers it.
COMMON_SHARE = 0.10
RADIUS_MIN, RADIUS_MAX = 10, 200


def psql_rows(psql, sql):
    """Rows of a query, as lists of strings."""
    out = subprocess.run(
        shlex.split(psql) + ["-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


class Weighted:
    """Draws items in proportion to their weights."""

    def __init__(self, items, weights):
        if not items:
            raise SystemExit("nothing to draw from: is the database loaded?")
        self.items = list(items)
        self.cumulative = list(accumulate(weights))

    def draw(self, rng):
        return self.items[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


def name_words(name):
    """The words of a name as the server's text search reads them (lower case, apostrophes and dots
    dropped, split at anything else not alphanumeric), without numbers and short words."""
    lowered = "".join(c for c in name.lower() if c not in "'’`.")
    words = []
    for word in "".join(c if c.isalnum() else " " for c in lowered).split():
        if len(word) >= 4 and word.isalpha() and word not in words:
            words.append(word)
    return words


def typo(word, rng):
    """The word with one typo: a letter dropped or two neighbours swapped, never the first letter
    (people rarely get that one wrong)."""
    for _ in range(20):
        i = rng.randrange(1, len(word) - 1) if len(word) > 2 else 1
        if rng.random() < 0.5:
            changed = word[:i] + word[i + 1 :]
        else:
            changed = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if changed != word:
            return changed
    return word[:-1]


def url(params):
    return "/v1/sites?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe=",")


class Draws:
    def __init__(self, psql):
        listed = "status <> 'archived'"
        self.sites = int(psql_rows(psql, f"select count(*) from site where {listed}")[0][0])
        modalities = psql_rows(
            psql,
            f"select m, count(*) from site, unnest(modalities) m where {listed} group by m order by 2 desc, 1",
        )
        common = [(m, int(n)) for m, n in modalities if int(n) >= COMMON_SHARE * self.sites]
        self.modality_counts = [(m, int(n)) for m, n in modalities]
        self.modality = Weighted([m for m, _ in common], [n for _, n in common])
        # Places: ZIP codes of sites with coordinates (so `near` finds them), weighted by sites.
        places = psql_rows(
            psql,
            f"select zip5, state, min(city), count(*) from site where {listed} and latitude is not null"
            " group by zip5, state order by zip5, state",
        )
        self.places = [(z, s, c, int(n)) for z, s, c, n in places]
        self.zip = Weighted([p[0] for p in self.places], [p[3] for p in self.places])
        by_state = {}
        for _, state, _, n in self.places:
            by_state[state] = by_state.get(state, 0) + n
        states = sorted(by_state)
        self.state = Weighted(states, [by_state[s] for s in states])
        # Names without their numbers, weighted by how many sites have them.
        names = psql_rows(
            psql,
            f"select regexp_replace(name, '[0-9]+', ' ', 'g') t, count(*) from site where {listed}"
            " group by t order by t",
        )
        shapes = [(name_words(t), int(n)) for t, n in names]
        shapes = [(w, n) for w, n in shapes if w]
        self.name = Weighted([w for w, _ in shapes], [n for _, n in shapes])
        self.words = sorted({w for words, _ in shapes for w in words})

    def filters(self, rng):
        params = []
        for name, values in rng.sample(FILTERS, rng.randint(0, 3)):
            params.append((name, rng.choice(values)))
        return params

    def radius(self, rng):
        # Log-uniform: as many searches within 10-45 mi as within 45-200 mi.
        return round(RADIUS_MIN * (RADIUS_MAX / RADIUS_MIN) ** rng.random())

    def radius_filters(self, rng):
        params = [("modality", self.modality.draw(rng)), ("near", self.zip.draw(rng))]
        params.append(("radius", f"{self.radius(rng)}mi"))
        return params + self.filters(rng)

    def state_filters(self, rng):
        params = [("modality", self.modality.draw(rng)), ("state", self.state.draw(rng))]
        return params + self.filters(rng)

    def text(self, rng):
        words = self.name.draw(rng)
        chosen = rng.sample(range(len(words)), min(len(words), rng.choice([1, 2])))
        chosen = [words[i] for i in sorted(chosen)]
        # One typo, in a word long enough to survive it (5 letters or more when there is one).
        long_enough = [i for i, w in enumerate(chosen) if len(w) >= 5] or list(range(len(chosen)))
        i = rng.choice(long_enough)
        chosen[i] = typo(chosen[i], rng)
        params = [("q", " ".join(chosen))]
        if rng.random() < 0.5:
            params.append(("state", self.state.draw(rng)))
        return params


def follow(base, walks, out, lock):
    """Follows each (index, path, depth) walk's next_cursor; records the cursor URLs of pages 2.."""
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    while True:
        with lock:
            if not walks:
                break
            index, path, depth = walks.pop()
        found = []
        for _ in range(depth - 1):
            conn.request("GET", found[-1] if found else path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"{response.status} for {found[-1] if found else path}: {body[:300]!r}")
            cursor = json.loads(body)["next_cursor"]
            if not cursor:
                break
            found.append(path + "&cursor=" + urllib.parse.quote(cursor, safe=""))
        with lock:
            out[index] = found
    conn.close()


def deep_pages(base, state_urls, rng, target, threads=4):
    """Walks state+filter searches 3 to 10 pages deep until `target` cursor URLs are found."""
    urls = []
    batch, size = 0, 200
    while len(urls) < target and batch * size < len(state_urls):
        walks = [(i, state_urls[batch * size + i], rng.randint(3, 10)) for i in range(min(size, len(state_urls) - batch * size))]
        found = {}
        lock = threading.Lock()
        pending = list(reversed(walks))
        workers = [threading.Thread(target=follow, args=(base, pending, found, lock)) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if len(found) != len(walks):
            raise SystemExit("a walk failed (see above)")
        for i in range(len(walks)):
            urls.extend(found[i])
        batch += 1
    if not urls:
        raise SystemExit("no state+filter search has a second page: too few sites for deep pages")
    return urls[:target]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--psql", required=True, help="psql command line naming the database")
    parser.add_argument("--base", required=True, help="the server, http://127.0.0.1:PORT")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--count", type=int, default=20000, help="URLs per class")
    parser.add_argument("--deep-urls", type=int, default=2000, help="cursor URLs to collect")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    draws = Draws(args.psql)
    rng = random.Random(args.seed)
    classes = {}
    for name in ("radius_filters", "state_filters", "text"):
        classes[name] = [url(getattr(draws, name)(rng)) for _ in range(args.count)]
    classes["state_filters_facets"] = [u + "&facets=" + FACETS for u in classes["state_filters"]]
    classes["radius_filters_facets"] = [u + "&facets=" + FACETS for u in classes["radius_filters"]]
    classes["deep_pages"] = deep_pages(args.base, classes["state_filters"], rng, args.deep_urls)
    for name, urls in classes.items():
        (args.out / f"{name}.urls").write_text("\n".join(urls) + "\n")
    places = {
        "places": [{"zip": z, "state": s, "city": c, "sites": n} for z, s, c, n in draws.places],
        "modalities": dict(draws.modality_counts),
    }
    (args.out / "places.json").write_text(json.dumps(places))
    summary = {
        "listed_sites": draws.sites,
        "common_modalities": draws.modality.items,
        "zip_codes": len(draws.places),
        "states": len(draws.state.items),
        "name_words": len(draws.words),
        "urls": {name: len(urls) for name, urls in classes.items()},
    }
    (args.out / "draws.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
