#!/usr/bin/env python3
"""An import file of N synthetic sites, for the import benchmark (bench/import.sh):

    python3 bench/import_file.py 100000 > sites.csv        (or --format ndjson)

Deterministic for a given N. Real ZIP codes with their state and city (reference/zip_codes.csv),
every row with its own valid NPI (so no row is another's duplicate) and external id, site types,
requirements and one to four offers in rough survey proportions, as docs/import.md's columns.
"""
import csv
import json
import random
import sys
from pathlib import Path

MODALITIES = ["ct", "mri", "mammography", "vascular_interventional", "sonography", "bone_densitometry"]
SITE_TYPES = ["hospital"] * 6 + ["imaging_center"] * 3 + ["clinic", "breast_center", "critical_access_hospital"]
WORDS = ["Riverside", "Lakeside", "Hilltop", "Valley", "Summit", "Cedar", "Maple", "Harbor", "Prairie", "Granite",
         "Willow", "Oak", "Pine", "Meadow", "Canyon", "Bay", "Forest", "Spring", "Sunrise", "Northgate"]
KINDS = ["Medical Center", "Imaging Center", "Regional Hospital", "Community Hospital", "Radiology", "Clinic"]
COLUMNS = ["name", "site_type", "street", "city", "state", "postal_code", "phone", "npi", "external_id",
           "payment", "fee_usd", "liability_insurance", "hipaa_training", "housing", "schedule",
           "rotation_weeks_min", "rotation_weeks_max", "offers"]


def npi(seed: int) -> str:
    payload = f"{seed % 1_000_000_000:09d}"
    digits = [int(c) for c in "80840" + payload]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return payload + str((10 - total % 10) % 10)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ndjson = "--format" in sys.argv and sys.argv[sys.argv.index("--format") + 1] == "ndjson"
    count = int(args[0]) if args else 100_000
    zips = []
    with open(Path(__file__).resolve().parent.parent / "reference" / "zip_codes.csv") as f:
        for row in csv.DictReader(f):
            if row["state"] and row["city"] and int(row["population"] or 0) > 0:
                zips.append((row["zip"], row["state"], row["city"]))
    rng = random.Random(count)
    out = csv.writer(sys.stdout, lineterminator="\n")
    if not ndjson:
        out.writerow(COLUMNS)
    for i in range(count):
        zip5, state, city = zips[rng.randrange(len(zips))]
        payment = rng.choices(["free", "fee", "unknown"], [6, 2, 2])[0]
        offers = {}
        for modality in rng.sample(MODALITIES, rng.randint(1, 4)):
            offers[modality] = {"accepting": rng.random() < 0.8, "verifier_on_site": rng.random() < 0.7,
                                "accepts": rng.sample(["independent", "program_students", "employees"], rng.randint(1, 2))}
        weeks = rng.randint(2, 8)
        site = {
            "name": f"{rng.choice(WORDS)} {rng.choice(KINDS)} {i}",
            "site_type": rng.choice(SITE_TYPES),
            "street": f"{rng.randint(1, 9999)} Main St",
            "city": city,
            "state": state,
            "postal_code": zip5,
            "phone": f"(614) 555-{i % 10000:04d}",
            "npi": npi(i + 1),
            "external_id": f"X-{i + 1}",
            "payment": payment,
            "fee_usd": rng.choice([100, 250, 500]) if payment == "fee" else None,
            "liability_insurance": rng.choice(["required", "not_required"]),
            "hipaa_training": rng.choice(["provided_by_site", "bring_own_certificate", "either"]),
            "housing": rng.choice(["none", "free", "paid", "help_finding"]),
            "schedule": rng.sample(["weekday", "evening", "weekend"], rng.randint(1, 2)),
            "rotation_weeks_min": weeks,
            "rotation_weeks_max": weeks + rng.randint(0, 8),
            "offers": offers,
        }
        if ndjson:
            print(json.dumps({k: v for k, v in site.items() if v is not None}))
        else:
            cells = []
            for column in COLUMNS:
                value = site[column]
                if value is None:
                    cells.append("")
                elif column == "schedule":
                    cells.append("|".join(value))
                elif column == "offers":
                    cells.append(json.dumps(value))
                else:
                    cells.append(str(value))
            out.writerow(cells)


if __name__ == "__main__":
    main()
